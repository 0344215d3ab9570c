"""The Redis stores: dedup, the failure log and shared values, over one redis-py client.

Every command and script here touches one key, so each works on a Redis Cluster as it is; the
commands a pipeline carries together go, on a cluster, each to the node of its key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from ..config import StoreConfig
from . import DONE, PENDING, Existing, Store, StoreUnavailable
from .batch import Batcher
from .topology import Topology

log = logging.getLogger("wxhook.store")
T = TypeVar("T")

PREFIX = "wxhook:dedup:"
URLS = "wxhook:url:"  # a signed URL's first body digest (StoreConfig: security's replay window)
# A capped stream: ids are times, XDEL removes one record, MAXLEN keeps it bounded.
FAILURES = "wxhook:failures:stream"
VALUES = "wxhook:value:"
LOCKS = "wxhook:lock:"
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_FLUSH_BACKOFF = (0.5, 1.0, 2.0, 5.0)  # retrying records kept while Redis was down
_POLL = (0.02, 0.05, 0.1, 0.2)  # a duplicate polls; duplicates are rare, so this stays cheap
# OSError: TimeoutError too (a batch past the store's bound); a cluster's own errors (no node
# reachable, a slot not covered) are not RedisErrors.
_ERRORS = (RedisError, RedisClusterException, OSError)


def _existing(value: object, mine: bytes = b"") -> Existing | None:
    # decode_responses stays off, so values come back as bytes. Our own token: we own the key.
    if not isinstance(value, bytes) or value == mine:
        return None
    return Existing.decode(value)


def _consume(future: asyncio.Future[Any]) -> None:
    # A reply nobody needs: read its error, if any, so asyncio does not log it as lost.
    if not future.cancelled():
        future.exception()


class RedisConnection:
    """The redis-py client the three Redis stores share; every command is cut at `bound`."""

    def __init__(
        self,
        client: Any,
        *,
        bound: float = 2.0,
        where: str = "redis",
        others: tuple[Any, ...] = (),
    ) -> None:
        self.client = client  # Redis (one node, or Sentinel's primary) or RedisCluster
        self.bound = bound
        self.where = where  # the nodes the client tries, for errors
        self._others = others  # more clients to close (the sentinels')
        self._before_close: list[Callable[[], Awaitable[None]]] = []

    @classmethod
    def from_config(cls, config: StoreConfig) -> RedisConnection:
        topology = Topology.from_config(config)
        # A command: connect and reply timeouts, twice with the retry on a dead connection;
        # the batches of the hot path are cut there on every topology.
        bound = 2 * (config.connect_timeout + config.socket_timeout)
        return cls(topology.client, bound=bound, where=topology.where, others=topology.others)

    async def call(self, command: Awaitable[T]) -> T:
        """One command outside the batches, cut at the bound like a batch."""
        async with asyncio.timeout(self.bound):
            return await command

    def unavailable(self, what: str, exc: BaseException) -> StoreUnavailable:
        """The error a caller sees when `what` failed."""
        return StoreUnavailable(f"redis {what} failed ({self.where}): {exc}")

    def before_close(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` at close, before the connections go (a store writing what it holds)."""
        self._before_close.append(step)

    async def ping(self) -> None:
        try:
            if isinstance(self.client, RedisCluster):
                # Ready when every primary answers: a lost replica does not stop the pushes.
                await self.call(self.client.ping(target_nodes=RedisCluster.PRIMARIES))
            else:
                await self.call(self.client.ping())
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis ping failed, tried {self.where}: {exc}") from exc

    async def close(self) -> None:
        for step in self._before_close:
            await step()
        await self.client.aclose()
        for other in self._others:
            await other.aclose()


