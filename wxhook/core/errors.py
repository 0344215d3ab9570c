"""The one exception tree of wxhook; protocol errors carry the HTTP status they imply."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """The return codes of WeChat's official WXBizMsgCrypt samples, -40001 to -40011."""

    VALIDATE_SIGNATURE = -40001
    PARSE_XML = -40002
    COMPUTE_SIGNATURE = -40003
    ILLEGAL_AES_KEY = -40004
    VALIDATE_APPID = -40005
    ENCRYPT_AES = -40006
    DECRYPT_AES = -40007
    ILLEGAL_BUFFER = -40008
    ENCODE_BASE64 = -40009
    DECODE_BASE64 = -40010
    GEN_RETURN_XML = -40011


class WxhookError(Exception):
    """Root of every error wxhook raises on purpose."""


class ProtocolError(WxhookError):
    """A request that breaks the protocol; `status` is the HTTP status to answer with."""

    status: int = 400

    def __init__(self, message: str, *, hint: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class SignatureError(ProtocolError):
    """`signature` or `msg_signature` does not match: the request is not from WeChat."""

    status = 403
    code = ErrorCode.VALIDATE_SIGNATURE


class ReplayError(SignatureError):
    """A plain-mode signed URL seen before with another body, refused (refuse_url_reuse)."""

    def __init__(self) -> None:
        super().__init__(
            "signed URL replayed with another body",
            hint="a captured request, or a genuine push that drew the same timestamp and nonce "
            "(security.refuse_url_reuse)",
        )


class EncryptionRequired(SignatureError):
    """A plaintext POST to an account that takes only encrypted ones (safe, require_encryption)."""


class WrongAddressee(SignatureError):
    """The push names another account than the envelope or the configured original_id."""


class CryptoError(ProtocolError):
    """Safe-mode decryption or encryption failed; carries the official -4000x code."""

    def __init__(self, code: ErrorCode, message: str, *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.code = code

    def __str__(self) -> str:
        return f"[{int(self.code)}] {super().__str__()}"


class ParseError(ProtocolError):
    """The XML document is malformed, hostile, or lacks a field every push carries."""


class BodyTooLarge(ParseError):
    """The request body exceeds the configured limit."""

    status = 413


class ReplyError(WxhookError, ValueError):
    """A reply object that WeChat would refuse (for example a news reply with 9 articles)."""


class WeChatAPIError(WxhookError):
    """WeChat refused a call (errcode, errmsg), or it could not be reached (code -2).

    `unknown` is True when the request may have been carried out all the same (a timeout, a
    5xx, an unreadable answer): a message may have reached the user, so it is not resent blindly.
    """

    def __init__(self, code: int, message: str, *, api: str = "", unknown: bool = False) -> None:
        text = f"{code} {message}" + (" (outcome unknown)" if unknown else "")
        super().__init__(f"{api}: {text}" if api else text)
        self.code = code
        self.message = message
        self.api = api
        self.unknown = unknown


class LateRepliesUnavailable(WxhookError):
    """ctx.send() or ctx.typing() on an account without an AppSecret."""
