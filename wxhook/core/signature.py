"""WeChat's SHA-1 signatures: `signature` on every request, `msg_signature` over Encrypt."""

from __future__ import annotations

import hashlib
import hmac

from .errors import SignatureError


def compute_signature(*parts: str) -> str:
    """Lower-case hex SHA-1 of the parts sorted as strings and concatenated.

    `signature` covers (token, timestamp, nonce); `msg_signature` adds the Encrypt text.
    """
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


def _matches(expected: str, given: str) -> bool:
    # Compare as bytes: compare_digest refuses non-ASCII str, and a forged query may hold any text.
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def check_signature(token: str, timestamp: str, nonce: str, signature: str) -> None:
    """Raise SignatureError unless `signature` covers token, timestamp and nonce."""
    if not signature or not _matches(compute_signature(token, timestamp, nonce), signature):
        raise SignatureError(
            "signature mismatch",
            hint="the request is not from WeChat, or the token differs from the MP console's",
        )


def check_msg_signature(
    token: str, timestamp: str, nonce: str, encrypt: str, msg_signature: str
) -> None:
    """Raise SignatureError unless `msg_signature` covers the Encrypt text."""
    expected = compute_signature(token, timestamp, nonce, encrypt)
    if not msg_signature or not _matches(expected, msg_signature):
        raise SignatureError(
            "msg_signature mismatch",
            hint="check the token; the signature to check is msg_signature, not signature",
        )
