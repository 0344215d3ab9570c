"""The store, split by concern, each in memory (memory.py) and on Redis (redis.py):

- `DedupStore`: atomic claims of a push's dedup key and the reply stored for its retries;
- `FailureLog`: records of handler failures, for `wxhook failures list|replay`;
- `SharedValues`: small values shared by every process (the access-token cache) and locks.

`open_store(config)` gives a `Store`: the three over one connection, which it pings and closes.
Consumers take only the part they need.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import StoreConfig
from ..core import WxhookError

PENDING = b"P"  # claimed, the first delivery is still working
DONE = b"R"  # followed by the rendered plaintext reply (possibly empty)


class StoreUnavailable(WxhookError):
    """The store could not be reached; the caller fails open."""


@dataclass(frozen=True, slots=True)
class Existing:
    """What a duplicate finds under its key."""

    done: bool
    reply: bytes = b""

    @classmethod
    def decode(cls, value: bytes) -> Existing:
        """Parse a stored value."""
        return cls(True, value[1:]) if value[:1] == DONE else cls(False)


@dataclass(frozen=True, slots=True)
class NonceGuard:
    """A plaintext push's signed URL and the digest of its body, remembered before the claim.

    Plain mode's signature does not cover the body, so a URL seen before with another body is
    either a forgery or a genuine push that drew the same (timestamp, nonce): it is counted and
    handled, or refused (ReplayError) when `refuse` (security.refuse_url_reuse) is set.
    """

    key: str
    digest: str
    ttl: int
    refuse: bool = False


class DedupStore(Protocol):
    """Atomic claims of dedup keys, and the first delivery's reply kept for its retries."""

    # The longest a call may take before it fails by itself (the store's own timeouts):
    # callers with more time left than this need no timer of their own.
    bound: float

    async def claim(self, key: str, ttl: int) -> Existing | None:
        """Claim `key` for `ttl` seconds; None if we own it now, else what is already there."""

    async def remember_url(self, key: str, digest: str, ttl: int) -> bool:
        """Keep the body digest a signed URL came with, for ttl seconds (the first digest
        wins, set if absent); True if that URL was seen before with ANOTHER digest."""

    async def complete(self, key: str, reply: bytes, ttl: int) -> None:
        """Store the first delivery's rendered reply under its key."""

    def complete_soon(
        self, key: str, reply: bytes, ttl: int, on_error: Callable[[StoreUnavailable], None]
    ) -> None:
        """complete() without awaiting it (and without a task): the hot path's stored reply;
        a failure is passed to `on_error`."""

    async def wait_done(self, key: str, within: float) -> bytes | None:
        """The reply once the first delivery has stored it, or None after `within` seconds."""


class FailureLog(Protocol):
    """Records of handler failures (bounded), each with an id, for `wxhook failures`."""

    async def record(self, entry: Mapping[str, Any]) -> str:
        """Keep a record of a failure; returns its id.

        If the store cannot take it now, it is kept in the process and written later, and
        StoreUnavailable is raised so the caller can count the outage.
        """

    async def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        """The most recent records, newest first, each with its "id"."""

    async def get(self, failure_id: str) -> dict[str, Any] | None:
        """One record by id, or None."""

    async def remove(self, failure_id: str) -> bool:
        """Delete a record (after a successful replay); False if it was not there."""


class SharedValues(Protocol):
    """Small values and locks shared by every process and replica."""

    async def get(self, key: str) -> bytes | None:
        """A small shared value (the access-token cache), or None."""

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Keep a small shared value for `ttl` seconds."""

    async def lock(self, key: str, owner: str, ttl: float) -> bool:
        """Take a lock for `ttl` seconds unless someone holds it; True if we have it now."""

    async def unlock(self, key: str, owner: str) -> None:
        """Release a lock, only if `owner` still holds it."""


class Connection(Protocol):
    """What the three stores share: pinged for readiness, closed once at shutdown."""

    bound: float  # as DedupStore.bound

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    async def close(self) -> None:
        """Write what is pending and release the connections."""


@dataclass(frozen=True, slots=True)
class Store:
    """The store the config names: its three parts, over one connection."""

    dedup: DedupStore
    failures: FailureLog
    values: SharedValues
    connection: Connection

    @property
    def bound(self) -> float:
        """The longest one store call may take before it fails by itself."""
        return self.connection.bound

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        await self.connection.ping()

    async def close(self) -> None:
        """Write what is pending and release the connections."""
        await self.connection.close()


def open_store(config: StoreConfig) -> Store:
    """The store the config names: memory://, or Redis (one node by its URL, Sentinel, or
    Cluster)."""
    if config.topology == "memory":
        from .memory import memory_store

        return memory_store(max_keys=config.memory_max_keys, failures_max=config.failures_max)
    from .redis import redis_store

    return redis_store(config)


__all__ = [
    "DONE",
    "PENDING",
    "Connection",
    "DedupStore",
    "Existing",
    "FailureLog",
    "NonceGuard",
    "SharedValues",
    "Store",
    "StoreUnavailable",
    "open_store",
]
