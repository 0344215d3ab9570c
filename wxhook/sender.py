"""`wxhook send`: play WeChat against a running server, one push of any type, and show the answer.

The request is what WeChat would send: a realistic document of the type (see catalogue.py),
signed, and encrypted in compatible and safe mode. `--retry` repeats the very same request the way
WeChat retries an answer that came too late, so dedup can be watched at work. `--verify` plays
the GET WeChat sends when the server URL is saved in the MP console.
"""

from __future__ import annotations

import json
import math
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from . import catalogue, simulator
from .core import AccountKeys, ProtocolError, WxhookError
from .core.xmlcodec import XmlDict

# WeChat sends a push it got no answer to within 5 s again, twice: the waits before each retry.
DEFAULT_RETRY_DELAYS = (5.0, 10.0)


class SendError(WxhookError):
    """The request got no usable answer: refused, unreachable, or a reply that does not open."""


@dataclass(frozen=True, slots=True)
class Push:
    """One request as WeChat would send it, ready to be sent (and re-sent verbatim)."""

    url: str  # the callback URL, without the query
    keys: AccountKeys
    document: bytes  # the plaintext push
    query: Mapping[str, str]
    body: bytes  # what goes on the wire: the document, or its encrypted envelope
    type: catalogue.PushType | None = None

    @property
    def encrypted(self) -> bool:
        """True when the body is an encrypted envelope."""
        return self.query.get("encrypt_type") == "aes"

    def full_url(self) -> str:
        """The URL with the signed query."""
        return f"{self.url}?{urlencode(dict(self.query))}"


@dataclass(frozen=True, slots=True)
class Verification:
    """WeChat's URL verification: a signed GET whose echostr the server must send back."""

    url: str  # the callback URL, without the query
    keys: AccountKeys
    query: Mapping[str, str]

    @property
    def echostr(self) -> str:
        """What a server that holds the same Token answers with."""
        return self.query["echostr"]

    def full_url(self) -> str:
        """The URL with the signed query."""
        return f"{self.url}?{urlencode(dict(self.query))}"


@dataclass(frozen=True, slots=True)
class SendResult:
    """The server's response to one request: status, time taken, and the reply opened
    (decrypted)."""

    status: int
    reason: str
    seconds: float
    body: bytes
    reply: XmlDict = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """200 with an empty body: no reply."""
        return self.status == 200 and not self.body


def build(
    keys: AccountKeys,
    url: str,
    type_name: str | None = None,
    *,
    document: bytes | None = None,
    user: str = catalogue.DEFAULT_USER,
    fields: Mapping[str, str] = {},
) -> Push:
    """A signed (and per the mode encrypted) request for a type name or a ready document."""
    push_type = None
    if document is None:
        if type_name is None:
            raise ValueError("give a push type or a document")
        push_type = catalogue.find(type_name)
        document = push_type.document(
            user=user,
            # Addressed to the account itself when its original id is known (else refused).
            account=keys.original_id or catalogue.DEFAULT_ACCOUNT,
            create_time=int(time.time()),
            overrides=fields,
        )
    query, body = simulator.push(keys, document)
    return Push(url=url, keys=keys, document=document, query=query, body=body, type=push_type)


def verification(keys: AccountKeys, url: str, echostr: str | None = None) -> Verification:
    """The signed GET WeChat sends when the URL is saved (a random echostr unless given)."""
    return Verification(url=url, keys=keys, query=simulator.verification(keys, echostr))


def post(push: Push, *, timeout: float = 10.0) -> SendResult:
    """Send the request once; SendError if nothing usable came back (refusals included)."""
    request = urllib.request.Request(  # noqa: S310 - http(s) checked by callback_url
        push.full_url(), data=push.body, headers={"Content-Type": "text/xml"}
    )
    status, reason, body, seconds = _exchange(request, push.url, timeout)
    try:
        reply = simulator.open_reply(push.keys, body) if status == 200 else {}
    except ProtocolError as exc:
        raise SendError(f"{status} from {push.url}, but the reply does not open: {exc}") from None
    return SendResult(status=status, reason=reason, seconds=seconds, body=body, reply=reply)


def get(check: Verification, *, timeout: float = 10.0) -> SendResult:
    """Send the verification once; SendError unless the server sends the echostr back."""
    request = urllib.request.Request(check.full_url())  # noqa: S310 - checked by callback_url
    status, reason, body, seconds = _exchange(request, check.url, timeout)
    # WeChat accepts the URL only when the body is the echostr itself, nothing around it.
    if body != check.echostr.encode():
        got = body.decode("utf-8", "replace")
        raise SendError(
            f"{status} from {check.url}, but not the echostr: sent {check.echostr!r}, got {got!r}"
        )
    return SendResult(status=status, reason=reason, seconds=seconds, body=body)


