"""wxhook's own HTTP/1.1 server for `wxhook serve` (server.http = "wxhook", the default).

aiohttp's web stack costs about 50 µs of CPU per request before any of our code runs, as much
as the rest of a push; this server parses with httptools (llhttp, the parser of Node.js) and
writes each answer in one call. It serves exactly the routes of `server.create_app` (the
accounts' callback paths, /healthz, /readyz, /metrics) with the same `Endpoint` code, and keeps
what the aiohttp server did: keep-alive and pipelining (answers in order), 413 before a body
over server.max_body_bytes is read (Content-Length or chunked), 408 for a request not received
within server.read_timeout, 400 for malformed HTTP, 404/405, idle connections closed after
75 s, and a graceful stop. The aiohttp Application still holds the components and runs the
startup and cleanup hooks (`server.http = "aiohttp"` serves it with aiohttp instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, unquote_plus

import httptools
from aiohttp import web

from .core import BodyTooLarge
from .loop import start_task
from .server import CONFIG, ENDPOINTS, METRICS, STORE, Answer, Endpoint, exposition, ready

log = logging.getLogger("wxhook.server")

KEEPALIVE = 75.0  # seconds an idle keep-alive connection stays open (aiohttp's default)
MAX_HEAD = 32 * 1024  # request line and headers together
MAX_QUEUED = 16  # pipelined requests waiting on one connection before reading pauses
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_TEXT = "text/plain; charset=utf-8"


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


def render(answer: Answer, keep_alive: bool, extra: bytes = b"") -> bytes:
    """One HTTP/1.1 response, head and body, as bytes."""
    status = answer.status
    body = answer.body
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\n"
            % (
                status,
                _REASONS.get(status, "Unknown").encode(),
                answer.content_type.encode(),
                len(body),
                _date.get(),
            ),
            extra,
            b"" if keep_alive else b"Connection: close\r\n",
            b"\r\n",
            body,
        )
    )


class _Request:
    __slots__ = ("arrived", "arrived_wall", "body", "keep_alive", "method", "url")

    def __init__(
        self,
        method: bytes,
        url: bytes,
        body: bytes,
        keep_alive: bool,
        arrived: float,
        arrived_wall: float,
    ) -> None:
        self.method = method
        self.url = url
        self.body = body
        self.keep_alive = keep_alive
        self.arrived = arrived
        self.arrived_wall = arrived_wall


class Connection(asyncio.Protocol):
    """One client connection: parse requests, answer them in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[_Request] = deque()
        self.worker: asyncio.Task[None] | None = None
        self.paused = False
        self.closed = False  # no more requests are read or answered on this connection
        self.last = self.loop.time()  # the last activity, for the idle timeout
        self.in_message = False  # between a request's first byte and its end
        self.started = 0.0  # when the current request's first byte came
        self.url = b""
        self.head = 0
        self.body: list[bytes] = []
        self.size = 0
        self.expect_continue = False
        self.arrived = 0.0
        self.arrived_wall = 0.0

    # asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        # A request being handled finishes (its handlers must not be cut by a client that
        # went away); its answer has nowhere to go.

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.refuse(400, "upgrade not supported")
        except httptools.HttpParserError as exc:
            if not self.closed:  # not an error we raised ourselves to stop the parser
                self.refuse(400, f"malformed HTTP: {exc}")

    # httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_message = True
        self.started = self.loop.time()
        self.arrived, self.arrived_wall = time.monotonic(), time.time()
        self.url = b""
        self.head = 0
        self.body = []
        self.size = 0
        self.expect_continue = False

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head += len(url)
        if self.head > MAX_HEAD:
            self.refuse(431, "request line and headers too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head += len(name) + len(value) + 4
        if self.head > MAX_HEAD:
            self.refuse(431, "request line and headers too large")
            return
        lower = name.lower()
        if lower == b"content-length":
            with contextlib.suppress(ValueError):
                if int(value) > self.server.max_body:
                    self.refuse_too_large(f"body of {int(value)} bytes")
        elif lower == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True

    def on_headers_complete(self) -> None:
        if self.expect_continue and not self.closed and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.server.max_body:
            self.refuse_too_large("body")
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.closed:
            return
        self.in_message = False
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body = []
        request = _Request(
            self.parser.get_method(),
            self.url,
            body,
            self.parser.should_keep_alive(),
            self.arrived,
            self.arrived_wall,
        )
        self.queue.append(request)
        if self.worker is None:
            worker = start_task(self.loop, self.work())
            if not worker.done():  # (started eagerly, it may have answered already)
                self.worker = worker
        elif len(self.queue) >= MAX_QUEUED and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    # Answers -------------------------------------------------------------------------------

    async def work(self) -> None:
        """Answer the queued requests one by one, in order."""
        try:
            while self.queue:
                request = self.queue.popleft()
                if self.paused and len(self.queue) < MAX_QUEUED // 2 and self.transport:
                    self.paused = False
                    self.transport.resume_reading()
                try:
                    answer, extra = await self.server.answer(request)
                except Exception:
                    log.exception("unexpected error answering %r; answered empty", request.url)
                    answer, extra = Answer(200, b""), b""
                keep_alive = request.keep_alive and not self.server.stopping
                self.write(render(answer, keep_alive, extra), close=not keep_alive)
                if not keep_alive:
                    return
        finally:
            self.worker = None
            self.last = self.loop.time()

    def write(self, data: bytes, *, close: bool = False) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if close:
            self.closed = True
            self.queue.clear()
            transport.close()

    def refuse(self, status: int, why: str) -> None:
        """Answer an HTTP-level error and close: the rest of the stream cannot be trusted."""
        if self.closed:
            return
        log.warning("HTTP %d to a client: %s", status, why)
        self.write(render(Answer(status, f"{why}\n".encode(), _TEXT), False), close=True)

    def refuse_too_large(self, what: str) -> None:
        limit = self.server.max_body
        self.reject_push(413, f"{what} over server.max_body_bytes={limit}")

    def reject_push(self, status: int, why: str) -> None:
        """An error of the request in progress, answered like aiohttp's Endpoint did (the
        account's reject: metrics and a log line) when it is for a callback path."""
        if self.closed:
            return
        endpoint = self.server.endpoint(self.url)
        if endpoint is None:
            self.refuse(status, why)
            return
        error = BodyTooLarge(why) if status == 413 else endpoint.read_timed_out()
        self.write(render(endpoint.reject(error), False), close=True)

    def tick(self, now: float) -> None:
        """Called about once a second: the read timeout and the idle timeout."""
        if self.closed:
            return
        if self.in_message:
            if now - self.started > self.server.read_timeout:
                self.reject_push(408, "request not received within server.read_timeout")
        elif self.worker is None and not self.queue:
            idle = now - self.last
            if self.server.stopping or idle > KEEPALIVE:
                self.closed = True
                if self.transport is not None:
                    self.transport.close()


Handler = Callable[[_Request], Awaitable[Answer]]


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

    def endpoint(self, url: bytes) -> Endpoint | None:
        path = url.partition(b"?")[0].decode("utf-8", "replace")
        return self.endpoints.get(unquote(path) if "%" in path else path)

    async def answer(self, request: _Request) -> tuple[Answer, bytes]:
        """The answer to one request, and extra header lines."""
        raw_path, _, raw_query = request.url.partition(b"?")
        path = raw_path.decode("utf-8", "replace")
        if "%" in path:
            path = unquote(path)
        method = request.method
        endpoint = self.endpoints.get(path)
        if endpoint is not None:
            query = parse_query(raw_query.decode("utf-8", "replace"))
            if method == b"POST":
                answer = await endpoint.push(
                    query, request.body, request.arrived, request.arrived_wall
                )
                return answer, b""
            if method == b"GET":
                try:
                    return endpoint.verify(query, path), b""
                except Exception:
                    log.exception("unexpected error on GET %s; answered empty", path)
                    return Answer(200, b""), b""
            return _not_allowed(b"GET, POST")
        if path == "/healthz" or path == "/readyz" or (path == "/metrics" and self.metrics_enabled):
            if method != b"GET":
                return _not_allowed(b"GET")
            if path == "/healthz":
                return Answer(200, b"ok\n", _TEXT), b""
            if path == "/readyz":
                return await ready(self.app[STORE]), b""
            return exposition(self.app[METRICS]), b""
        return Answer(404, b"404: Not Found", _TEXT), b""

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
            now = self.loop.time()
            for connection in list(self.connections):
                connection.tick(now)

    async def stop(self, grace: float) -> None:
        """Stop listening, let the requests in progress finish (up to `grace` seconds), close
        idle connections at once and the rest after their answer."""
        self.stopping = True
        for server in self._servers:
            server.close()
        end = self.loop.time() + grace
        while self.loop.time() < end:
            for connection in list(self.connections):
                connection.tick(self.loop.time())
            if not any(c.worker is not None or c.queue for c in self.connections):
                break
            await asyncio.sleep(0.05)
        if self._ticker is not None:
            self._ticker.cancel()
        for connection in list(self.connections):
            connection.closed = True
            if connection.transport is not None:
                connection.transport.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)


def _not_allowed(allow: bytes) -> tuple[Answer, bytes]:
    return Answer(405, b"405: Method Not Allowed", _TEXT), b"Allow: " + allow + b"\r\n"


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
        await server.stop(shutdown_timeout)
        await runner.cleanup()  # the app's cleanup: background handlers drained, store closed
