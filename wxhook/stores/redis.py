"""The Redis store: dedup shared by every process and replica (redis.asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from ..config import StoreConfig
from . import DONE, PENDING, Existing, StoreUnavailable
from .resp import Options, RespClient, RespError, set_command

log = logging.getLogger("wxhook.store")

PREFIX = "wxhook:dedup:"
URLS = "wxhook:url:"  # a plain push's signed URL -> the digest of the body it came with
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


def _existing(value: object, mine: bytes = b"") -> Existing | None:
    # decode_responses stays off, so values come back as bytes. Our own token: we own the key.
    if not isinstance(value, bytes) or value == mine:
        return None
    return Existing.decode(value)


def resp_options(client: aioredis.Redis) -> Options:
    """The hot-path client's connection options: those of the redis-py client, parsed by
    redis-py itself from the URL and the keyword arguments (host and port or a unix socket,
    TLS with the URL's ssl_* options, username, password, db, client name, timeouts)."""
    pool = client.connection_pool
    conn = pool.connection_class(**pool.connection_kwargs)  # parses, connects nothing
    if conn.credential_provider is not None:
        raise ValueError("a redis credential_provider is not supported by the store")
    common: dict[str, Any] = {
        "username": conn.username,
        "password": conn.password,
        "db": int(conn.db),
        "client_name": conn.client_name,
        "connect_timeout": conn.socket_connect_timeout,
        "socket_timeout": conn.socket_timeout,
    }
    if isinstance(conn, UnixDomainSocketConnection):
        return Options(path=conn.path, **common)
    tls = conn.ssl_context.get if isinstance(conn, SSLConnection) else None  # on first use
    host, port, keepalive = conn.host, conn.port, conn.socket_keepalive  # type: ignore[attr-defined]
    return Options(host=host, port=port, ssl=tls, keepalive=keepalive, **common)


class RedisStore:
    """SET NX EX claims: the first delivery owns a key; retries find its reply there."""

    def __init__(
        self, client: aioredis.Redis, *, failures_max: int = 1000, bound: float = 2.0
    ) -> None:
        self._client = client
        self.bound = bound
        self._failures_max = failures_max
        self._set_get = True  # SET NX GET needs Redis >= 7.0; fall back once if refused
        # The hot path (claims, stored replies) goes through a small pipelined client on one
        # connection of its own, with the same options (bench/PROFILE.md, items 1 and 7).
        self._resp = RespClient(resp_options(client))
        self._unlock = client.register_script(_UNLOCK)
        # Failure records Redis could not take yet: kept (bounded) and written when it is back.
        self._unsent: deque[str] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()  # one writer at a time keeps the backlog in order

    @classmethod
    def from_config(cls, config: StoreConfig) -> RedisStore:
        """Connect lazily with short timeouts so a dead Redis cannot eat the 5-second budget."""
        kwargs: dict[str, Any] = {
            "socket_timeout": config.socket_timeout,
            "socket_connect_timeout": config.connect_timeout,
            "max_connections": config.max_connections,
            # After a Redis restart every pooled connection is dead: retry once on a fresh one,
            # so that each of them does not turn into a failed-open claim (a handler run twice).
            # Not on timeouts: a slow Redis must not eat twice the budget. A retried claim that
            # did reach Redis finds its own token and still owns the key.
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            "retry_on_error": [RedisConnectionError],  # redis-py < 6 retries only these
            "health_check_interval": 30,
        }
        if config.password:
            kwargs["password"] = config.password
        client = aioredis.Redis.from_url(config.url, **kwargs)
        # A command: connect and reply timeouts, twice with the retry on a dead connection.
        bound = 2 * (config.connect_timeout + config.socket_timeout)
        return cls(client, failures_max=config.failures_max, bound=bound)

    async def claim(self, key: str, ttl: int) -> Existing | None:
        # PENDING plus a token of this claim: if a retried command finds the token, it is ours.
        mine = PENDING + os.urandom(8).hex().encode()
        try:
            if self._set_get:
                try:
                    # One round trip: set if absent, and get what was there if not.
                    old = await self._resp.send_packed(
                        set_command((PREFIX + key).encode(), mine, ttl, nx_get=True)
                    )
                    return _existing(old, mine)
                except RespError as exc:
                    # Redis < 7: SET takes NX or GET, not both ("ERR syntax error"). Any other
                    # error (OOM, LOADING, READONLY...) is this claim's, not the server's kind.
                    if "syntax error" not in str(exc).lower():
                        raise
                    self._set_get = False
            if await self._client.set(PREFIX + key, mine, nx=True, ex=ttl):
                return None
            return _existing(await self._client.get(PREFIX + key), mine)
        except (RedisError, RespError, OSError) as exc:
            raise StoreUnavailable(f"redis claim failed: {exc}") from exc

    async def remember_url(self, key: str, digest: str, ttl: int) -> bool:
        name, value = URLS + key, digest.encode()
        try:
            if self._set_get:
                try:
                    # One single-key command: keep the first digest, get the one already there.
                    old = await self._resp.send_packed(
                        set_command(name.encode(), value, ttl, nx_get=True)
                    )
                    return isinstance(old, bytes) and old != value
                except RespError as exc:
                    if "syntax error" not in str(exc).lower():  # Redis < 7: as in claim()
                        raise
                    self._set_get = False
            if await self._client.set(name, value, nx=True, ex=ttl):
                return False
            seen = await self._client.get(name)
            return isinstance(seen, bytes) and seen != value
        except (RedisError, RespError, OSError) as exc:
            raise StoreUnavailable(f"redis remember_url failed: {exc}") from exc

    async def complete(self, key: str, reply: bytes, ttl: int) -> None:
        try:
            await self._resp.send_packed(set_command((PREFIX + key).encode(), DONE + reply, ttl))
        except (RespError, OSError) as exc:
            raise StoreUnavailable(f"redis store of a reply failed: {exc}") from exc

    def complete_soon(
        self, key: str, reply: bytes, ttl: int, on_error: Callable[[StoreUnavailable], None]
    ) -> None:
        """complete() without a task: the SET joins the next pipeline; a failure calls on_error."""

        def failed(exc: BaseException) -> None:
            on_error(StoreUnavailable(f"redis store of a reply failed: {exc}"))

        self._resp.send_quiet(failed, set_command((PREFIX + key).encode(), DONE + reply, ttl))

    async def wait_done(self, key: str, within: float) -> bytes | None:
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        attempt = 0
        while (left := end - loop.time()) > 0:
            # The caller has just seen the key pending: wait before each read, not after.
            await asyncio.sleep(min(_POLL[min(attempt, len(_POLL) - 1)], left))
            attempt += 1
            try:
                found = _existing(await self._client.get(PREFIX + key))
            except (RedisError, OSError) as exc:
                raise StoreUnavailable(f"redis read failed: {exc}") from exc
            if found is not None and found.done:
                return found.reply
        return None

    async def record_failure(self, entry: Mapping[str, Any]) -> str:
        data = json.dumps(dict(entry), ensure_ascii=False, default=str)
        async with self._writing:
            try:
                await self._flush()  # the backlog first: records stay in the order they failed
                return await self._add(data)
            except (RedisError, OSError) as exc:
                self._keep(data)
                if self._flusher is None or self._flusher.done():
                    self._flusher = asyncio.get_running_loop().create_task(self._flush_later())
                raise StoreUnavailable(
                    f"redis failure record failed, kept in memory until Redis answers: {exc}"
                ) from exc

    def _keep(self, data: str) -> None:
        if len(self._unsent) >= self._failures_max:
            # Over the bound the oldest goes to the log, whole, rather than nowhere.
            log.error("failure record dropped from the Redis backlog: %s", self._unsent.popleft())
        self._unsent.append(data)

    async def _add(self, data: str) -> str:
        failure_id = await self._client.xadd(
            FAILURES, {"data": data}, maxlen=self._failures_max, approximate=False
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
                except (RedisError, OSError):
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
            items = await self._client.xrevrange(FAILURES, count=limit)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis read failed: {exc}") from exc
        # Newest failure first: records kept through an outage got their ids when written.
        return sorted(self._rows(items), key=lambda r: float(r.get("time", 0)), reverse=True)

    async def failure(self, failure_id: str) -> dict[str, Any] | None:
        try:
            items = await self._client.xrange(FAILURES, min=failure_id, max=failure_id)
        except ResponseError:
            return None  # not a stream id at all
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis read failed: {exc}") from exc
        rows = self._rows(items)
        return rows[0] if rows else None

    async def remove_failure(self, failure_id: str) -> bool:
        try:
            return bool(await self._client.xdel(FAILURES, failure_id))
        except ResponseError:
            return False
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis delete failed: {exc}") from exc

    async def get_value(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(VALUES + key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis read failed: {exc}") from exc
        return value if isinstance(value, bytes) else None

    async def set_value(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self._client.set(VALUES + key, value, px=max(int(ttl * 1000), 1))
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis write failed: {exc}") from exc

    async def lock(self, key: str, owner: str, ttl: float) -> bool:
        try:
            return bool(
                await self._client.set(LOCKS + key, owner, nx=True, px=max(int(ttl * 1000), 1))
            )
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis lock failed: {exc}") from exc

    async def unlock(self, key: str, owner: str) -> None:
        try:
            await self._unlock(keys=[LOCKS + key], args=[owner])
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis unlock failed: {exc}") from exc

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis ping failed: {exc}") from exc

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        async with self._writing:
            with contextlib.suppress(RedisError, OSError):
                await self._flush()  # a last try for records kept while Redis was down
            for data in self._unsent:
                log.error("failure record not stored (Redis unreachable at shutdown): %s", data)
            self._unsent.clear()
        await self._resp.aclose()
        await self._client.aclose()
