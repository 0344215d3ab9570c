"""Who may use the console: anyone on this machine when the ops listener is on loopback;
elsewhere only with the console token; nobody off loopback when no token is set."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import Config
from .masking import is_loopback

COOKIE = "wxhook_console"
HEADER = "X-Wxhook-Console-Token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request may use the console: `status` 0 when it may, else 401 or 403 with why;
    `set_cookie` when a token came in the query (the page then works without it)."""

    status: int = 0
    why: str = ""
    set_cookie: bool = False


def refusal(config: Config) -> str:
    """Why the console is off entirely, or "" when it may be served."""
    if not config.console.enabled:
        return "console.enabled is false"
    if not config.ops.port:
        return "ops.port is 0: there is no ops listener to serve it on"
    if not is_loopback(config.ops.host) and not config.console.token:
        return (
            f"the ops listener is on {config.ops.host or 'every address'}, not loopback, and no "
            "console.token (or WXHOOK_CONSOLE_TOKEN) is set: the console is refused"
        )
    return ""


def check(
    config: Config,
    *,
    host: str,
    header: str | None,
    query: str | None,
    cookie: str | None,
) -> Verdict:
    """The verdict for one request (`host` its Host header without the port)."""
    why = refusal(config)
    if why:
        return Verdict(403, why)
    token = config.console.token
    if is_loopback(config.ops.host):
        # A page of another site cannot reach a loopback console by a name it controls
        # (DNS rebinding): only loopback names are served.
        if host.lower() not in LOOPBACK_NAMES:
            return Verdict(403, "a loopback console answers to 127.0.0.1 or localhost only")
        return Verdict()
    if query is not None and _same(query, token):
        return Verdict(set_cookie=True)
    if (header is not None and _same(header, token)) or (
        cookie is not None and _same(cookie, token)
    ):
        return Verdict()
    if header is not None or query is not None or cookie is not None:
        return Verdict(403, "wrong console token")
    return Verdict(
        401,
        f"the console needs its token: open /console?token=… once, or send the {HEADER} header",
    )


def _same(given: str, token: str) -> bool:
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


def host_of(headers: Mapping[str, str]) -> str:
    """The Host header's name, without the port."""
    host = headers.get("Host", "")
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