def _exchange(
    request: urllib.request.Request, url: str, timeout: float
) -> tuple[int, str, bytes, float]:
    """Status, reason, body and seconds taken; SendError for a refusal or no connection."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, reason, body = response.status, response.reason, response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace").strip()
        raise SendError(
            f"refused: {exc.code} {exc.reason} from {url}" + (f": {detail}" if detail else "")
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(cause, TimeoutError | socket.timeout):
            raise SendError(f"no answer from {url} within {timeout:g} s") from None
        raise SendError(f"cannot connect to {url}: {cause}") from None
    return status, reason, body, time.monotonic() - started


def when_up(send: Callable[[], SendResult], *, wait: float) -> SendResult:
    """send(), tried again while the server does not accept connections yet, for `wait` s."""
    until = time.monotonic() + wait
    while True:
        try:
            return send()
        except SendError as exc:
            if not str(exc).startswith("cannot connect") or time.monotonic() >= until:
                raise
        time.sleep(0.1)


def post_when_up(push: Push, *, wait: float, timeout: float = 10.0) -> SendResult:
    """post(), retrying while the server does not accept connections yet, for `wait` seconds."""
    return when_up(lambda: post(push, timeout=timeout), wait=wait)


def run_verification(
    check: Verification,
    *,
    wait: float = 0.0,
    timeout: float = 10.0,
    echo: Callable[[str], None] = print,
) -> SendResult:
    """Send the verification and print whether the echostr came back."""
    echo(f"GET {check.url}: URL verification, echostr {check.echostr}")
    result = when_up(lambda: get(check, timeout=timeout), wait=wait)
    echo(f"{result.status} {result.reason} in {result.seconds * 1000:.1f} ms: echostr sent back")
    return result


def describe(result: SendResult) -> str:
    """One line: status, time, and what kind of reply."""
    head = f"{result.status} {result.reason} in {result.seconds * 1000:.1f} ms"
    if result.empty:
        return f"{head}: empty body (no reply)"
    kind = result.reply.get("MsgType", "")
    return f"{head}: {kind or 'unrecognised'} reply" if isinstance(kind, str) else head


def show(reply: XmlDict) -> str:
    """The reply document as indented JSON."""
    return json.dumps(reply, ensure_ascii=False, indent=2)


def run(
    push: Push,
    *,
    retry_delays: Sequence[float] = (),
    wait: float = 0.0,
    timeout: float = 10.0,
    echo: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> list[SendResult]:
    """Send, then re-send the identical request after each delay; print what comes back."""
    what = f"{push.type.name} ({push.type.cls.__name__})" if push.type else "document"
    mode = f"{push.keys.mode} mode, " + ("encrypted" if push.encrypted else "plaintext")
    echo(f"POST {push.url}: {what}, {mode}")
    first = post_when_up(push, wait=wait, timeout=timeout)
    results = [first]
    echo(describe(first))
    if first.reply:
        echo(show(first.reply))
    for n, delay in enumerate(retry_delays, 1):
        sleep(delay)
        retried = post(push, timeout=timeout)
        results.append(retried)
        same = retried.reply == first.reply
        echo(f"retry {n} after {delay:g} s, same query and body: {describe(retried)}")
        if retried.reply and not same:
            echo(show(retried.reply))
        elif not retried.empty or not first.empty:
            echo("  the same reply as the first delivery" if same else "  a different reply")
    return results


def callback_url(url: str | None, *, host: str = "", port: int = 0, path: str = "") -> str:
    """The URL to post to: `url` (the account's path appended if it has none), else the server's."""
    if url is None:
        if not path:
            raise ValueError("give --url URL, or --config FILE to take it from the server settings")
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard address: talk to loopback
            host = "127.0.0.1" if host != "::" else "::1"
        return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--url {url!r} must be an http:// or https:// URL")
    if parts.path in ("", "/") and path:
        return url.rstrip("/") + path
    return url


def read_document(path: str) -> bytes:
    """An XML push from a file."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"--file {path}: {exc.strerror}") from None


def listing() -> str:
    """Every type with its class, what goes on the wire, and the elements it fills."""
    rows = []
    for t in catalogue.TYPES.values():
        wire = f"{t.msg_type}/{t.event}" if t.event else t.msg_type
        elements = ", ".join(t.fields()) or "-"
        rows.append((t.name, t.cls.__name__, wire, elements))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows
    )


def parse_fields(pairs: Sequence[str]) -> dict[str, str]:
    """NAME=VALUE pairs into overrides."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--field {pair!r}: write NAME=VALUE, e.g. EventKey=qrscene_123")
        out[name.strip()] = value
    return out


def parse_delays(text: str) -> tuple[float, ...]:
    """ "5,10" into (5.0, 10.0)."""
    try:
        delays = tuple(float(d) for d in text.split(",") if d.strip())
    except ValueError:
        raise ValueError(f"--retry-delays {text!r}: write seconds separated by commas") from None
    if any(not math.isfinite(d) or d < 0 for d in delays):
        raise ValueError("--retry-delays: delays must be finite and not negative")
    return delays
