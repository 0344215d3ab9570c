"""The whole protocol as two calls: bytes in -> typed message, reply -> bytes out. No I/O here."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from .crypto import SafeModeCrypto
from .errors import (
    CryptoError,
    EncryptionRequired,
    ErrorCode,
    ProtocolError,
    SignatureError,
    WrongAddressee,
)
from .events import BaseEvent
from .messages import BaseMessage
from .registry import parse_message
from .replies import Reply, render_reply
from .signature import check_msg_signature, check_signature, compute_signature
from .xmlcodec import MAX_BYTES, XmlDict, cdata, parse_xml

Mode = Literal["plain", "compatible", "safe"]
MODES: tuple[Mode, ...] = ("plain", "compatible", "safe")


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """What the protocol needs to know about one Official Account."""

    token: str
    app_id: str = ""
    mode: Mode = "plain"
    crypto: SafeModeCrypto | None = None
    # Refuse plaintext POSTs (always so in safe mode): plain mode's signature leaves the body bare.
    require_encryption: bool = False
    # The account's original id (gh_...): every push must be addressed to it, when set.
    original_id: str = ""
    # The keys in use before a rotation, still accepted until `previous_until` (epoch seconds).
    previous: AccountKeys | None = None
    previous_until: float = 0.0

    @classmethod
    def create(
        cls,
        *,
        token: str,
        app_id: str = "",
        encoding_aes_key: str = "",
        mode: Mode = "plain",
        require_encryption: bool = False,
        original_id: str = "",
        previous_token: str = "",
        previous_encoding_aes_key: str = "",
        previous_until: float = 0.0,
        random: Callable[[int], bytes] = os.urandom,
    ) -> AccountKeys:
        """Validate the settings (a bad EncodingAESKey raises -40004 here, not at a message)."""
        if mode not in MODES:
            raise ProtocolError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not token:
            raise ProtocolError("the token is empty", hint="copy it from the MP console")
        crypto = None
        if encoding_aes_key:
            crypto = SafeModeCrypto(encoding_aes_key, app_id, random=random)
        elif mode != "plain":
            raise CryptoError(
                ErrorCode.ILLEGAL_AES_KEY,
                f"{mode} mode needs an EncodingAESKey",
                hint="copy it from the MP console, or set mode = plain",
            )
        if crypto is not None and not app_id:
            raise CryptoError(
                ErrorCode.VALIDATE_APPID,
                "an EncodingAESKey needs the account's AppID",
                hint="set app_id; decrypted messages end with it",
            )
        if require_encryption and mode == "plain":
            raise ProtocolError(
                "require_encryption needs compatible or safe mode",
                hint="in plain mode WeChat sends no ciphertext at all",
            )
        previous = None
        if previous_token or previous_encoding_aes_key:
            if previous_until <= 0:
                raise ProtocolError(
                    "previous keys need the time until which they are accepted",
                    hint="set previous_valid_until",
                )
            previous = cls.create(
                token=previous_token or token,
                app_id=app_id,
                encoding_aes_key=previous_encoding_aes_key or encoding_aes_key,
                mode=mode,
                require_encryption=require_encryption,
                original_id=original_id,
                random=random,
            )
        return cls(
            token=token,
            app_id=app_id,
            mode=mode,
            crypto=crypto,
            require_encryption=require_encryption or mode == "safe",
            original_id=original_id,
            previous=previous,
            previous_until=previous_until if previous is not None else 0.0,
        )

    def candidates(self, now: float) -> tuple[AccountKeys, ...]:
        """The keys a request may be signed with at `now`: the current ones first."""
        if self.previous is not None and now < self.previous_until:
            return (self, self.previous)
        return (self,)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A verified, decrypted, parsed push and what its reply must echo."""

    message: BaseMessage
    encrypted: bool
    timestamp: str
    nonce: str
    # The keys that verified the request; the reply is sealed with them.
    keys: AccountKeys | None = None


