"""A small pipelined RESP2 client for the hot path: the dedup claim and the stored reply.

Every push costs one awaited Redis command (the claim) and one in the background (the stored
reply). redis-py spends about 30 µs of CPU on each even when pipelined (pipeline object,
packing, a parse coroutine and a callback per reply); this client spends a few. It keeps one
connection and pipelines everything on it:

- `send()` packs the command and queues it with a future (no task, no coroutine); the first
  command of an event-loop turn schedules a flush, which writes everything queued in that turn
  with one `transport.write`;
- replies come back in order: `data_received` parses them incrementally (they may arrive split
  at any byte) and resolves the futures in FIFO order. An error reply fails its own command only;
- one timer per connection bounds how long a reply may be outstanding (`socket_timeout`): past
  it, every outstanding command fails with RespTimeoutError and the connection is dropped
  (later replies could no longer be matched to their commands);
- a connection is opened lazily by the first command that needs one (with `connect_timeout`,
  AUTH, SELECT and CLIENT SETNAME included). A command whose connection died under it, or that
  could not connect, is tried once more on a fresh connection, as redis-py's
  `Retry(NoBackoff(), 1)` on connection errors does; timeouts are never retried.

Everything else (failure records, values, locks, /readyz) stays on redis-py: this module does
not import redis (stores/redis.py derives the connection options from its client).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

log = logging.getLogger("wxhook.store")

Word = bytes | str | int | float


# A queued or outstanding command: its future, its packed bytes, whether it was tried already.
class _Quiet:
    """The reply of a command nobody awaits: an error goes to a callback at once; no future,
    no loop callback (the stored reply of every push is sent this way)."""

    __slots__ = ("_done", "_on_error", "_waiter")

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._done = False
        self._on_error = on_error
        self._waiter: asyncio.Future[None] | None = None

    def done(self) -> bool:
        return self._done

    def set_result(self, value: Any) -> None:
        self._settle()

    def set_exception(self, exc: BaseException) -> None:
        if not self._done:
            self._settle()
            try:
                self._on_error(exc)
            except Exception:  # the other commands of the batch must still get their replies
                log.exception("a redis error callback failed")

    def _settle(self) -> None:
        self._done = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def waiter(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """A future done when the reply is in (for a close that waits for it)."""
        if self._waiter is None:
            self._waiter = loop.create_future()
            if self._done:
                self._waiter.set_result(None)
        return self._waiter


_Entry = tuple["asyncio.Future[Any] | _Quiet", bytes, bool]


class RespError(Exception):
    """An error reply (WRONGTYPE ..., ERR ...): raised for that command only."""

    @property
    def code(self) -> str:
        """The error's first word, e.g. "WRONGTYPE"."""
        return str(self).split(" ", 1)[0]


class NoScriptError(RespError):
    """NOSCRIPT: EVALSHA of a script this Redis does not know (yet)."""


class RespConnectionError(ConnectionError):
    """Could not connect, or the connection was lost before the reply came."""


class AuthenticationError(RespConnectionError):
    """AUTH (or SELECT, CLIENT SETNAME) was refused while connecting: never retried."""


class ProtocolError(RespConnectionError):
    """A reply that is not RESP2, or one nobody asked for: the connection is dropped."""


class RespTimeoutError(TimeoutError):
    """No connection within connect_timeout, or a reply outstanding for socket_timeout."""


# Parsing ----------------------------------------------------------------------------------


class _Incomplete:
    __slots__ = ()


INCOMPLETE: Final = _Incomplete()  # parse(): the reply at this position is not all there yet


def _error(message: bytes) -> RespError:
    text = message.decode("utf-8", "replace")
    return NoScriptError(text) if text.startswith("NOSCRIPT") else RespError(text)