class RedisDedup:
    """SET NX EX claims: the first delivery owns a key; retries find its reply there."""

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._client = connection.client
        self._set_get = True  # SET NX GET needs Redis >= 7.0; fall back once if refused
        # Concurrent pushes share one pipeline round trip.
        self._batch = Batcher(connection.client, bound=connection.bound)
        self.bound = self._batch.bound
        connection.before_close(self._batch.aclose)

    async def _set_if_absent(self, key: bytes, value: bytes, ttl: bytes) -> Any:
        """What was under `key` before (None: nothing, and `value` is there now)."""
        if self._set_get:
            try:
                # One round trip: set if absent, and get what was there if not.
                return await self._batch.send(
                    "SET", key, value, b"NX", b"GET", b"EX", ttl, get=True
                )
            except ResponseError as exc:
                # Redis < 7: SET takes NX or GET, not both ("ERR syntax error"). Any other
                # error (OOM, LOADING, READONLY...) is this command's, not the server's kind.
                if "syntax error" not in str(exc).lower():
                    raise
                self._set_get = False
        # Both in one pipeline, in this order, on the node of the key.
        was_set = self._batch.send("SET", key, value, b"NX", b"EX", ttl)
        old = self._batch.send("GET", key)
        old.add_done_callback(_consume)  # unread if the SET took the key (or failed)
        if await was_set:
            return None
        return await old

    async def claim(self, key: str, ttl: int) -> Existing | None:
        # PENDING plus a token of this claim: if a retried command finds the token, it is ours.
        mine = PENDING + os.urandom(8).hex().encode()
        try:
            old = await self._set_if_absent((PREFIX + key).encode(), mine, b"%d" % ttl)
            return _existing(old, mine)
        except _ERRORS as exc:
            raise self._connection.unavailable("claim", exc) from exc

    async def remember_url(self, key: str, digest: str, ttl: int) -> bool:
        try:
            seen = await self._set_if_absent((URLS + key).encode(), digest.encode(), b"%d" % ttl)
        except _ERRORS as exc:
            raise self._connection.unavailable("url check", exc) from exc
        return isinstance(seen, bytes) and seen != digest.encode()

    async def complete(self, key: str, reply: bytes, ttl: int) -> None:
        try:
            await self._batch.send("SET", (PREFIX + key).encode(), DONE + reply, b"EX", b"%d" % ttl)
        except _ERRORS as exc:
            raise self._connection.unavailable("store of a reply", exc) from exc

    def complete_soon(
        self, key: str, reply: bytes, ttl: int, on_error: Callable[[StoreUnavailable], None]
    ) -> None:
        """complete() without a task: the SET joins the next pipeline; a failure calls on_error."""
        future = self._batch.send("SET", (PREFIX + key).encode(), DONE + reply, b"EX", b"%d" % ttl)

        def done(f: asyncio.Future[Any]) -> None:
            if not f.cancelled() and (exc := f.exception()) is not None:
                on_error(StoreUnavailable(f"redis store of a reply failed: {exc}"))

        future.add_done_callback(done)

    async def wait_done(self, key: str, within: float) -> bytes | None:
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        attempt = 0
        while (left := end - loop.time()) > 0:
            # The caller has just seen the key pending: wait before each read, not after.
            await asyncio.sleep(min(_POLL[min(attempt, len(_POLL) - 1)], left))
            attempt += 1
            try:
                found = _existing(await self._connection.call(self._client.get(PREFIX + key)))
            except _ERRORS as exc:
                raise self._connection.unavailable("read", exc) from exc
            if found is not None and found.done:
                return found.reply
        return None