def _query_param(query: Mapping[str, str], name: str) -> str:
    """A query parameter's value, "" when absent."""
    return query.get(name, "") or ""


def _signed_by(
    keys: AccountKeys, query: Mapping[str, str], now: float | None
) -> tuple[AccountKeys, ...]:
    """The candidate keys whose token signed the query; SignatureError if none did."""
    timestamp, nonce, signature = (
        _query_param(query, "timestamp"),
        _query_param(query, "nonce"),
        _query_param(query, "signature"),
    )
    candidates = keys.candidates(time.time() if now is None else now)
    signed = tuple(k for k in candidates if _signature_ok(k.token, timestamp, nonce, signature))
    if not signed:
        check_signature(keys.token, timestamp, nonce, signature)  # raises with the hint
    return signed


def _signature_ok(token: str, timestamp: str, nonce: str, signature: str) -> bool:
    try:
        check_signature(token, timestamp, nonce, signature)
    except SignatureError:
        return False
    return True


def verify_url(keys: AccountKeys, query: Mapping[str, str], *, now: float | None = None) -> str:
    """GET verification: the echostr to answer verbatim, or SignatureError."""
    _signed_by(keys, query, now)
    return _query_param(query, "echostr")


def check_fresh(timestamp: str, *, now: float, max_skew: float) -> None:
    """Refuse a signed timestamp too far from `now`: a captured URL stops working (403)."""
    try:
        skew = abs(now - int(timestamp))
    except ValueError:
        raise SignatureError(
            "timestamp is not a number", hint="not a request from WeChat"
        ) from None
    if skew > max_skew:
        raise SignatureError(
            f"timestamp is {skew:.0f} s away from this server's clock (limit {max_skew:.0f} s)",
            hint="a replayed request, or this server's clock is wrong (check NTP)",
        )


def _decrypt(
    signed: tuple[AccountKeys, ...], query: Mapping[str, str], encrypt: str, max_bytes: int
) -> tuple[AccountKeys, XmlDict]:
    """The first signed candidate whose token and key open the Encrypt text."""
    timestamp, nonce, msg_signature = (
        _query_param(query, "timestamp"),
        _query_param(query, "nonce"),
        _query_param(query, "msg_signature"),
    )
    first: ProtocolError | None = None
    for k in signed:
        try:
            if k.crypto is None:
                raise ProtocolError(
                    "encrypted push for an account without an EncodingAESKey",
                    hint="the MP console is in compatible or safe mode: "
                    "set encoding_aes_key and mode",
                )
            check_msg_signature(k.token, timestamp, nonce, encrypt, msg_signature)
            return k, parse_xml(k.crypto.decrypt(encrypt), max_bytes=max_bytes)
        except ProtocolError as exc:
            first = first or exc
    assert first is not None
    raise first


def _addressee(document: XmlDict) -> str:
    value = document.get("ToUserName", "")
    return value if isinstance(value, str) else ""