def parse(buf: bytes | bytearray, pos: int = 0) -> tuple[Any, int]:
    """The reply starting at buf[pos]: (value, the position after it), or (INCOMPLETE, pos).

    Values are what redis-py gives with decode_responses off: bytes for simple and bulk
    strings, int, list, None for nil (`$-1`, `*-1`); an error reply is a RespError *value*
    (raised by the caller for a whole reply, kept as an element inside an array).
    Raises ProtocolError for bytes that are not RESP2.
    """
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return INCOMPLETE, pos
    kind = buf[pos]
    try:
        if kind == 36:  # $ bulk string
            size = int(buf[pos + 1 : end])
            if size < 0:
                return None, end + 2
            start = end + 2
            stop = start + size
            if len(buf) < stop + 2:
                return INCOMPLETE, pos
            return bytes(buf[start:stop]), stop + 2
        if kind == 43:  # + simple string
            return bytes(buf[pos + 1 : end]), end + 2
        if kind == 58:  # : integer
            return int(buf[pos + 1 : end]), end + 2
        if kind == 45:  # - error
            return _error(bytes(buf[pos + 1 : end])), end + 2
        if kind == 42:  # * array
            count = int(buf[pos + 1 : end])
            if count < 0:
                return None, end + 2
            items = []
            at = end + 2
            for _ in range(count):
                item, at = parse(buf, at)
                if item is INCOMPLETE:
                    return INCOMPLETE, pos
                items.append(item)
            return items, at
    except ValueError:
        pass  # a length or an integer that is not one
    raise ProtocolError(f"not a RESP2 reply: {bytes(buf[pos : end + 2])!r}")


# Packing ----------------------------------------------------------------------------------

# Command names and options the store sends, packed once; array headers of common lengths.
_PACKED: Final[dict[str, bytes]] = {
    word: b"$%d\r\n%s\r\n" % (len(word), word.encode())
    for word in ("SET", "NX", "GET", "EX", "PX", "EVALSHA", "SCRIPT", "LOAD", "PING")
}
_ARRAY: Final = [b"*%d\r\n" % count for count in range(32)]


def pack(words: Sequence[Word]) -> bytes:
    """One command as a RESP array of bulk strings (str as UTF-8, numbers in decimal)."""
    count = len(words)
    out = [_ARRAY[count] if count < 32 else b"*%d\r\n" % count]
    for word in words:
        if isinstance(word, str):
            packed = _PACKED.get(word)
            if packed is not None:
                out.append(packed)
                continue
            data = word.encode()
        elif isinstance(word, bytes):
            data = word
        elif isinstance(word, int):
            data = b"%d" % word
        else:
            data = repr(word).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


_SET = b"*%d\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n%b$2\r\nEX\r\n$%d\r\n%d\r\n"
_NX_GET = b"$2\r\nNX\r\n$3\r\nGET\r\n"


def set_command(key: bytes, value: bytes, ttl: int, *, nx_get: bool = False) -> bytes:
    """pack(["SET", key, value, "NX", "GET", "EX", ttl]) (or without NX GET), in one step:
    the two commands of every push."""
    return _SET % (
        7 if nx_get else 5,
        len(key),
        key,
        len(value),
        value,
        _NX_GET if nx_get else b"",
        len(str(ttl)),
        ttl,
    )


# The connection ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """Where and how to connect (stores/redis.py takes them from its redis-py client)."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # a unix socket instead of host and port
    # TLS: a context, or what makes one on the first connection (a bad CA file then fails
    # connections, as with redis-py, instead of the start-up).
    ssl: ssl.SSLContext | Callable[[], ssl.SSLContext] | None = None
    username: str | None = None
    password: str | None = None
    db: int = 0
    client_name: str | None = None
    connect_timeout: float | None = None
    socket_timeout: float | None = None
    keepalive: bool = True


