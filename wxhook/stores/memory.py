"""The embedded default store: one process, TTL and a size bound, no Redis needed."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from . import DONE, PENDING, Existing, StoreUnavailable

NONCE_PREFIX = "nonce|"


def _never(exc: StoreUnavailable) -> None:  # pragma: no cover - nothing here fails
    raise exc


LOCK_PREFIX = "lock|"


class MemoryStore:
    """Dedup within one process; duplicates wait on an asyncio.Event, not by polling."""

    bound = 0.0  # nothing here waits

    def __init__(
        self,
        *,
        max_keys: int = 100_000,
        failures_max: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._events: dict[str, asyncio.Event] = {}
        self._failures: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._failures_max = failures_max
        # Shared values and locks: a handful of keys (access tokens), kept apart from dedup keys
        # so that eviction of the oldest dedup keys never drops them.
        self._values: dict[str, tuple[float, bytes]] = {}
        self._ids = itertools.count(1)
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

    async def remember_url(self, key: str, digest: str, ttl: int) -> bool:
        seen = self._get(NONCE_PREFIX + key)
        if seen is None:
            self._set(NONCE_PREFIX + key, digest.encode(), ttl)
            return False
        return seen != digest.encode()

    async def claim(self, key: str, ttl: int) -> Existing | None:
        value = self._get(key)
        if value is not None:
            return Existing.decode(value)
        self._set(key, PENDING, ttl)
        return None

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

    async def record_failure(self, entry: Mapping[str, Any]) -> str:
        # Shaped like a Redis stream id, so both stores' ids read the same.
        failure_id = f"{int(time.time() * 1000)}-{next(self._ids)}"
        self._failures[failure_id] = {**entry, "id": failure_id}
        while len(self._failures) > self._failures_max:
            self._failures.popitem(last=False)
        return failure_id

    async def failures(self, limit: int = 100) -> list[dict[str, Any]]:
        return [dict(v) for v in itertools.islice(reversed(self._failures.values()), limit)]

    async def failure(self, failure_id: str) -> dict[str, Any] | None:
        found = self._failures.get(failure_id)
        return dict(found) if found is not None else None

    async def remove_failure(self, failure_id: str) -> bool:
        return self._failures.pop(failure_id, None) is not None

    async def get_value(self, key: str) -> bytes | None:
        item = self._values.get(key)
        return item[1] if item is not None and item[0] > self._clock() else None

    async def set_value(self, key: str, value: bytes, ttl: float) -> None:
        self._values[key] = (self._clock() + ttl, value)

    async def lock(self, key: str, owner: str, ttl: float) -> bool:
        held = self._values.get(LOCK_PREFIX + key)
        if held is not None and held[0] > self._clock():
            return False
        self._values[LOCK_PREFIX + key] = (self._clock() + ttl, owner.encode())
        return True

    async def unlock(self, key: str, owner: str) -> None:
        held = self._values.get(LOCK_PREFIX + key)
        if held is not None and held[1] == owner.encode():
            del self._values[LOCK_PREFIX + key]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._events.clear()
