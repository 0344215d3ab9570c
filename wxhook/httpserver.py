"""wxhook's own HTTP/1.1 server for `wxhook serve` (server.http = "wxhook", the default).

aiohttp's web stack costs about 50 µs of CPU per request before any of our code runs, as much
as the rest of a push; this server parses with httptools (llhttp, the parser of Node.js) and
writes each answer in one call. It serves exactly the routes of `server.create_app` (the
accounts' callback paths, /healthz, /readyz, /metrics) with the same `Endpoint` code, and keeps
what the aiohttp server did:

- keep-alive (HTTP/1.1, and HTTP/1.0 when asked) and pipelining, answers in request order;
- 413 before a body over server.max_body_bytes is read (Content-Length or chunked), 431 for
  over 32 KB of request line and headers (counted while they arrive), 400 for malformed HTTP,
  408 for a request not received within server.read_timeout, 404/405 (HEAD answered without a
  body); a refusal goes out in order, then the connection reads and discards what the client
  is still sending for a while (so the client sees the answer rather than a reset) and closes;
- flow control both ways: about 16 requests wait on a connection at most (reading pauses
  beyond), no further answer is produced while a client does not read the previous ones (and
  a client that stops reading for 75 s is cut off), and a pipelined burst yields to other
  connections between answers;
- idle connections closed after 75 s, closing ones aborted when their client stops reading;
- a graceful stop: no new connections, requests in progress finish (within the grace), then
  the app's cleanup hooks drain background handlers.

The aiohttp Application still holds the components and runs the startup and cleanup hooks
(`server.http = "aiohttp"` serves it with aiohttp instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote, unquote_plus

import httptools
from aiohttp import web

from .core import BodyTooLarge
from .loop import start_task
from .server import (
    CONFIG,
    ENDPOINTS,
    HEALTHY,
    METRICS,
    STORE,
    Answer,
    Endpoint,
    exposition,
    ready,
)

log = logging.getLogger("wxhook.server")

KEEPALIVE = 75.0  # seconds an idle keep-alive connection stays open (aiohttp's default)
MAX_HEAD = 32 * 1024  # request line and headers together
MAX_QUEUED = 16  # requests waiting on one connection before reading pauses
FEED = 8 * 1024  # bytes given to the parser at a time: the limits are checked in between
FEED_QUEUED = 1024  # ... while requests are already waiting
LINGER = 2.0  # seconds a refused connection reads (and discards) before it closes
LINGER_BYTES = 4 * 1024 * 1024  # ... or until this much was discarded
CLOSE_DRAIN = 5.0  # seconds a closing connection may take to deliver its last answer
_REASONS = {s.value: s.phrase for s in HTTPStatus}


def parse_query(raw: str) -> dict[str, str]:
    """The query string as a dict; the first value of a repeated key wins (as aiohttp's
    request.query.get does). Percent-escapes and '+' are decoded only where present."""
    out: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if "%" in part or "+" in part:
            key, value = unquote_plus(key), unquote_plus(value)
        if key not in out:
            out[key] = value
    return out


def split_target(url: bytes) -> tuple[str, str]:
    """The decoded path and the raw query of a request target (origin or absolute form)."""
    if not url.startswith(b"/"):
        try:
            parsed = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            return "", ""
        raw_path, raw_query = parsed.path or b"", parsed.query or b""
    else:
        raw_path, _, raw_query = url.partition(b"?")
        raw_query = raw_query.partition(b"#")[0]
        raw_path = raw_path.partition(b"#")[0]
    path = raw_path.decode("utf-8", "replace")
    if "%" in path:
        path = unquote(path)
    return path, raw_query.decode("utf-8", "replace")


class _Date:
    """The Date header, formatted once a second."""

    __slots__ = ("second", "value")

    def __init__(self) -> None:
        self.second = -1
        self.value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.value = formatdate(now, usegmt=True).encode()
        return self.value


_date = _Date()


_starts: dict[tuple[int, str], bytes] = {}  # status line and Content-Type, made once each


def _start(status: int, content_type: str) -> bytes:
    start = _starts.get((status, content_type))
    if start is None:
        reason = _REASONS.get(status, "Unknown")
        start = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n".encode()
        if len(_starts) < 256:
            _starts[status, content_type] = start
    return start


def render(
    answer: Answer,
    keep_alive: bool,
    extra: bytes = b"",
    *,
    head: bool = False,
    http10: bool = False,
) -> bytes:
    """One HTTP/1.1 response as bytes (for HEAD: the head alone, with the body's length)."""
    body = answer.body
    if keep_alive:
        connection = b"Connection: keep-alive\r\n" if http10 else b""
    else:
        connection = b"Connection: close\r\n"
    return b"".join(
        (
            _start(answer.status, answer.content_type),
            b"Content-Length: %d\r\nDate: %s\r\n" % (len(body), _date.get()),
            extra,
            connection,
            b"\r\n",
            b"" if head else body,
        )
    )


class _Request:
    __slots__ = ("arrived", "arrived_wall", "body", "head", "http10", "keep_alive", "method", "url")

    def __init__(
        self,
        method: bytes,
        url: bytes,
        body: bytes,
        keep_alive: bool,
        http10: bool,
        arrived: float,
        arrived_wall: float,
    ) -> None:
        self.method = method
        self.url = url
        self.body = body
        self.keep_alive = keep_alive
        self.http10 = http10
        self.head = method == b"HEAD"
        self.arrived = arrived
        self.arrived_wall = arrived_wall


class _Refusal:
    """An HTTP-level refusal, answered in its turn; the connection closes after it."""

    __slots__ = ("answer",)

    def __init__(self, answer: Answer) -> None:
        self.answer = answer


class Connection(asyncio.Protocol):
    """One client connection: parse requests, answer them in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[_Request | _Refusal] = deque()
        self.worker: asyncio.Task[None] | None = None
        self.working = False  # a worker answers the queue (set before it is created)
        self.inbox = b""  # received, not yet parsed: reading is paused meanwhile
        self.reading_paused = False
        self.writable: asyncio.Future[None] | None = None  # while the client does not read
        self.write_paused_since = 0.0
        self.feeding = False  # inside _feed (httptools' parser must not be fed re-entrantly)
        self.completed_in_feed = 0  # requests completed by the current _feed
        self.refused = False  # a refusal is queued: input is read and discarded
        self.input_ended = False  # no more requests will be read (an Upgrade request)
        self.closed = False  # nothing more is answered on this connection
        self.lost = False
        self.linger_until = 0.0
        self.discarded = 0
        self.closing_since = 0.0
        self.last = self.loop.time()  # the last activity, for the idle timeout
        self.in_message = False  # between a request's first byte and its end
        self.in_head = False  # ... and before the end of its headers
        self.head_bytes = 0  # request line and complete headers of the current request
        self.head_fed = 0  # bytes fed while its headers were incomplete
        self.started = 0.0  # when the current request's first byte came
        self.url = b""
        self.body: list[bytes] = []
        self.size = 0
        self.expect_continue = False
        self.arrived = 0.0
        self.arrived_wall = 0.0

    # asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports have asyncio.Transport's methods without deriving from it)
        self.transport = cast(asyncio.Transport, transport)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.closed = True
        self.server.gone(self)
        # The request being handled finishes (a client that went away must not cut its
        # handlers); those still queued are not handled, as with aiohttp.
        self.queue.clear()
        self.inbox = b""
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self) -> None:
        if self.writable is None or self.writable.done():
            self.writable = self.loop.create_future()
            self.write_paused_since = self.loop.time()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    def eof_received(self) -> bool | None:
        # The client is done sending (a half-close): what it sent is still answered, then the
        # connection closes.
        self._end_input()
        return True

    def data_received(self, data: bytes) -> None:
        self.last = self.loop.time()
        if self.refused or self.closed or self.input_ended:
            if self.linger_until:
                self.discarded += len(data)
                if self.discarded > LINGER_BYTES and self.transport is not None:
                    self.transport.abort()
            return
        if self.inbox:  # order: what was held back goes first
            self.inbox += data
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        assert not self.feeding, "the HTTP parser was fed re-entrantly"
        self.feeding = True
        self.completed_in_feed = 0
        try:
            self._feed_slices(data)
        finally:
            self.feeding = False

    def _feed_slices(self, data: bytes) -> None:
        pos, size = 0, len(data)
        while pos < size:
            if self.refused or self.closed or self.input_ended:
                return
            if len(self.queue) >= MAX_QUEUED:  # enough waiting: keep the rest, stop reading
                self.inbox = data[pos:]
                if not self.reading_paused and self.transport is not None:
                    self.reading_paused = True
                    self.transport.pause_reading()
                return
            # Smaller slices once requests are waiting: the queue check above stays close to its
            # bound (at most MAX_QUEUED + what one slice holds) under a pipelined flood.
            step = FEED if not self.queue and not self.completed_in_feed else FEED_QUEUED
            chunk = data[pos : pos + step]
            pos += step
            try:
                self.parser.feed_data(chunk)
            except httptools.HttpParserUpgrade:
                self._upgrade()
                return
            except httptools.HttpParserCallbackError as exc:  # a bug of ours, not the client's
                log.error("HTTP parser callback failed", exc_info=exc.__context__ or exc)
                self.refuse(400, "bad request")
                return
            except httptools.HttpParserError as exc:
                self.refuse(400, f"malformed HTTP: {exc}")
                return
            if self.in_head:  # a header still incomplete is held by the parser: count it
                self.head_fed += len(chunk)
                if self.head_fed > MAX_HEAD + FEED:
                    self.refuse(431, "request line and headers too large")
                    return

    def _resume_reading(self) -> None:
        """The queue has room again: parse what was held back, then read again."""
        if not self.reading_paused or self.closed:
            return
        self.reading_paused = False
        if self.in_message:
            self.started = self.loop.time()  # the 408 clock stopped while we did not read
        data, self.inbox = self.inbox, b""
        self._feed(data)
        if self.refused:
            self.reading_paused = True  # still paused: the refusal's linger resumes it
        elif not self.reading_paused and self.transport is not None:
            self.transport.resume_reading()

    def _upgrade(self) -> None:
        # A request with Upgrade: answered as a plain request (as aiohttp does), then the
        # connection closes: what follows it on the wire is not HTTP/1.1.
        if self.in_message:
            self.refuse(400, "upgrade not supported")
        else:
            self._end_input()

    def _end_input(self) -> None:
        """No more requests will come: answer those received, then close."""
        self.input_ended = True
        if not self.queue and not self.working and not self.closed:
            self._close()  # (a request cut off midway is never answered, as with aiohttp)

    # httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.refused or self.closed:
            return  # the rest of the stream is discarded
        self.in_message = self.in_head = True
        self.head_bytes = self.head_fed = 0
        self.started = self.loop.time()
        self.arrived, self.arrived_wall = time.monotonic(), time.time()
        self.url = b""
        self.body = []
        self.size = 0
        self.expect_continue = False

    def on_url(self, url: bytes) -> None:
        self.url += url
        self._count_head(len(url))

    def _count_head(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > MAX_HEAD:
            self.refuse(431, "request line and headers too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        lower = name.lower()
        if lower == b"content-length":
            with contextlib.suppress(ValueError):
                if int(value) > self.server.max_body:
                    self.refuse_too_large(f"body of {int(value)} bytes")
        elif lower == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True

    def on_headers_complete(self) -> None:
        self.in_head = False
        # Only for the request at the head of the line: an interim answer must not overtake
        # the answers still owed to earlier requests (the client sends its body anyway after
        # waiting a moment).
        head_of_line = not self.queue and not self.working and self.transport is not None
        if self.expect_continue and head_of_line and not self.refused and not self.closed:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self.refused:
            return
        self.size += len(body)
        if self.size > self.server.max_body:
            self.refuse_too_large("body")
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.refused or self.closed:
            return
        self.in_message = False
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body = []
        parser = self.parser
        request = _Request(
            parser.get_method(),
            self.url,
            body,
            parser.should_keep_alive(),
            parser.get_http_version() == "1.0",
            self.arrived,
            self.arrived_wall,
        )
        self.queue.append(request)
        # The first request of a read may be answered at once (an eager start); the others
        # of a pipelined burst wait their turn in the queue, with its pause and its yields.
        self.completed_in_feed += 1
        self._work(eager=self.completed_in_feed == 1)

    # Answers -------------------------------------------------------------------------------

    def _work(self, *, eager: bool = True) -> None:
        if not self.working:
            self.working = True
            if eager:
                worker = start_task(self.loop, self.work())
            else:
                worker = self.loop.create_task(self.work())
            if not worker.done():  # (started eagerly, it may have answered already)
                self.worker = worker

    async def work(self) -> None:
        """Answer the queued requests one by one, in order."""
        try:
            await self._answer_queue()
        except Exception:  # a bug of ours: the connection cannot be trusted to stay in step
            log.exception("HTTP connection failed; closed")
            if self.transport is not None:
                self.transport.abort()
        finally:
            self.working = False
            self.worker = None
            self.last = self.loop.time()
            if self.input_ended and not self.closed and not self.queue:
                self._close()

    async def _answer_queue(self) -> None:
        while self.queue and not self.lost:
            item = self.queue.popleft()
            if self.reading_paused and len(self.queue) < MAX_QUEUED // 2:
                self._resume_reading()
            if isinstance(item, _Refusal):
                self._send(render(item.answer, False), close=True, linger=True)
                return
            answer, extra = await self.server.answer(item)
            # When the input has ended or the server stops, the last answer closes; requests
            # already received are all answered first.
            last = not self.queue and (self.input_ended or self.server.stopping)
            keep_alive = item.keep_alive and not last
            data = render(answer, keep_alive, extra, head=item.head, http10=item.http10)
            self._send(data, close=not keep_alive)
            if not keep_alive:
                return
            if self.writable is not None:  # the client does not read: wait until it does
                await self.writable
            elif self.queue:  # a pipelined burst: let other connections in between
                await asyncio.sleep(0)

    def _send(self, data: bytes, *, close: bool = False, linger: bool = False) -> None:
        transport = self.transport
        if transport is None or self.lost or transport.is_closing():
            return
        transport.write(data)
        if not close:
            return
        self.closed = True
        self.queue.clear()
        if linger:
            # The client may still be sending the refused request: read and discard it for a
            # while, so that it sees the answer instead of a reset; then close.
            self.linger_until = self.loop.time() + LINGER
            self.inbox = b""
            if self.reading_paused:
                self.reading_paused = False
                transport.resume_reading()
            if transport.can_write_eof():
                transport.write_eof()
        else:
            self._close()

    def _close(self) -> None:
        self.closed = True
        self.linger_until = 0.0
        if not self.closing_since:
            self.closing_since = self.loop.time()
        if self.transport is not None:
            self.transport.close()  # after the answers already written are delivered

    def refuse(self, status: int, why: str) -> None:
        """An HTTP-level error: answered after the requests before it, then the connection
        closes (the rest of the stream cannot be trusted)."""
        if self.refused or self.closed:
            return
        log.warning("HTTP %d to a client: %s", status, why)
        self._refuse(Answer(status, f"{why}\n".encode()))

    def _refuse(self, answer: Answer) -> None:
        self.refused = True
        self.in_message = self.in_head = False
        self.queue.append(_Refusal(answer))
        self._work()

    def refuse_too_large(self, what: str) -> None:
        limit = self.server.max_body
        self.reject_push(413, f"{what} over server.max_body_bytes={limit}")

    def reject_push(self, status: int, why: str) -> None:
        """An error of the request in progress, answered as the aiohttp layer does (for a
        callback path: the account's reject, with its metrics and log line)."""
        if self.refused or self.closed:
            return
        endpoint = self.server.endpoints.get(split_target(self.url)[0])
        if endpoint is None:
            self.refuse(status, why)
            return
        error = BodyTooLarge(why) if status == 413 else endpoint.read_timed_out()
        self._refuse(endpoint.reject(error))

    def tick(self, now: float) -> None:
        """Called about once a second: read timeout, idle timeout, lingering, closing."""
        if self.lost or self.transport is None:
            return
        if self.closing_since:
            if now - self.closing_since > CLOSE_DRAIN:
                self.transport.abort()  # its client stopped reading
            return
        if self.linger_until:
            if now > self.linger_until:
                self._close()
            return
        if self.closed:
            return
        if self.writable is not None and now - self.write_paused_since > KEEPALIVE:
            log.warning("HTTP client stopped reading its answers for %.0f s: cut off", KEEPALIVE)
            self.transport.abort()
            return
        if self.in_message:
            if not self.reading_paused and now - self.started > self.server.read_timeout:
                self.reject_push(408, "request not received within server.read_timeout")
        elif (
            not self.working
            and not self.queue
            and (self.server.stopping or now - self.last > KEEPALIVE)
        ):
            self._close()


class HttpServer:
    """Serves a wxhook aiohttp Application's routes over httptools."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        config = app[CONFIG]
        self.max_body = config.server.max_body_bytes
        self.read_timeout = config.server.read_timeout
        self.endpoints: dict[str, Endpoint] = app[ENDPOINTS]
        self.metrics_enabled = config.metrics.enabled
        self.connections: set[Connection] = set()
        self.stopping = False
        self.loop = asyncio.get_running_loop()
        self._servers: list[asyncio.Server] = []
        self._ticker: asyncio.Task[None] | None = None
        self._all_gone: asyncio.Event | None = None  # set when the last connection is gone

    def gone(self, connection: Connection) -> None:
        self.connections.discard(connection)
        if not self.connections and self._all_gone is not None:
            self._all_gone.set()

    async def answer(self, request: _Request) -> tuple[Answer, bytes]:
        """The answer to one request, and extra header lines; never raises (nor do the
        server.py answers it calls)."""
        path, raw_query = split_target(request.url)
        method = request.method
        endpoint = self.endpoints.get(path)
        if endpoint is not None:
            if method == b"POST":
                query = parse_query(raw_query)
                answer = await endpoint.push(
                    query, request.body, request.arrived, request.arrived_wall
                )
                return answer, b""
            if method == b"GET":
                return endpoint.verify(parse_query(raw_query), path), b""
            return _not_allowed(b"GET, POST")
        if path == "/healthz" or path == "/readyz" or (path == "/metrics" and self.metrics_enabled):
            if method != b"GET":
                return _not_allowed(b"GET")
            if path == "/healthz":
                return HEALTHY, b""
            if path == "/readyz":
                return await ready(self.app[STORE]), b""
            return exposition(self.app[METRICS]), b""
        return Answer(404, b"404: Not Found"), b""

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> list[int]:
        """Listen; returns the bound ports."""
        server = await self.loop.create_server(
            lambda: Connection(self), host, port, reuse_port=reuse_port or None, backlog=1024
        )
        self._servers.append(server)
        self._ticker = self.loop.create_task(self._tick())
        return [int(s.getsockname()[1]) for s in server.sockets]

    async def _tick(self) -> None:
        interval = min(1.0, self.read_timeout / 4)
        while True:
            await asyncio.sleep(interval)
            self._tick_all()

    def _tick_all(self) -> None:
        now = self.loop.time()
        for connection in list(self.connections):
            try:
                connection.tick(now)
            except Exception:  # one connection's trouble must not stop the timeouts of all
                log.exception("HTTP connection housekeeping failed")

    async def stop(self, grace: float) -> None:
        """Stop listening; requests in progress or arriving finish (up to `grace` seconds),
        idle connections close at once, the others after their answer."""
        self.stopping = True
        for server in self._servers:
            server.close()
        end = self.loop.time() + grace
        while self.loop.time() < end:
            self._tick_all()
            if not any(
                c.working or c.queue or (c.in_message and not c.closed) for c in self.connections
            ):
                break
            await asyncio.sleep(0.05)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        # Past the grace: requests still being handled are cancelled (their handlers go to the
        # dispatcher's background bookkeeping, which the app's cleanup drains or records).
        workers = [c.worker for c in self.connections if c.worker is not None]
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.wait(workers, timeout=1.0)
        for connection in list(self.connections):
            connection._close()  # what was answered is still delivered
        if self.connections:
            self._all_gone = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_gone.wait(), 1.0)
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)


def _not_allowed(allow: bytes) -> tuple[Answer, bytes]:
    return Answer(405, b"405: Method Not Allowed"), b"Allow: " + allow + b"\r\n"


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    shutdown_timeout: float = 5.0,
    ready: Callable[[list[int]], Any] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the app's startup hooks, serve until `stop` is set (SIGTERM/SIGINT when None),
    then stop gracefully and run the cleanup hooks."""
    import signal

    loop = asyncio.get_running_loop()
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()  # freezes the app and runs its startup hooks
    server = HttpServer(app)
    own_signals = stop is None
    try:
        if stop is None:
            stop = asyncio.Event()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
        ports = await server.start(host, port, reuse_port=reuse_port)
        if ready is not None:
            ready(ports)
        await stop.wait()
    finally:
        if own_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        await server.stop(shutdown_timeout)
        await runner.cleanup()  # the app's cleanup: background handlers drained, store closed