class _Connection(asyncio.Protocol):
    """One transport: writes batches, parses replies, resolves futures in order."""

    def __init__(self, client: RespClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[_Entry] = deque()  # written, reply not yet read
        self.ready = False  # connected and handshaken: its commands may be retried
        self.dropped = False
        self.lost: asyncio.Future[None] = loop.create_future()  # done at connection_lost
        self._buf = bytearray()
        self._timeout = client.options.socket_timeout
        # The write time of each batch still (partly) unanswered, with the running count of
        # commands written up to its end; one timer checks the oldest one.
        self._batches: deque[tuple[int, float]] = deque()
        self._written = 0
        self._answered = 0
        self._timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports have asyncio.Transport's methods without deriving from it)
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.client.options.keepalive:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def data_received(self, data: bytes) -> None:
        buf: bytes | bytearray = data
        if self._buf:
            self._buf += data
            buf = self._buf
        waiting = self.waiting
        pos = 0
        size = len(buf)
        answered = 0
        try:
            while pos < size:
                value, pos_after = parse(buf, pos)
                if value is INCOMPLETE:
                    break
                pos = pos_after
                if not waiting:
                    raise ProtocolError("a reply nobody asked for")
                future = waiting.popleft()[0]
                answered += 1
                if future.done():  # its caller gave up (cancelled)
                    continue
                if isinstance(value, RespError):
                    future.set_exception(value)
                else:
                    future.set_result(value)
        except RecursionError:  # a reply nested absurdly deep: only a hostile server sends it
            self.client._drop(self, ProtocolError("redis reply nested too deep"), retry=False)
            return
        except ProtocolError as exc:  # nothing can be matched any more: no retry either
            self.client._drop(self, exc, retry=False)
            return
        self._answered += answered
        if pos >= size:
            self._buf = bytearray()
        elif buf is data:
            self._buf = bytearray(data[pos:])
        else:
            del self._buf[:pos]
        if not waiting:
            self._batches.clear()

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.dropped:
            reason = f": {exc}" if exc is not None else " by the server"
            self.client._drop(self, RespConnectionError("redis connection closed" + reason))

    # Used by RespClient

    def write(self, batch: list[_Entry]) -> None:
        assert self.transport is not None
        self.transport.write(b"".join([entry[1] for entry in batch]))
        self.waiting.extend(batch)
        self._written += len(batch)
        if self._timeout is not None:
            now = self.loop.time()
            self._batches.append((self._written, now))
            if self._timer is None:
                self._timer = self.loop.call_at(now + self._timeout, self._check)

    def _check(self) -> None:
        """The timer: fail everything if the oldest outstanding reply is overdue."""
        self._timer = None
        if self._timeout is None or self.dropped:
            return
        batches = self._batches
        while batches and batches[0][0] <= self._answered:
            batches.popleft()
        if not batches or not self.waiting:
            return  # nothing outstanding: the next write arms the timer again
        due = batches[0][1] + self._timeout
        if self.loop.time() >= due:
            error = RespTimeoutError(f"no reply from redis within {self._timeout}s")
            self.client._drop(self, error, retry=False)
        else:
            self._timer = self.loop.call_at(due, self._check)

    def close(self) -> None:
        self.dropped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.abort()


class RespClient:
    """Pipelined commands on one lazily (re)opened connection; replies as redis-py gives them
    with decode_responses off (bytes, int, list, None)."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.writes = 0  # transport writes so far (one per flushed batch)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: _Connection | None = None  # connected and ready
        self._connecting: asyncio.Task[None] | None = None
        self._queue: list[_Entry] = []  # sent, not yet written
        self._scheduled = False
        self._handshake: list[bytes] = []
        if options.password is not None:
            auth: list[Word] = ["AUTH", options.password]
            if options.username:
                auth.insert(1, options.username)
            self._handshake.append(pack(auth))
        if options.client_name:
            self._handshake.append(pack(["CLIENT", "SETNAME", options.client_name]))
        if options.db:
            self._handshake.append(pack(["SELECT", options.db]))

    def send(self, *words: Word) -> asyncio.Future[Any]:
        """Queue one command ("SET", key, value, "EX", 60) without awaiting it: its reply or
        error lands in the returned future (for a reply nobody waits for: add a done-callback).
        """
        return self.send_packed(pack(words))

    def send_packed(self, command: bytes) -> asyncio.Future[Any]:
        """send() for a command already packed (see set_command)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        future = loop.create_future()
        self._queue.append((future, command, False))
        if not self._scheduled:
            # After the callbacks already queued in this turn: they may add their commands too.
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def send_quiet(self, on_error: Callable[[BaseException], None], command: bytes) -> None:
        """Queue one packed command whose reply nobody waits for; an error reply or a lost
        connection calls `on_error` (from the event loop, at once)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        self._queue.append((_Quiet(on_error), command, False))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)

    async def execute(self, *words: Word) -> Any:
        """Send one command and return its reply; raises RespError for an error reply,
        RespConnectionError or RespTimeoutError if Redis could not answer."""
        return await self.send(*words)

    async def eval_script(self, script: Script, keys: Sequence[Word], args: Sequence[Word]) -> Any:
        """EVALSHA, loading the script once if Redis does not know it (NOSCRIPT)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self.send(*command)
        except NoScriptError:
            await self.send("SCRIPT", "LOAD", script.source)
            return await self.send(*command)

    async def aclose(self, grace: float = 1.0) -> None:
        """Wait up to `grace` seconds for the commands in flight, then close the connection;
        what is still unanswered fails with RespConnectionError. A later command reconnects."""
        if self._loop is not asyncio.get_running_loop():
            self._loop = None  # never used, or on another loop: nothing to close here
            return
        if self._queue:
            self._flush()
        entries = list(self._queue)
        if self._conn is not None:
            entries += self._conn.waiting
        loop = self._loop
        futures = [f if isinstance(f, asyncio.Future) else f.waiter(loop) for f, _, _ in entries]
        if futures:
            await asyncio.wait(futures, timeout=grace)
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        error = RespConnectionError("redis client closed")
        self._fail(self._queue, error)
        self._queue = []
        conn = self._conn
        if conn is not None:
            self._drop(conn, error, retry=False)
            await asyncio.wait([conn.lost], timeout=grace)  # the socket is closed by then

    # Internals

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """First use, or use from another event loop: nothing of the old one can be reused."""
        error = RespConnectionError("redis client moved to another event loop")
        for entry, _, _ in self._queue:  # commands nobody awaits still hear of it
            if isinstance(entry, _Quiet):
                entry.set_exception(error)
        self._loop = loop
        self._conn = None
        self._connecting = None
        self._queue = []
        self._scheduled = False

    def _flush(self) -> None:
        self._scheduled = False
        conn = self._conn
        if conn is None:
            if self._connecting is None and self._queue:
                assert self._loop is not None
                self._connecting = self._loop.create_task(self._connect())
            return
        queue, self._queue = self._queue, []
        batch = [entry for entry in queue if not entry[0].done()]  # not cancelled meanwhile
        if batch:
            conn.write(batch)
            self.writes += 1

    async def _connect(self) -> None:
        """Open a connection for what is queued; a refused connection is tried once more for
        the commands that were not tried already."""
        try:
            while self._queue:
                try:
                    self._conn = await self._open()
                except (AuthenticationError, RespTimeoutError) as exc:
                    self._fail(self._queue, exc)
                    self._queue = []
                    return
                except OSError as exc:
                    error = RespConnectionError(f"cannot connect to redis: {exc}")
                    self._queue = self._retry_once(self._queue, error)
                    continue
                break
        finally:
            self._connecting = None
        self._flush()

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        options = self.options
        conn: _Connection | None = None

        def factory() -> _Connection:
            nonlocal conn
            conn = _Connection(self, loop)
            return conn

        try:
            async with asyncio.timeout(options.connect_timeout):
                if options.path is not None:
                    await loop.create_unix_connection(factory, options.path)
                else:
                    tls = options.ssl() if callable(options.ssl) else options.ssl
                    await loop.create_connection(factory, options.host, options.port, ssl=tls)
                assert conn is not None
                if self._handshake:
                    replied: list[asyncio.Future[Any]] = [
                        loop.create_future() for _ in self._handshake
                    ]
                    handshake: list[_Entry] = [
                        (f, data, True) for f, data in zip(replied, self._handshake, strict=True)
                    ]
                    conn.write(handshake)
                    replies = await asyncio.gather(*replied, return_exceptions=True)
                    for reply in replies:
                        if isinstance(reply, RespError):
                            error = f"redis refused the connection: {reply}"
                            raise AuthenticationError(error) from reply
                        if isinstance(reply, BaseException):
                            raise reply
                if conn.dropped:  # lost right after the handshake
                    raise RespConnectionError("redis connection closed while connecting")
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, TimeoutError) and not isinstance(exc, RespTimeoutError):
                raise RespTimeoutError(
                    f"no connection to redis within {options.connect_timeout}s"
                ) from exc
            raise
        conn.ready = True
        return conn

    def _drop(self, conn: _Connection, error: Exception, *, retry: bool = True) -> None:
        """The connection is unusable: its outstanding commands fail, or (a lost connection)
        go out once more on a fresh one."""
        if conn.dropped:
            return
        outstanding = list(conn.waiting)
        conn.waiting.clear()
        conn.close()
        if conn is self._conn:
            self._conn = None
        if retry and conn.ready and isinstance(error, RespConnectionError):
            again = self._retry_once(outstanding, error)
            if again:
                self._queue[:0] = again
                self._flush()
        else:
            self._fail(outstanding, error)

    @staticmethod
    def _retry_once(entries: list[_Entry], error: Exception) -> list[_Entry]:
        """Fail the entries tried already; the others, marked as tried, are returned."""
        again = []
        for future, data, tried in entries:
            if future.done():
                continue
            if tried:
                future.set_exception(error)
            else:
                again.append((future, data, True))
        return again

    @staticmethod
    def _fail(entries: list[_Entry], error: Exception) -> None:
        for entry in entries:
            if not entry[0].done():
                entry[0].set_exception(error)


class Script:
    """A Lua script known by its SHA-1, for RespClient.eval_script."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
