"""The embedded default store: one process, TTL and a size bound, no Redis needed."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from . import DONE, PENDING, Existing, Store, StoreUnavailable

URL_PREFIX = "url|"


def _never(exc: StoreUnavailable) -> None:  # pragma: no cover - nothing here fails
    raise exc


class MemoryDedup:
    """Dedup within one process; duplicates wait on an asyncio.Event, not by polling."""

    bound = 0.0  # nothing here waits

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._events: dict[str, asyncio.Event] = {}
        self._max_keys = max_keys
        self._clock = clock

    def _get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._data[key]
            return None
        return item[1]

    def _set(self, key: str, value: bytes, ttl: int) -> None:
        self._data[key] = (self._clock() + ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max_keys:
            self._data.popitem(last=False)

    async def claim(self, key: str, ttl: int) -> Existing | None:
        value = self._get(key)
        if value is not None:
            return Existing.decode(value)
        self._set(key, PENDING, ttl)
        return None

    async def remember_url(self, key: str, digest: str, ttl: int) -> bool:
        seen = self._get(URL_PREFIX + key)
        if seen is None:
            self._set(URL_PREFIX + key, digest.encode(), ttl)
            return False
        return seen != digest.encode()

    async def complete(self, key: str, reply: bytes, ttl: int) -> None:
        self.complete_soon(key, reply, ttl, _never)

    def complete_soon(
        self, key: str, reply: bytes, ttl: int, on_error: Callable[[StoreUnavailable], None]
    ) -> None:
        self._set(key, DONE + reply, ttl)  # in memory: done at once, it cannot fail
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    async def wait_done(self, key: str, within: float) -> bytes | None:
        value = self._get(key)
        if value is None or value[:1] != DONE:
            event = self._events.setdefault(key, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), within)
            except TimeoutError:
                return None
            value = self._get(key)
        return Existing.decode(value).reply if value is not None and value[:1] == DONE else None


class MemoryFailureLog:
    """The newest `max_records` failure records of this process."""

    def __init__(self, *, max_records: int = 1000) -> None:
        self._records: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._max_records = max_records
        self._ids = itertools.count(1)

    async def record(self, entry: Mapping[str, Any]) -> str:
        # Shaped like a Redis stream id, so both stores' ids read the same.
        failure_id = f"{int(time.time() * 1000)}-{next(self._ids)}"
        self._records[failure_id] = {**entry, "id": failure_id}
        while len(self._records) > self._max_records:
            self._records.popitem(last=False)
        return failure_id

    async def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        return [dict(v) for v in itertools.islice(reversed(self._records.values()), limit)]

    async def get(self, failure_id: str) -> dict[str, Any] | None:
        found = self._records.get(failure_id)
        return dict(found) if found is not None else None

    async def remove(self, failure_id: str) -> bool:
        return self._records.pop(failure_id, None) is not None


class MemoryValues:
    """Shared values and locks of one process: a handful of keys (access tokens), kept apart
    from dedup keys so that evicting the oldest dedup keys never drops them."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._values: dict[str, tuple[float, bytes]] = {}  # key -> (expires at, value)
        self._locks: dict[str, tuple[float, bytes]] = {}  # key -> (expires at, owner)
        self._clock = clock

    async def get(self, key: str) -> bytes | None:
        item = self._values.get(key)
        return item[1] if item is not None and item[0] > self._clock() else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._values[key] = (self._clock() + ttl, value)

    async def lock(self, key: str, owner: str, ttl: float) -> bool:
        held = self._locks.get(key)
        if held is not None and held[0] > self._clock():
            return False
        self._locks[key] = (self._clock() + ttl, owner.encode())
        return True

    async def unlock(self, key: str, owner: str) -> None:
        held = self._locks.get(key)
        if held is not None and held[1] == owner.encode():
            del self._locks[key]


class InProcess:
    """The memory store's connection: nothing to reach, so always ready, nothing to close."""

    bound = 0.0

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


def memory_store(
    *,
    max_keys: int = 100_000,
    failures_max: int = 1000,
    clock: Callable[[], float] = time.monotonic,
) -> Store:
    """The three stores of one process (store.url = "memory://")."""
    return Store(
        dedup=MemoryDedup(max_keys=max_keys, clock=clock),
        failures=MemoryFailureLog(max_records=failures_max),
        values=MemoryValues(clock=clock),
        connection=InProcess(),
    )
