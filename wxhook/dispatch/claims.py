"""The dedup step of a push: the signed URL's body remembered, the claim, duplicates answered
from their first delivery, the reply stored for retries. The store may fail: a push is then
handled without a claim (fail open), never dropped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..core import ReplayError
from ..logs import FloodGate, client_errors
from ..stores import DedupStore, Existing, NonceGuard, StoreUnavailable
from .ports import PushObserver, StoreObserver

log = logging.getLogger("wxhook.dispatch")
T = TypeVar("T")


class StoreOutage:
    """Failed store calls: each one counted, one log line per outage."""

    def __init__(self, observer: StoreObserver) -> None:
        self._observer = observer
        # Pushes handled without a claim since the store stopped answering; None while it does.
        self._unclaimed: int | None = None

    def call_failed(self, operation: str, exc: BaseException) -> None:
        """A store call other than the claim failed; the caller goes on without it."""
        self._observer.store_error(operation)
        if self._unclaimed is None:  # during an outage its one line has said so already
            log.warning("store %s failed, continuing without dedup: %s", operation, exc)

    def failed_open(self, account: str, operation: str, exc: BaseException) -> None:
        """A push handled without a claim."""
        self._observer.store_error(operation)
        self._observer.failed_open(account)
        if self._unclaimed is None:
            self._unclaimed = 0
            log.warning(
                "store unavailable, handling pushes without dedup (%s failed: %s)",
                operation,
                str(exc) or type(exc).__name__,
            )
        self._unclaimed += 1

    def claimed(self) -> None:
        """A claim went through: an outage, if there was one, is over."""
        if self._unclaimed is None:
            return
        handled, self._unclaimed = self._unclaimed, None
        log.warning(
            "store available again: %d push(es) were handled without dedup during the outage "
            "(a WeChat retry among them may have run its handlers twice)",
            handled,
        )


class Claims:
    """Claims and stored replies in the dedup store, bounded by each push's deadline."""

    def __init__(
        self,
        dedup: DedupStore,
        outage: StoreOutage,
        observer: PushObserver,
        *,
        clock: Callable[[], float],
        log_gate: FloodGate = client_errors,
    ) -> None:
        self.dedup = dedup
        self.outage = outage
        self._observer = observer
        self._clock = clock
        # Anyone who captured one signed plain-mode URL can send it again with any body, as
        # often as they like: the lines about it go through the flood gate; the metric counts all.
        self._log_gate = log_gate

    async def claim(
        self, account: str, key: str, ttl: int, guard: NonceGuard | None, deadline_at: float
    ) -> tuple[bool, Existing | None]:
        """(claimed, what a duplicate finds): (True, None) if this push owns `key` now, (False,
        None) if it is handled without a claim, (False, existing) for a duplicate.

        `guard` (plain mode): the signed URL's body is remembered first; ReplayError if it came
        before with another body and `guard.refuse`.
        """
        operation = "remember_url"
        try:
            if guard is not None and await self._bounded(
                self.dedup.remember_url(guard.key, guard.digest, guard.ttl), deadline_at
            ):
                self._url_reused(account, guard)
            operation = "claim"
            existing = await self._bounded(self.dedup.claim(key, ttl), deadline_at)
        except (StoreUnavailable, TimeoutError) as exc:
            # Fail open: handle it, never drop it (a failed remember_url skips the claim too:
            # the store is down or slow, and the deadline is shared).
            self.outage.failed_open(account, operation, exc)
            return False, None
        self.outage.claimed()
        return existing is None, existing

    async def _bounded(self, store_call: Awaitable[T], deadline_at: float) -> T:
        """A store call, ended by the deadline if the store's own timeouts would not end it
        in time."""
        left = deadline_at - self._clock()
        if self.dedup.bound < left:  # the store's own timeouts end it in time: no timer
            return await store_call
        async with asyncio.timeout(max(left, 0)):
            return await store_call

    def _url_reused(self, account: str, guard: NonceGuard) -> None:
        """A plain push's signed URL came before with another body: count it; refuse it only
        when asked to (security.refuse_url_reuse), since genuine pushes can share a URL."""
        self._observer.url_reused(account)
        if guard.refuse:
            raise ReplayError()
        if self._log_gate.allow("url_reuse"):
            log.warning(
                "account %s: a signed URL came again with another body, handled as a new push "
                "(a forgery, or two pushes with one timestamp and nonce: plain mode cannot tell; "
                "safe mode can)",
                account,
            )

    async def duplicate_reply(
        self, account: str, key: str, existing: Existing, deadline_at: float
    ) -> bytes:
        """A retry's answer: its first delivery's reply, once stored (b"" at the deadline)."""
        self._observer.duplicate(account)
        reply = existing.reply
        if not existing.done:
            try:
                found = await self.dedup.wait_done(key, max(deadline_at - self._clock(), 0))
            except StoreUnavailable as exc:
                self.outage.call_failed("wait", exc)
                found = None
            reply = found or b""
        log.info("duplicate delivery of %s answered from the first one", key)
        return reply

    async def complete(self, key: str, rendered: bytes, ttl: int) -> None:
        """Store a push's reply for its retries (after its response)."""
        try:
            await self.dedup.complete(key, rendered, ttl)
        except StoreUnavailable as exc:
            self.outage.call_failed("complete", exc)

    def complete_soon(self, key: str, rendered: bytes, ttl: int) -> None:
        """Store a reply for retries without a task (the reply in time, on every push)."""
        self.dedup.complete_soon(key, rendered, ttl, self._complete_failed)

    def _complete_failed(self, exc: StoreUnavailable) -> None:
        self.outage.call_failed("complete", exc)
