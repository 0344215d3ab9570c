"""The Redis store: dedup shared by every process and replica (redis.asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from redis.asyncio.client import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from ..config import StoreConfig
from . import DONE, PENDING, Existing, StoreUnavailable
from .batch import Batcher

log = logging.getLogger("wxhook.store")
T = TypeVar("T")

PREFIX = "wxhook:dedup:"
URLS = "wxhook:url:"  # a signed URL's first body digest (StoreConfig: security's replay window)
# Every command and script below touches one key, so each works on a Redis Cluster as it is;
# the commands a pipeline carries together go, on a cluster, each to the node of its key.
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


class Topology:
    """The redis-py client for the configured topology, and how to name it in errors."""

    def __init__(self, client: Any, where: str, others: tuple[Any, ...] = ()) -> None:
        self.client = client  # Redis (one node, or Sentinel's primary) or RedisCluster
        self.where = where  # the nodes this client tries, for logs and errors
        self.others = others  # more clients to close (the sentinels')

    @classmethod
    def from_config(cls, config: StoreConfig) -> Topology:
        """Connect lazily with short timeouts so a dead Redis cannot eat the 5-second budget."""
        common: dict[str, Any] = {
            # No timer per reply: every batch and every other command is cut as a whole at
            # RedisStore.bound (connect and reply timeouts, twice), which drops its connection.
            "socket_timeout": None,
            "socket_connect_timeout": config.connect_timeout,
            "max_connections": config.max_connections,
            "health_check_interval": 30,
        }
        if config.password:
            common["password"] = config.password
        # After a Redis restart every pooled connection is dead: retry once on a fresh one,
        # so that each of them does not turn into a failed-open claim (a handler run twice).
        # Not on timeouts: a slow Redis must not eat twice the budget. A retried claim that
        # did reach Redis finds its own token and still owns the key.
        once: dict[str, Any] = {
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            "retry_on_error": [RedisConnectionError],
        }
        if config.topology == "cluster":
            # One retry, after a refresh of the slot map (a primary replaced by its replica);
            # partial coverage keeps the healthy shards usable while one is failing over.
            cluster = RedisCluster.from_url(
                config.url, retry=Retry(NoBackoff(), 1), require_full_coverage=False, **common
            )
            return cls(cluster, f"cluster node {_address(config.url)} and the nodes it names")
        if config.topology == "sentinel":
            return cls._sentinel(config, {**common, **once})
        client = Redis.from_url(config.url, **common, **once)
        return cls(client, _address(config.url))

    @classmethod
    def _sentinel(cls, config: StoreConfig, kwargs: dict[str, Any]) -> Topology:
        # The url, if any, gives only the database, the credentials and TLS options: the
        # sentinels say where the primary is, and again after each failover.
        if not config.url.startswith("memory://"):
            options: dict[str, Any] = dict(parse_url(config.url))
            for name in ("host", "port", "path"):
                options.pop(name, None)
            if options.pop("connection_class", None) is SSLConnection:
                options["ssl"] = True
            kwargs = {**options, **kwargs}
        sentinel_kwargs: dict[str, Any] = {
            "socket_timeout": config.socket_timeout,
            "socket_connect_timeout": config.connect_timeout,
        }
        if config.sentinel_password:
            sentinel_kwargs["password"] = config.sentinel_password
        nodes = [
            (host, int(port)) for host, _, port in (n.rpartition(":") for n in config.sentinels)
        ]
        sentinel = Sentinel(nodes, sentinel_kwargs=sentinel_kwargs)
        # The primary's pool asks the sentinels on each new connection and drops connections
        # to a primary that was demoted (READONLY): dedup comes back by itself after failover.
        client = sentinel.master_for(config.sentinel_service, redis_class=Redis, **kwargs)
        where = f"sentinels {', '.join(config.sentinels)} (service {config.sentinel_service!r})"
        return cls(client, where, tuple(sentinel.sentinels))


def _address(url: str) -> str:
    """host:port or the socket path a one-node URL names, without credentials."""
    options = parse_url(url)
    if options.get("connection_class") is UnixDomainSocketConnection:
        return str(options.get("path"))
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"


def _consume(future: asyncio.Future[Any]) -> None:
    # A reply nobody needs: read its error, if any, so asyncio does not log it as lost.
    if not future.cancelled():
        future.exception()


class RedisStore:
    """SET NX EX claims: the first delivery owns a key; retries find its reply there."""

    def __init__(
        self,
        client: Any,
        *,
        failures_max: int = 1000,
        bound: float = 2.0,
        where: str = "redis",
        others: tuple[Any, ...] = (),
    ) -> None:
        self._client = client
        self.bound = bound
        self.where = where
        self._others = others
        self._failures_max = failures_max
        self._set_get = True  # SET NX GET needs Redis >= 7.0; fall back once if refused
        # Concurrent pushes share one pipeline round trip (bench/redis_store.py).
        self._batch = Batcher(client, bound=bound)
        self._unlock = client.register_script(_UNLOCK)
        # Failure records Redis could not take yet: kept (bounded) and written when it is back.
        self._unsent: deque[str] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()  # one writer at a time keeps the backlog in order

    @classmethod
    def from_config(cls, config: StoreConfig) -> RedisStore:
        topology = Topology.from_config(config)
        # A command: connect and reply timeouts, twice with the retry on a dead connection;
        # the batches of the hot path are cut there on every topology.
        bound = 2 * (config.connect_timeout + config.socket_timeout)
        return cls(
            topology.client,
            failures_max=config.failures_max,
            bound=bound,
            where=topology.where,
            others=topology.others,
        )

    async def _call(self, command: Awaitable[T]) -> T:
        """One command outside the batches, cut at the store's bound like a batch."""
        async with asyncio.timeout(self.bound):
            return await command

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
            raise StoreUnavailable(f"redis claim failed ({self.where}): {exc}") from exc

    async def remember_url(self, key: str, digest: str, ttl: int) -> bool:
        try:
            seen = await self._set_if_absent((URLS + key).encode(), digest.encode(), b"%d" % ttl)
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis url check failed ({self.where}): {exc}") from exc
        return isinstance(seen, bytes) and seen != digest.encode()

    async def complete(self, key: str, reply: bytes, ttl: int) -> None:
        try:
            await self._batch.send("SET", (PREFIX + key).encode(), DONE + reply, b"EX", b"%d" % ttl)
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis store of a reply failed ({self.where}): {exc}") from exc

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
                found = _existing(await self._call(self._client.get(PREFIX + key)))
            except _ERRORS as exc:
                raise StoreUnavailable(f"redis read failed ({self.where}): {exc}") from exc
            if found is not None and found.done:
                return found.reply
        return None

    async def record_failure(self, entry: Mapping[str, Any]) -> str:
        data = json.dumps(dict(entry), ensure_ascii=False, default=str)
        async with self._writing:
            try:
                await self._flush()  # the backlog first: records stay in the order they failed
                return await self._add(data)
            except _ERRORS as exc:
                self._keep(data)
                if self._flusher is None or self._flusher.done():
                    self._flusher = asyncio.get_running_loop().create_task(self._flush_later())
                raise StoreUnavailable(
                    f"redis failure record failed ({self.where}), kept in memory until Redis "
                    f"answers: {exc}"
                ) from exc

    def _keep(self, data: str) -> None:
        if len(self._unsent) >= self._failures_max:
            # Over the bound the oldest goes to the log, whole, rather than nowhere.
            log.error("failure record dropped from the Redis backlog: %s", self._unsent.popleft())
        self._unsent.append(data)

    async def _add(self, data: str) -> str:
        failure_id = await self._call(
            self._client.xadd(
                FAILURES, {"data": data}, maxlen=self._failures_max, approximate=False
            )
        )
        return failure_id.decode() if isinstance(failure_id, bytes) else str(failure_id)

    async def _flush(self) -> None:
        """Write the backlog (the caller holds self._writing)."""
        while self._unsent:
            await self._add(self._unsent[0])
            self._unsent.popleft()

    async def _flush_later(self) -> None:
        attempt = 0
        while self._unsent:
            await asyncio.sleep(_FLUSH_BACKOFF[min(attempt, len(_FLUSH_BACKOFF) - 1)])
            attempt += 1
            async with self._writing:
                try:
                    await self._flush()
                except _ERRORS:
                    continue
        log.info("failure records kept during the Redis outage are written")

    @property
    def unsent_failures(self) -> int:
        """Failure records waiting for Redis to come back."""
        return len(self._unsent)

    @staticmethod
    def _rows(items: Any) -> list[dict[str, Any]]:
        rows = []
        for failure_id, fields in items or ():
            row: dict[str, Any] = json.loads(fields[b"data"])
            row["id"] = failure_id.decode() if isinstance(failure_id, bytes) else str(failure_id)
            rows.append(row)
        return rows

    async def failures(self, limit: int = 100) -> list[dict[str, Any]]:
        try:
            items = await self._call(self._client.xrevrange(FAILURES, count=limit))
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis read failed ({self.where}): {exc}") from exc
        # Newest failure first: records kept through an outage got their ids when written.
        return sorted(self._rows(items), key=lambda r: float(r.get("time", 0)), reverse=True)

    async def failure(self, failure_id: str) -> dict[str, Any] | None:
        try:
            items = await self._call(self._client.xrange(FAILURES, min=failure_id, max=failure_id))
        except ResponseError:
            return None  # not a stream id at all
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis read failed ({self.where}): {exc}") from exc
        rows = self._rows(items)
        return rows[0] if rows else None

    async def remove_failure(self, failure_id: str) -> bool:
        try:
            return bool(await self._call(self._client.xdel(FAILURES, failure_id)))
        except ResponseError:
            return False
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis delete failed ({self.where}): {exc}") from exc

    async def get_value(self, key: str) -> bytes | None:
        try:
            value = await self._call(self._client.get(VALUES + key))
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis read failed ({self.where}): {exc}") from exc
        return value if isinstance(value, bytes) else None

    async def set_value(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self._call(self._client.set(VALUES + key, value, px=max(int(ttl * 1000), 1)))
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis write failed ({self.where}): {exc}") from exc

    async def lock(self, key: str, owner: str, ttl: float) -> bool:
        try:
            return bool(
                await self._call(
                    self._client.set(LOCKS + key, owner, nx=True, px=max(int(ttl * 1000), 1))
                )
            )
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis lock failed ({self.where}): {exc}") from exc

    async def unlock(self, key: str, owner: str) -> None:
        try:
            await self._call(self._unlock(keys=[LOCKS + key], args=[owner]))
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis unlock failed ({self.where}): {exc}") from exc

    async def ping(self) -> None:
        try:
            if isinstance(self._client, RedisCluster):
                # Ready when every primary answers: a lost replica does not stop the pushes.
                await self._call(self._client.ping(target_nodes=RedisCluster.PRIMARIES))
            else:
                await self._call(self._client.ping())
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis ping failed, tried {self.where}: {exc}") from exc

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        async with self._writing:
            with contextlib.suppress(*_ERRORS):
                await self._flush()  # a last try for records kept while Redis was down
            for data in self._unsent:
                log.error("failure record not stored (Redis unreachable at shutdown): %s", data)
            self._unsent.clear()
        await self._batch.aclose()
        await self._client.aclose()
        for other in self._others:
            await other.aclose()