def decode(
    keys: AccountKeys,
    query: Mapping[str, str],
    body: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    now: float | None = None,
    max_skew: float = 0,
) -> Decoded:
    """Verify, decrypt when encrypt_type=aes, and parse one POST into its message object.

    With `max_skew` > 0 the signed timestamp must lie within that many seconds of `now`.
    During a key rotation, the previous keys are tried after the current ones.
    """
    now = time.time() if now is None else now
    timestamp, nonce = _query_param(query, "timestamp"), _query_param(query, "nonce")
    if keys.previous is None:  # no key rotation under way: one token to check
        check_signature(keys.token, timestamp, nonce, _query_param(query, "signature"))
        signed: tuple[AccountKeys, ...] = (keys,)
    else:
        signed = _signed_by(keys, query, now)
    if max_skew > 0:
        check_fresh(timestamp, now=now, max_skew=max_skew)
    encrypted = _query_param(query, "encrypt_type").lower() == "aes"
    document = parse_xml(body, max_bytes=max_bytes)
    used = signed[0]
    if encrypted:
        encrypt = document.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            if keys.crypto is None:
                raise ProtocolError(
                    "encrypted push for an account without an EncodingAESKey",
                    hint="the MP console is in compatible or safe mode: "
                    "set encoding_aes_key and mode",
                )
            raise CryptoError(ErrorCode.PARSE_XML, "encrypt_type=aes but the body has no Encrypt")
        envelope_to = _addressee(document)
        # Only the decrypted document is covered by a signature; plaintext siblings are ignored.
        used, document = _decrypt(signed, query, encrypt, max_bytes)
        if envelope_to and envelope_to != _addressee(document):
            raise WrongAddressee(
                "the encrypted ToUserName differs from the envelope's",
                hint="the envelope was altered, or a ciphertext of another account was reused",
            )
    elif keys.require_encryption:
        why = "this account is in safe mode" if keys.mode == "safe" else "require_encryption"
        raise EncryptionRequired(
            f"plaintext push refused: {why}",
            hint="a plaintext body is not covered by any signature; if the MP console is in "
            "plain mode, set mode and require_encryption to match it",
        )
    if keys.original_id and _addressee(document) != keys.original_id:
        raise WrongAddressee(
            f"push addressed to {_addressee(document)!r}, not to this account ({keys.original_id})",
            hint="check original_id, or which account's URL this is",
        )
    return Decoded(
        message=parse_message(document),
        encrypted=encrypted,
        timestamp=timestamp,
        nonce=nonce,
        keys=used,
    )


def seal(keys: AccountKeys, plaintext: bytes, request: Decoded, *, now: int) -> bytes:
    """Wrap a rendered reply for the request it answers: encrypted when the request was."""
    if not plaintext or not request.encrypted:
        return plaintext
    keys = request.keys or keys
    if keys.crypto is None:  # decode() never returns encrypted=True without crypto
        raise CryptoError(ErrorCode.ENCRYPT_AES, "cannot encrypt without an EncodingAESKey")
    encrypt = keys.crypto.encrypt(plaintext)
    timestamp = str(now)
    signature = compute_signature(keys.token, timestamp, request.nonce, encrypt)
    # The envelope WeChat takes: Encrypt, MsgSignature, TimeStamp, Nonce. The base64 and hex
    # texts hold nothing CDATA must escape; the nonce, echoed from the request's query as in
    # the official example, goes through cdata().
    return (
        f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
        f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(request.nonce)}</Nonce></xml>"
    ).encode()


def encode(keys: AccountKeys, reply: Reply | str | None, request: Decoded, *, now: int) -> bytes:
    """Render and seal a handler's reply into the response body (b"" means no reply)."""
    return seal(keys, render_reply(reply, request.message, now=now), request, now=now)


def dedup_key(message: BaseMessage, account: str = "") -> str:
    """The key WeChat's retries of one push share: a retry is the same push, sent again.

    MsgId identifies a message (with its sender, since bare MsgIds have collided); events use
    FromUserName + CreateTime, the documented floor, plus the fields that keep two different
    pushes of one second apart: MsgType (device pushes of two types), the event's keys and
    nested ids. `account` (the configured name) keeps accounts sharing a store apart. Hashed:
    fixed length whatever the push holds, and no OpenID in store keys or logs.
    """
    raw = message.raw

    def field(name: str) -> str:
        value = raw.get(name, "")
        return value if isinstance(value, str) else ""

    if not isinstance(message, BaseEvent) and field("MsgId"):
        kind, parts = "m", [account, message.target, message.source, field("MsgId")]
    else:
        kind = "e"
        parts = [
            account,
            message.target,
            message.source,
            str(message.create_time),
            message.type,
            field("Event"),
            field("EventKey"),
            field("MsgID"),
            field("OpenID"),
            field("UserCardCode"),
            *(message.dedup_extra() if isinstance(message, BaseEvent) else ()),
        ]
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()
    return f"{kind}:{digest}"
