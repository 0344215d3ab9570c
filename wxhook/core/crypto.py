"""Safe-mode crypto: AES-256-CBC, IV = the key's first 16 bytes, PKCS#7 over 32-byte blocks.

The plaintext is 16 random bytes, the message length (4 bytes, network order), the message,
then the AppID of the account it is for.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import CryptoError, ErrorCode

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16: pads 17..32 are legal (vector V4 has 19).
_KEY_RE = re.compile(r"[A-Za-z0-9]{43}")
_HEADER = 20  # 16 random bytes + 4-byte network-order length


def aes_key_from_encoding_key(encoding_aes_key: str) -> bytes:
    """Decode a 43-character EncodingAESKey into the 32-byte AES key, or raise -40004."""
    if not _KEY_RE.fullmatch(encoding_aes_key):
        raise CryptoError(
            ErrorCode.ILLEGAL_AES_KEY,
            f"EncodingAESKey must be 43 letters or digits, got {len(encoding_aes_key)} characters",
            hint="copy the EncodingAESKey again from the MP console (基本配置 > 服务器配置)",
        )
    # 43 base64 characters carry 258 bits; the lenient decoder drops the last two, as WeChat does.
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:  # pragma: no cover - 43 alphanumerics always decode to 32 bytes
        raise CryptoError(ErrorCode.ILLEGAL_AES_KEY, "EncodingAESKey does not decode to 32 bytes")
    return key


def pad(data: bytes) -> bytes:
    """PKCS#7 over 32-byte blocks: always 1..32 bytes of padding."""
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def unpad(data: bytes) -> bytes:
    """Strip and check 32-byte PKCS#7 padding, or raise -40008."""
    if not data or len(data) % BLOCK:
        raise CryptoError(
            ErrorCode.ILLEGAL_BUFFER,
            f"decrypted length {len(data)} is not a multiple of {BLOCK}",
            hint="the Encrypt text was cut or altered",
        )
    n = data[-1]
    if not 1 <= n <= BLOCK or data[-n:] != bytes([n]) * n:
        raise CryptoError(
            ErrorCode.ILLEGAL_BUFFER,
            f"bad padding (last byte {n})",
            hint="the EncodingAESKey is probably wrong",
        )
    return data[:-n]


class SafeModeCrypto:
    """Encrypts and decrypts payloads for one account (EncodingAESKey + AppID)."""

    __slots__ = ("_app_id", "_cipher", "_key", "_random")

    def __init__(
        self,
        encoding_aes_key: str,
        app_id: str,
        *,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._key = aes_key_from_encoding_key(encoding_aes_key)
        self._app_id = app_id.encode()
        self._random = random
        # The IV is the key's first 16 bytes for every message, so one Cipher serves them all
        # (each message still gets its own encryptor or decryptor context).
        self._cipher = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, msg: bytes) -> str:
        """Encrypt a UTF-8 document into the base64 text of an <Encrypt> element."""
        try:
            plain = self._random(16) + len(msg).to_bytes(4, "big") + msg + self._app_id
            encryptor = self._cipher.encryptor()
            sealed = encryptor.update(pad(plain)) + encryptor.finalize()
        except Exception as exc:
            raise CryptoError(ErrorCode.ENCRYPT_AES, f"encryption failed: {exc}") from exc
        return binascii.b2a_base64(sealed, newline=False).decode("ascii")

    def decrypt(self, encrypt: str) -> bytes:
        """Decrypt the base64 text of an <Encrypt> element into the inner document's bytes."""
        try:
            # Strict base64: a character outside the alphabet is an error, never skipped.
            sealed = binascii.a2b_base64(encrypt, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError(
                ErrorCode.DECODE_BASE64,
                "Encrypt is not valid base64",
                hint="the body was truncated or altered on the way",
            ) from exc
        if not sealed or len(sealed) % 16:
            raise CryptoError(
                ErrorCode.DECRYPT_AES,
                f"ciphertext length {len(sealed)} is not a multiple of the AES block",
                hint="the body was truncated or altered on the way",
            )
        decryptor = self._cipher.decryptor()
        plain = unpad(decryptor.update(sealed) + decryptor.finalize())
        if len(plain) < _HEADER:
            raise CryptoError(
                ErrorCode.ILLEGAL_BUFFER,
                "decrypted payload is shorter than its header",
                hint="the EncodingAESKey is probably wrong",
            )
        length = int.from_bytes(plain[16:_HEADER], "big")
        if _HEADER + length > len(plain):
            raise CryptoError(
                ErrorCode.ILLEGAL_BUFFER,
                f"length field {length} runs past the {len(plain) - _HEADER}-byte payload",
                hint="the EncodingAESKey is probably wrong",
            )
        msg, app_id = plain[_HEADER : _HEADER + length], plain[_HEADER + length :]
        if app_id != self._app_id:
            found = app_id.decode("utf-8", "replace")
            raise CryptoError(
                ErrorCode.VALIDATE_APPID,
                f"AppID mismatch: the message is for {found!r}, this account is "
                f"{self._app_id.decode()!r}",
                hint="set app_id to the AppID of the account whose EncodingAESKey this is",
            )
        return msg
