"""Handler tasks from start to end, and the work that outlives a push's response: the caps
(dispatch.max_background), dispatch.background_timeout, cancellation (each cut handler leaves a
failure record), shedding over dispatch.max_in_flight, and the drain at shutdown."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..core import BaseMessage, ReplyError
from ..loop import start_task
from ..router import Context, Handler
from .handlers import HandlerReply, HandlerTask, decided, run_handler
from .ports import HandlerObserver
from .records import FailureRecords

log = logging.getLogger("wxhook.dispatch")

# Called once with a push's reply (None: none) when it is known after the response went out.
WhenDecided = Callable[[HandlerReply | None], Awaitable[None]]


def _wake(waiter: asyncio.Future[None], *_: object) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Supervisor:
    """Tracks every handler task until it ends, and everything started after a response."""

    def __init__(
        self,
        records: FailureRecords,
        observer: HandlerObserver,
        *,
        background_timeout: float,
        max_background: int,
        max_in_flight: int,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.records = records
        self.background_timeout = background_timeout
        self.max_background = max_background
        self.max_in_flight = max_in_flight
        self._observer = observer
        self._clock = clock
        self._wall = wall
        # Every handler task still running, with what a failure record needs to replay it.
        self._running: dict[HandlerTask, tuple[Handler, BaseMessage, Context]] = {}
        self._in_background: set[HandlerTask] = set()  # running after their response
        self._cut: set[HandlerTask] = set()  # cut and recorded: never recorded twice
        self._waiters: dict[HandlerTask, asyncio.Future[None]] = {}  # _wait_for_one's, by task
        self._tasks: set[asyncio.Task[Any]] = set()  # follow-ups, stored replies, typing

    @property
    def in_flight(self) -> int:
        """Handler tasks running now, before or after their response."""
        return len(self._running)

    @property
    def background(self) -> int:
        """Handlers still running after their response went out."""
        return len(self._in_background)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task for work after a response; drain() waits for it, then cancels it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def has_room(self, handlers: int) -> bool:
        """False when starting `handlers` more would pass max_in_flight; with nothing running,
        one push always starts."""
        running = len(self._running)
        return not handlers or not running or running + handlers <= self.max_in_flight

    def shed(self, handlers: list[Handler], message: BaseMessage, ctx: Context) -> None:
        """Start none of a push's handlers (over max_in_flight): record each for a replay."""
        log.error(
            "dispatch.max_in_flight (%d) reached: %s not started, recorded for "
            "`wxhook failures replay` (dedup key %s)",
            self.max_in_flight,
            message.type,
            ctx.dedup_key,
        )
        why = f"overloaded: dispatch.max_in_flight={self.max_in_flight} handlers were running"
        for handler in handlers:  # one record per handler: each is replayed on its own
            self.records.write_soon(handler, message, ctx, why)

    # Handler tasks -------------------------------------------------------------------------

    def start(self, handler: Handler, message: BaseMessage, ctx: Context) -> HandlerTask:
        """Start one handler (eagerly where Python can: it may be done already)."""
        task = start_task(
            asyncio.get_running_loop(), self._run(handler, message, ctx), handler.name
        )
        if task.done():  # answered without waiting
            return task
        self._running[task] = (handler, message, ctx)
        self._observer.handler_started()
        task.add_done_callback(self._handler_done)
        return task

    def _handler_done(self, task: HandlerTask) -> None:
        self._running.pop(task, None)
        waiter = self._waiters.pop(task, None)
        if waiter is not None:
            _wake(waiter)
        self._cut.discard(task)
        self._observer.handler_ended()

    async def _run(
        self, handler: Handler, message: BaseMessage, ctx: Context
    ) -> HandlerReply | None:
        started = self._clock()
        try:
            return await run_handler(handler, message, ctx, wall=self._wall)
        except asyncio.CancelledError:
            self._observer.handler_failed(handler.name)
            raise
        except Exception as exc:
            self._observer.handler_failed(handler.name)
            event = getattr(message, "event", "")
            log.error(
                "handler %s failed on %s%s (dedup key %s): %s: %s",
                handler.name,
                message.type,
                f"/{event}" if event else "",
                ctx.dedup_key,
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, ReplyError),
            )
            if asyncio.current_task() not in self._cut:  # a cut handler raising on its way out
                self.records.write_soon(
                    handler,
                    message,
                    ctx,
                    f"{type(exc).__name__}: {exc}",
                    trace="".join(traceback.format_exception(exc)),
                )
            return None
        finally:
            self._observer.handler_ran(handler.name, self._clock() - started)

    def cut(self, tasks: list[HandlerTask], why: str) -> None:
        """Cancel handler tasks and record each as a failure, so none is lost silently."""
        for task in tasks:
            job = self._running.get(task)
            task.cancel()
            if job is not None and task not in self._cut:
                self._cut.add(task)
                handler, message, ctx = job
                self.records.write_soon(handler, message, ctx, why)

    # Waiting for the reply -----------------------------------------------------------------

    async def decide(
        self, tasks: list[HandlerTask], until: float | None
    ) -> tuple[bool, HandlerReply | None]:
        """Wait until the reply is decided (decided()), or until the monotonic time `until`."""
        if len(tasks) == 1 and until is not None:
            return await self._wait_for_one(tasks[0], until - self._clock())
        while True:
            done, result = decided(tasks)
            if done:
                return True, result
            left = None if until is None else until - self._clock()
            if left is not None and left <= 0:
                return False, None
            pending = {t for t in tasks if not t.done()}
            await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)

    async def _wait_for_one(
        self, task: HandlerTask, left: float
    ) -> tuple[bool, HandlerReply | None]:
        """decide() for the usual single handler: what asyncio.wait(timeout=left) does, without
        sets and a closure; the task's own done callback (_handler_done) ends this wait."""
        if not task.done():
            if left <= 0:
                return False, None
            # A running task from start() is in _running, and _handler_done runs when it ends.
            loop = task.get_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            timer = loop.call_later(left, _wake, waiter)
            self._waiters[task] = waiter
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiters.pop(task, None)
            if not task.done():
                return False, None
        return decided([task])

    # After the response --------------------------------------------------------------------

    def release(self, tasks: list[HandlerTask], key: str, when_decided: WhenDecided | None) -> None:
        """Hand a push's handlers still running to the background, within max_background.

        `when_decided` (a push answered empty at the deadline) is called once with the reply,
        as soon as it is known, or with None once every handler has ended or been cut.
        """
        leftovers = [t for t in tasks if not t.done()]
        if not leftovers and when_decided is None:
            return
        if len(self._in_background) + len(leftovers) > self.max_background:
            log.error(
                "%d handler(s) cancelled: dispatch.max_background (%d) reached (dedup key %s)",
                len(leftovers),
                self.max_background,
                key,
            )
            self.cut(leftovers, f"cancelled: dispatch.max_background={self.max_background} reached")
        else:
            for task in leftovers:
                self._to_background(task)
        self.spawn(self._follow_up(tasks, leftovers, key, when_decided))

    def _to_background(self, task: HandlerTask) -> None:
        self._in_background.add(task)
        self._observer.background_started()

        def done(t: HandlerTask) -> None:
            self._in_background.discard(t)
            self._observer.background_ended()

        task.add_done_callback(done)

    async def _follow_up(
        self,
        tasks: list[HandlerTask],
        leftovers: list[HandlerTask],
        key: str,
        when_decided: WhenDecided | None,
    ) -> None:
        """A late reply is passed on as soon as it is known; handlers still running are bounded
        by background_timeout."""
        end = self._clock() + self.background_timeout
        if when_decided is not None:
            done, reply = await self.decide(tasks, end)
            if done:
                await when_decided(reply)
                when_decided = None
        running = [t for t in leftovers if not t.done()]
        if running:
            _, cut = await asyncio.wait(running, timeout=max(end - self._clock(), 0))
            if cut:
                log.error(
                    "%d background handler(s) cut after dispatch.background_timeout=%.0fs "
                    "(dedup key %s): %s",
                    len(cut),
                    self.background_timeout,
                    key,
                    ", ".join(t.get_name() for t in cut),
                )
                self.cut(
                    list(cut),
                    f"TimeoutError: still running after "
                    f"dispatch.background_timeout={self.background_timeout:g}s",
                )
                await asyncio.wait(cut, timeout=1.0)
        if when_decided is not None:
            # One may have finished while the others were being cut: its reply still counts.
            done, reply = decided(tasks)
            await when_decided(reply if done else None)

    async def drain(self, grace: float) -> list[str]:
        """Wait up to `grace` seconds for background work; cancel and name what is left.

        Handlers cut here leave failure records, and records being written are waited for (a
        few seconds more), not cancelled.
        """
        writing = self.records.writing
        end = self._clock() + grace
        while True:
            # Re-read each round: a failing handler records its failure in a new task.
            running = {t for t in self._tasks | self._in_background | writing if not t.done()}
            left = end - self._clock()
            if not running or left <= 0:
                break
            await asyncio.wait(running, timeout=left)
        handlers = [t for t in running if t in self._running]
        self.cut(handlers, f"cancelled at shutdown after server.shutdown_grace={grace:g}s")
        others = [t for t in running if t not in writing]
        for task in others:
            task.cancel()
        if others:
            # Let them take the cancellation (a delivery cut mid-send records itself), but a
            # handler that swallows cancellation must not hold the shutdown forever.
            await asyncio.wait(others, timeout=1.0)
        unfinished = {t for t in writing if not t.done()}
        if unfinished:
            _, late = await asyncio.wait(unfinished, timeout=5.0)
            for task in late:
                task.cancel()  # FailureRecords.write logs the entry it could not store
        return sorted(t.get_name() for t in handlers)
