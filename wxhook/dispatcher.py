"""Dedup claim -> route -> run handlers under the deadline -> reply or empty; knows asyncio only."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .core import BaseMessage, Reply, ReplyError, dedup_key, render_reply
from .core.replies import as_reply
from .metrics import Metrics
from .router import Context, Handler, Router, State
from .stores import Store, StoreUnavailable

log = logging.getLogger("wxhook.dispatch")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to answer: the rendered plaintext reply (b"" for none) and how it came about."""

    reply: bytes
    outcome: str  # "replied", "empty" or "duplicate"
    dedup_key: str
    deadline_missed: bool = False
    handlers: int = 0


class Dispatcher:
    """Runs the handlers for one message at a time; tracks what outlives its response."""

    def __init__(
        self,
        router: Router,
        store: Store,
        *,
        metrics: Metrics,
        deadline: float = 4.5,
        background_timeout: float = 60.0,
        max_background: int = 1000,
        dedup_ttl: int = 300,
        state: State | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.store = store
        self.metrics = metrics
        self.deadline = deadline
        self.background_timeout = background_timeout
        self.max_background = max_background
        self.dedup_ttl = dedup_ttl
        self.state = state if state is not None else State()
        self._clock = clock
        self._wall = wall
        self._handlers_in_background: set[asyncio.Task[Reply | None]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    # Bookkeeping ---------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def background(self) -> int:
        """Handlers still running after their response went out."""
        return len(self._handlers_in_background)

    def _to_background(self, task: asyncio.Task[Reply | None]) -> None:
        self._handlers_in_background.add(task)
        self.metrics.background.inc()

        def done(t: asyncio.Task[Reply | None]) -> None:
            self._handlers_in_background.discard(t)
            self.metrics.background.dec()

        task.add_done_callback(done)

    def _store_failed(self, op: str, exc: BaseException) -> None:
        self.metrics.store_errors.labels(op).inc()
        log.warning("store %s failed, continuing without dedup: %s", op, exc)

    # Handlers ------------------------------------------------------------------------------

    async def _run(self, handler: Handler, message: BaseMessage, ctx: Context) -> Reply | None:
        started = self._clock()
        try:
            return as_reply(await handler(message, ctx))
        except asyncio.CancelledError:
            self.metrics.handler_errors.labels(handler.name).inc()
            raise
        except Exception as exc:
            self.metrics.handler_errors.labels(handler.name).inc()
            log.error(
                "handler %s failed on %s%s (dedup key %s): %s: %s",
                handler.name,
                message.type,
                f"/{getattr(message, 'event', '')}" if getattr(message, "event", "") else "",
                ctx.dedup_key,
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, ReplyError),
            )
            self._spawn(self._record(handler, message, ctx, exc))
            return None
        finally:
            self.metrics.handler_seconds.labels(handler.name).observe(self._clock() - started)

    async def _record(
        self, handler: Handler, message: BaseMessage, ctx: Context, exc: BaseException
    ) -> None:
        entry = {
            "time": self._wall(),
            "account": ctx.account,
            "handler": handler.name,
            "msg_type": message.type,
            "event": getattr(message, "event", ""),
            "dedup_key": ctx.dedup_key,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc)),
        }
        try:
            await self.store.record_failure(entry)
        except StoreUnavailable as err:
            self._store_failed("record_failure", err)

    @staticmethod
    def _decided(tasks: list[asyncio.Task[Reply | None]]) -> tuple[bool, Reply | None]:
        # The reply is the first non-None result in registration order, known as soon as every
        # handler registered before it has finished with None.
        for task in tasks:
            if not task.done():
                return False, None
            if not task.cancelled() and (result := task.result()) is not None:
                return True, result
        return True, None

    async def _select(
        self, tasks: list[asyncio.Task[Reply | None]], until: float | None
    ) -> tuple[bool, Reply | None]:
        pending = {t for t in tasks if not t.done()}
        while True:
            decided, reply = self._decided(tasks)
            if decided:
                return True, reply
            left = None if until is None else until - self._clock()
            if left is not None and left <= 0:
                return False, None
            _, pending = await asyncio.wait(
                pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )

    # The pipeline --------------------------------------------------------------------------

    async def dispatch(
        self,
        account: str,
        message: BaseMessage,
        *,
        arrived: float | None = None,
        arrived_wall: float | None = None,
    ) -> Outcome:
        """Answer one verified message within the deadline; never raises for handler faults."""
        arrived = self._clock() if arrived is None else arrived
        deadline_at = arrived + self.deadline
        key = dedup_key(message)

        claimed = False
        try:
            async with asyncio.timeout(max(deadline_at - self._clock(), 0)):
                existing = await self.store.claim(key, self.dedup_ttl)
            claimed = existing is None
        except (StoreUnavailable, TimeoutError) as exc:
            self._store_failed("claim", exc)  # fail open: handle it, never drop it
            existing = None
        if existing is not None:
            return await self._duplicate(account, key, existing.done, existing.reply, deadline_at)

        ctx = Context(
            account=account,
            arrived=self._wall() if arrived_wall is None else arrived_wall,
            deadline=deadline_at,
            dedup_key=key,
            logger=logging.LoggerAdapter(
                logging.getLogger("wxhook.handler"), {"account": account, "dedup_key": key}
            ),
            state=self.state,
        )
        try:
            handlers = self.router.resolve(message, ctx)
        except Exception:
            log.exception("a filter failed on %s (dedup key %s)", message.type, key)
            handlers = []
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._run(h, message, ctx), name=h.name) for h in handlers]
        decided, reply = await self._select(tasks, deadline_at)

        leftovers = [t for t in tasks if not t.done()]
        if leftovers:
            if len(self._handlers_in_background) + len(leftovers) > self.max_background:
                log.error(
                    "%d handlers cancelled: dispatch.max_background (%d) reached (dedup key %s)",
                    len(leftovers),
                    self.max_background,
                    key,
                )
                for t in leftovers:
                    t.cancel()
            else:
                for t in leftovers:
                    self._to_background(t)
        if decided:
            rendered = self._render(reply, message, key)
            if claimed:
                self._spawn(self._complete(key, rendered))
            if leftovers:
                self._spawn(self._bound(leftovers, key, None))
            return Outcome(rendered, "replied" if rendered else "empty", key, False, len(tasks))

        self.metrics.deadline_misses.labels(account).inc()
        log.warning(
            "deadline of %.1fs reached on %s (dedup key %s): answered empty, %d handler(s) "
            "go on in the background",
            self.deadline,
            message.type,
            key,
            len(leftovers),
        )
        self._spawn(self._bound(leftovers, key, (tasks, message) if claimed else None))
        return Outcome(b"", "empty", key, True, len(tasks))

    def _render(self, reply: Reply | None, message: BaseMessage, key: str) -> bytes:
        try:
            return render_reply(reply, message, now=int(self._wall()))
        except Exception:
            log.exception("rendering the reply failed (dedup key %s)", key)
            return b""

    async def _complete(self, key: str, rendered: bytes) -> None:
        try:
            await self.store.complete(key, rendered, self.dedup_ttl)
        except StoreUnavailable as exc:
            self._store_failed("complete", exc)

    async def _bound(
        self,
        leftovers: list[asyncio.Task[Reply | None]],
        key: str,
        late: tuple[list[asyncio.Task[Reply | None]], BaseMessage] | None,
    ) -> None:
        """Let handlers finish after the response, up to background_timeout; keep a late reply."""
        _, pending = await asyncio.wait(leftovers, timeout=self.background_timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.error(
                "%d background handler(s) cut after dispatch.background_timeout=%.0fs "
                "(dedup key %s)",
                len(pending),
                self.background_timeout,
                key,
            )
            await asyncio.wait(pending)
        if late is not None:
            # A retry of this push (if WeChat sends one) gets the reply the handlers produced.
            tasks, message = late
            _, reply = self._decided(tasks)
            await self._complete(key, self._render(reply, message, key))

    async def _duplicate(
        self, account: str, key: str, done: bool, reply: bytes, deadline_at: float
    ) -> Outcome:
        self.metrics.dedup_hits.labels(account).inc()
        if not done:
            try:
                found = await self.store.wait_done(key, max(deadline_at - self._clock(), 0))
            except StoreUnavailable as exc:
                self._store_failed("wait", exc)
                found = None
            reply = found or b""
        log.info("duplicate delivery of %s answered from the first one", key)
        return Outcome(reply, "duplicate", key)

    async def drain(self, grace: float) -> list[str]:
        """Wait up to `grace` seconds for background work; cancel and name what is left."""
        tasks = set(self._tasks) | set(self._handlers_in_background)
        if not tasks:
            return []
        _, pending = await asyncio.wait(tasks, timeout=grace)
        cut = [t.get_name() for t in pending]
        for task in pending:
            task.cancel()
        if pending:
            # A handler that swallows cancellation must not hold the shutdown forever.
            await asyncio.wait(pending, timeout=1.0)
        return cut