class RedisFailureLog:
    """Failure records in a capped stream; records Redis could not take wait in the process."""

    def __init__(self, connection: RedisConnection, *, max_records: int = 1000) -> None:
        self._connection = connection
        self._client = connection.client
        self._max_records = max_records
        # Records Redis could not take yet: kept (bounded) and written when it is back.
        self._unsent: deque[str] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()  # one writer at a time keeps the backlog in order
        connection.before_close(self._write_backlog_at_close)

    @property
    def unsent(self) -> int:
        """Records waiting for Redis to come back."""
        return len(self._unsent)

    async def record(self, entry: Mapping[str, Any]) -> str:
        data = json.dumps(dict(entry), ensure_ascii=False, default=str)
        async with self._writing:
            try:
                await self._write_backlog()  # first: records stay in the order they failed
                return await self._add(data)
            except _ERRORS as exc:
                self._keep(data)
                if self._flusher is None or self._flusher.done():
                    self._flusher = asyncio.get_running_loop().create_task(self._retry_backlog())
                raise StoreUnavailable(
                    f"redis failure record failed ({self._connection.where}), kept in memory "
                    f"until Redis answers: {exc}"
                ) from exc

    def _keep(self, data: str) -> None:
        if len(self._unsent) >= self._max_records:
            # Over the bound the oldest goes to the log, whole, rather than nowhere.
            log.error("failure record dropped from the Redis backlog: %s", self._unsent.popleft())
        self._unsent.append(data)

    async def _add(self, data: str) -> str:
        failure_id = await self._connection.call(
            self._client.xadd(FAILURES, {"data": data}, maxlen=self._max_records, approximate=False)
        )
        return failure_id.decode() if isinstance(failure_id, bytes) else str(failure_id)

    async def _write_backlog(self) -> None:
        """Write the records kept while Redis was down (the caller holds self._writing)."""
        while self._unsent:
            await self._add(self._unsent[0])
            self._unsent.popleft()

    async def _retry_backlog(self) -> None:
        attempt = 0
        while self._unsent:
            await asyncio.sleep(_FLUSH_BACKOFF[min(attempt, len(_FLUSH_BACKOFF) - 1)])
            attempt += 1
            async with self._writing:
                try:
                    await self._write_backlog()
                except _ERRORS:
                    continue
        log.info("failure records kept during the Redis outage are written")

    async def _write_backlog_at_close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        async with self._writing:
            with contextlib.suppress(*_ERRORS):
                await self._write_backlog()  # a last try
            for data in self._unsent:
                log.error("failure record not stored (Redis unreachable at shutdown): %s", data)
            self._unsent.clear()

    @staticmethod
    def _rows(items: Any) -> list[dict[str, Any]]:
        rows = []
        for failure_id, fields in items or ():
            row: dict[str, Any] = json.loads(fields[b"data"])
            row["id"] = failure_id.decode() if isinstance(failure_id, bytes) else str(failure_id)
            rows.append(row)
        return rows

    async def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        try:
            items = await self._connection.call(self._client.xrevrange(FAILURES, count=limit))
        except _ERRORS as exc:
            raise self._connection.unavailable("read", exc) from exc
        # Newest failure first: records kept through an outage got their ids when written.
        return sorted(self._rows(items), key=lambda r: float(r.get("time", 0)), reverse=True)

    async def get(self, failure_id: str) -> dict[str, Any] | None:
        try:
            items = await self._connection.call(
                self._client.xrange(FAILURES, min=failure_id, max=failure_id)
            )
        except ResponseError:
            return None  # not a stream id at all
        except _ERRORS as exc:
            raise self._connection.unavailable("read", exc) from exc
        rows = self._rows(items)
        return rows[0] if rows else None

    async def remove(self, failure_id: str) -> bool:
        try:
            return bool(await self._connection.call(self._client.xdel(FAILURES, failure_id)))
        except ResponseError:
            return False
        except _ERRORS as exc:
            raise self._connection.unavailable("delete", exc) from exc


class RedisValues:
    """Shared values (the access-token cache) and locks, one key each."""

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._client = connection.client
        self._unlock = connection.client.register_script(_UNLOCK)

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._connection.call(self._client.get(VALUES + key))
        except _ERRORS as exc:
            raise self._connection.unavailable("read", exc) from exc
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self._connection.call(
                self._client.set(VALUES + key, value, px=max(int(ttl * 1000), 1))
            )
        except _ERRORS as exc:
            raise self._connection.unavailable("write", exc) from exc

    async def lock(self, key: str, owner: str, ttl: float) -> bool:
        try:
            return bool(
                await self._connection.call(
                    self._client.set(LOCKS + key, owner, nx=True, px=max(int(ttl * 1000), 1))
                )
            )
        except _ERRORS as exc:
            raise self._connection.unavailable("lock", exc) from exc

    async def unlock(self, key: str, owner: str) -> None:
        try:
            await self._connection.call(self._unlock(keys=[LOCKS + key], args=[owner]))
        except _ERRORS as exc:
            raise self._connection.unavailable("unlock", exc) from exc


def redis_store(config: StoreConfig) -> Store:
    """The three Redis stores over one client of the configured topology (connects lazily)."""
    connection = RedisConnection.from_config(config)
    return Store(
        # Created first, so that at close its backlog is written before the batches end.
        failures=RedisFailureLog(connection, max_records=config.failures_max),
        dedup=RedisDedup(connection),
        values=RedisValues(connection),
        connection=connection,
    )
