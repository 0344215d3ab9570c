"""What the console may show: message contents only when the ops listener is on loopback (the
page is then this machine's), never a secret."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

HIDDEN = "•••"
# The elements that say what a push is, not what it holds: shown wherever the console is.
PLAIN_ELEMENTS = frozenset({"MsgType", "Event", "CreateTime"})
# Never sent to a browser, loopback or not: an account's keys and its AppSecret.
SECRET_NAMES = frozenset(
    {
        "token",
        "encoding_aes_key",
        "app_secret",
        "previous_token",
        "previous_encoding_aes_key",
        "password",
        "sentinel_password",
    }
)


def is_loopback(host: str) -> bool:
    """True when `host` listens on loopback only ("", 0.0.0.0 and :: listen everywhere)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def mask_document(doc: Any, *, show: bool) -> Any:
    """A push or reply as parsed XML, with every value but MsgType/Event/CreateTime hidden
    unless `show`."""
    if show:
        return doc
    if isinstance(doc, Mapping):
        return {
            k: v if k in PLAIN_ELEMENTS else mask_document(v, show=False) for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [mask_document(v, show=False) for v in doc]
    return HIDDEN


def mask_record(record: Mapping[str, Any], *, show: bool) -> dict[str, Any]:
    """A failure record for the page: its message masked unless `show`; its traceback (which
    may quote the message) only with `show`."""
    out = dict(record)
    out["raw"] = mask_document(out.get("raw", {}), show=show)
    if "delivery" in out:
        out["delivery"] = mask_document(out["delivery"], show=show)
    if not show:
        out["traceback"] = ""
    return out


def without_secrets(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings with every secret-bearing key left out."""
    return {k: v for k, v in settings.items() if k not in SECRET_NAMES}
