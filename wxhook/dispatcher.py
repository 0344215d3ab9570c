"""Dedup claim -> route -> run handlers under the deadline -> reply or empty; knows asyncio only."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeAlias

from .api import WeChatAPI
from .core import (
    BaseMessage,
    ReplayError,
    ReplyError,
    WeChatAPIError,
    custom_message,
    dedup_key,
    parse_message,
    render_reply,
)
from .core.events import BaseEvent
from .core.replies import NewsReply, Reply, as_reply
from .loop import start_task
from .metrics import Metrics
from .router import TYPING_RENEW, Context, Handler, Router, State
from .stores import NonceGuard, Store, StoreUnavailable

log = logging.getLogger("wxhook.dispatch")
handler_log = logging.getLogger("wxhook.handler")


@dataclass(frozen=True, slots=True)
class Answer:
    """A handler's reply: rendered to plaintext XML for a passive reply, and as the object (for a
    customer-service message when it comes too late)."""

    xml: bytes
    reply: Reply
    handler: Handler


# A handler task's result: its answer, or None for no reply.
Result: TypeAlias = Answer | None
HandlerTask: TypeAlias = asyncio.Task[Result]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to answer: the rendered plaintext reply (b"" for none) and how it came about."""

    reply: bytes
    outcome: str  # "replied", "empty", "duplicate" or "shed" (over dispatch.max_in_flight)
    dedup_key: str
    deadline_missed: bool = False
    handlers: int = 0


def decided(tasks: list[HandlerTask]) -> tuple[bool, Result]:
    """The first non-None result in registration order, once every earlier handler is done."""
    for task in tasks:
        if not task.done():
            return False, None
        if not task.cancelled() and (result := task.result()) is not None:
            return True, result
    return True, None


@dataclass(frozen=True, slots=True)
class _Job:
    """One push being handled, as the work after its response needs it."""

    message: BaseMessage
    ctx: Context
    key: str
    ttl: int
    claimed: bool
    by_api: bool  # a late reply goes out as a customer-service message
    window_end: float = 0.0  # monotonic: WeChat accepts customer-service messages until then


# WeChat's customer-service windows (客服消息下发规则): a user's message opens 48 hours (5
# messages); a follow, a QR scan and the menu clicks that push an event open 1 minute (3
# messages); other events open none, so a late reply to them could not be delivered.
USER_MESSAGE_TYPES = frozenset(
    {"text", "image", "voice", "video", "shortvideo", "location", "link", "file"}
)
ONE_MINUTE_EVENTS = frozenset({"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg"})
_SAFETY = 2.0  # seconds kept in hand before a window closes


def _wake(waiter: asyncio.Future[None], *_: object) -> None:
    if not waiter.done():
        waiter.set_result(None)


def service_window(message: BaseMessage) -> float | None:
    """Seconds after a push during which customer-service messages may answer it, or None."""
    if isinstance(message, BaseEvent):
        return 60.0 if message.event.lower() in ONE_MINUTE_EVENTS else None
    return 48 * 3600.0 if message.type in USER_MESSAGE_TYPES else None


class Dispatcher:
    """Runs the handlers for each message; tracks what outlives its response."""

    def __init__(
        self,
        router: Router,
        store: Store,
        *,
        metrics: Metrics,
        deadline: float = 4.5,
        background_timeout: float = 60.0,
        max_background: int = 1000,
        max_in_flight: int = 1000,
        dedup_ttl: int = 300,
        state: State | None = None,
        api: WeChatAPI | None = None,
        late_replies: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.store = store
        self.metrics = metrics
        self.deadline = deadline
        self.background_timeout = background_timeout
        self.max_background = max_background
        self.max_in_flight = max_in_flight
        self.dedup_ttl = dedup_ttl
        # A claim stays pending while its handlers may still run, so a retry never runs them
        # again; if the process dies, the key frees itself after this (not after dedup_ttl).
        self.pending_ttl = math.ceil(deadline + background_timeout + 5)
        self.state = state if state is not None else State()
        self.api = api
        # Accounts whose replies that miss the deadline go out as customer-service messages.
        self.late_replies = frozenset(
            a for a in late_replies if api is not None and api.can_send(a)
        )
        self._clock = clock
        self._wall = wall
        self._handlers_in_background: set[HandlerTask] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Every handler task still running, with what a failure record needs to replay it.
        self._jobs: dict[HandlerTask, tuple[Handler, BaseMessage, Context]] = {}
        self._recorded: set[HandlerTask] = set()  # cut and recorded: never recorded twice
        self._waiting: dict[HandlerTask, asyncio.Future[None]] = {}  # _one's waits, by task
        self._records: set[asyncio.Task[None]] = set()  # failure records being written
        self._index: dict[int, int] | None = None
        self._typing_tasks: dict[str, asyncio.Task[None]] = {}
        self._sent_here: OrderedDict[str, None] = OrderedDict()  # delivery guard, store down

    def handler_index(self, handler: Handler) -> int:
        """The handler's position in the router (one function may be registered twice)."""
        if self._index is None:
            self._index = {id(h): i for i, h in enumerate(self.router.handlers())}
        return self._index.get(id(handler), -1)

    # Bookkeeping ---------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn_record(self, coro: Coroutine[Any, Any, None]) -> None:
        # Kept apart from other tasks: a shutdown waits for records instead of cancelling them.
        task = asyncio.get_running_loop().create_task(coro)
        self._records.add(task)
        task.add_done_callback(self._records.discard)

    @property
    def in_flight(self) -> int:
        """Handler tasks running now, before or after their response."""
        return len(self._jobs)

    def _start(self, handler: Handler, message: BaseMessage, ctx: Context) -> HandlerTask:
        loop = asyncio.get_running_loop()
        coro = self._run(handler, message, ctx)
        task = start_task(loop, coro, handler.name)
        if task.done():  # answered without waiting (started eagerly)
            return task
        self._jobs[task] = (handler, message, ctx)
        self.metrics.in_flight.inc()
        task.add_done_callback(self._job_done)
        return task

    def _job_done(self, task: HandlerTask) -> None:
        self._jobs.pop(task, None)
        waiter = self._waiting.pop(task, None)
        if waiter is not None:
            _wake(waiter)
        self._recorded.discard(task)
        self.metrics.in_flight.dec()

    def _cut(self, tasks: list[HandlerTask], why: str) -> None:
        """Cancel handler tasks and record each as a failure, so none is lost silently."""
        for task in tasks:
            job = self._jobs.get(task)
            task.cancel()
            if job is not None and task not in self._recorded:
                self._recorded.add(task)
                handler, message, ctx = job
                self._spawn_record(self._record(handler, message, ctx, why))

    @property
    def background(self) -> int:
        """Handlers still running after their response went out."""
        return len(self._handlers_in_background)

    def _to_background(self, task: HandlerTask) -> None:
        self._handlers_in_background.add(task)
        self.metrics.background.inc()

        def done(t: HandlerTask) -> None:
            self._handlers_in_background.discard(t)
            self.metrics.background.dec()

        task.add_done_callback(done)

    def _store_failed(self, op: str, exc: BaseException) -> None:
        self.metrics.store_errors.labels(op).inc()
        log.warning("store %s failed, continuing without dedup: %s", op, exc)

    # Handlers ------------------------------------------------------------------------------

    async def _run(self, handler: Handler, message: BaseMessage, ctx: Context) -> Result:
        started = self._clock()
        try:
            reply = as_reply(await handler(message, ctx))
            # Rendered here, so a reply that cannot be rendered is this handler's failure.
            xml = render_reply(reply, message, now=int(self._wall()))
            return Answer(xml, reply, handler) if xml and reply is not None else None
        except asyncio.CancelledError:
            self.metrics.handler_errors.labels(handler.name).inc()
            raise
        except Exception as exc:
            self.metrics.handler_errors.labels(handler.name).inc()
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
            task = asyncio.current_task()
            if task not in self._recorded:  # a cut handler that raised on its way out: once
                self._spawn_record(
                    self._record(
                        handler,
                        message,
                        ctx,
                        f"{type(exc).__name__}: {exc}",
                        "".join(traceback.format_exception(exc)),
                    )
                )
            return None
        finally:
            elapsed = self._clock() - started
            self.metrics.child(self.metrics.handler_seconds, handler.name).observe(elapsed)

    async def _record(
        self,
        handler: Handler | None,
        message: BaseMessage,
        ctx: Context,
        error: str,
        trace: str = "",
        delivery: dict[str, Any] | None = None,
        unknown: bool = False,
    ) -> None:
        """Keep what `wxhook failures replay` needs: the message's fields and the handler."""
        entry = {
            "time": self._wall(),
            "account": ctx.account,
            "handler": handler.name if handler is not None else "",
            "handler_index": self.handler_index(handler) if handler is not None else -1,
            "msg_type": message.type,
            "event": getattr(message, "event", ""),
            "dedup_key": ctx.dedup_key,
            "error": error,
            "traceback": trace,
            "raw": dict(message.raw),  # nested values are plain dicts and lists already
        }
        if delivery is not None:
            entry["delivery"] = delivery  # the customer-service message that did not go out
            entry["delivery_unknown"] = unknown  # it may have reached the user all the same
        self.metrics.failures_recorded.inc()
        try:
            await self.store.record_failure(entry)
        except StoreUnavailable as err:
            self._store_failed("record_failure", err)
        except asyncio.CancelledError:
            # Cut at shutdown before the store took it: the log keeps it, whole.
            log.error(
                "failure record not stored (shutdown): %s",
                json.dumps(entry, ensure_ascii=False, default=str),
            )
            raise

    async def _one(self, task: HandlerTask, left: float) -> tuple[bool, Result]:
        """_select for the usual single handler: what asyncio.wait(timeout=left) does for it,
        without building sets and a closure; the task's own done callback (_job_done) wakes
        this wait, so its end costs one callback, not two (this runs on every push whose
        handler waits for something)."""
        if not task.done():
            if left <= 0:
                return False, None
            # A running task from _start is in _jobs, and _job_done runs when it ends.
            loop = task.get_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            timer = loop.call_later(left, _wake, waiter)
            self._waiting[task] = waiter
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiting.pop(task, None)
            if not task.done():
                return False, None
        return decided([task])

    async def _select(self, tasks: list[HandlerTask], until: float | None) -> tuple[bool, Result]:
        """Wait until the reply is decided, or until the monotonic time `until`."""
        if len(tasks) == 1 and until is not None:
            return await self._one(tasks[0], until - self._clock())
        while True:
            done, result = decided(tasks)
            if done:
                return True, result
            left = None if until is None else until - self._clock()
            if left is not None and left <= 0:
                return False, None
            pending = {t for t in tasks if not t.done()}
            await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)

    # The pipeline --------------------------------------------------------------------------

    async def dispatch(
        self,
        account: str,
        message: BaseMessage,
        *,
        arrived: float | None = None,
        arrived_wall: float | None = None,
        guard: NonceGuard | None = None,
        keep_until: float | None = None,
    ) -> Outcome:
        """Answer one verified message within the deadline; never raises for handler faults.

        Raises ReplayError, before any handler runs, when `guard` shows a replayed URL.
        `keep_until` (wall clock) is when the request's signed timestamp stops being accepted:
        its dedup entry lives at least that long, so a replay is deduplicated or refused.
        """
        arrived = self._clock() if arrived is None else arrived
        deadline_at = arrived + self.deadline
        key = dedup_key(message, account)

        claimed = False
        try:
            left = deadline_at - self._clock()
            if self.store.bound < left:  # the store's own timeouts end it in time: no timer
                if guard is not None and await self.store.remember_url(
                    guard.key, guard.digest, guard.ttl
                ):
                    raise ReplayError()
                existing = await self.store.claim(key, self.pending_ttl)
            else:
                async with asyncio.timeout(max(left, 0)):
                    if guard is not None and await self.store.remember_url(
                        guard.key, guard.digest, guard.ttl
                    ):
                        raise ReplayError()
                    existing = await self.store.claim(key, self.pending_ttl)
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
            logger=logging.LoggerAdapter(handler_log, {"account": account, "dedup_key": key}),
            state=self.state,
            user=message.source,
            api=self.api,
        )
        ttl = self.dedup_ttl
        if keep_until is not None:
            ttl = max(ttl, math.ceil(keep_until - self._wall()) + 1)
        handlers = self.router.resolve(message, ctx)
        # Over the cap, new pushes wait for a replay; with nothing running, one always starts.
        if handlers and self.in_flight and self.in_flight + len(handlers) > self.max_in_flight:
            return await self._shed(message, ctx, handlers, key, ttl, claimed)
        tasks = [self._start(h, message, ctx) for h in handlers]
        done = False
        job: _Job | None = None
        try:
            done, answer = await self._select(tasks, deadline_at)
        finally:
            # Also when this request is cancelled: nothing started here is left untracked.
            if not done or not all(t.done() for t in tasks):
                window = service_window(message) if account in self.late_replies else None
                job = _Job(
                    message,
                    ctx,
                    key,
                    ttl,
                    claimed,
                    by_api=window is not None,
                    window_end=arrived + (window or 0.0) - _SAFETY,
                )
                self._release(tasks, job, late=not done)
        if not done:
            assert job is not None
            self.metrics.deadline_misses.labels(account).inc()
            log.warning(
                "deadline of %.1fs reached on %s (dedup key %s): answered empty, handlers go on "
                "in the background%s",
                self.deadline,
                message.type,
                key,
                "; a late reply goes out as a customer-service message" if job.by_api else "",
            )
            if job.by_api:
                self._typing_on(job)
            return Outcome(b"", "empty", key, True, len(tasks))
        xml = answer.xml if answer is not None else b""
        if claimed:  # stored for retries without a task per push
            self.store.complete_soon(key, xml, ttl, self._complete_failed)
        return Outcome(xml, "replied" if xml else "empty", key, False, len(tasks))

    async def _shed(
        self,
        message: BaseMessage,
        ctx: Context,
        handlers: list[Handler],
        key: str,
        ttl: int,
        claimed: bool,
    ) -> Outcome:
        """Over dispatch.max_in_flight: answer empty now, start nothing, keep it for a replay."""
        self.metrics.shed.labels(ctx.account).inc()
        log.error(
            "dispatch.max_in_flight (%d) reached: %s not started, recorded for "
            "`wxhook failures replay` (dedup key %s)",
            self.max_in_flight,
            message.type,
            key,
        )
        why = f"overloaded: dispatch.max_in_flight={self.max_in_flight} handlers were running"
        for handler in handlers:  # one record per handler: each is replayed on its own
            self._spawn_record(self._record(handler, message, ctx, why))
        if claimed:
            self._spawn(self._complete(key, b"", ttl))
        return Outcome(b"", "shed", key)

    def _release(self, tasks: list[HandlerTask], job: _Job, *, late: bool) -> None:
        """Hand the handlers still running to the background, within the configured limits."""
        key = job.key
        leftovers = [t for t in tasks if not t.done()]
        if not leftovers and not late:
            return
        if len(self._handlers_in_background) + len(leftovers) > self.max_background:
            log.error(
                "%d handler(s) cancelled: dispatch.max_background (%d) reached (dedup key %s)",
                len(leftovers),
                self.max_background,
                key,
            )
            self._cut(
                leftovers, f"cancelled: dispatch.max_background={self.max_background} reached"
            )
        else:
            for t in leftovers:
                self._to_background(t)
        self._spawn(self._finish(tasks, leftovers, job, late))

    async def _finish(
        self, tasks: list[HandlerTask], leftovers: list[HandlerTask], job: _Job, late: bool
    ) -> None:
        """After the response: a late reply goes out as a customer-service message, or is kept
        for a retry, as soon as it is known; handlers still running are bounded by
        background_timeout."""
        key = job.key
        end = self._clock() + self.background_timeout
        if late:
            done, answer = await self._select(tasks, end)
            if done:
                late = False
                await self._late(job, answer)
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
                self._cut(
                    list(cut),
                    f"TimeoutError: still running after "
                    f"dispatch.background_timeout={self.background_timeout:g}s",
                )
                await asyncio.wait(cut, timeout=1.0)
        if late:
            # One may have finished while the others were being cut: its answer still counts.
            done, answer = decided(tasks)
            await self._late(job, answer if done else None)

    async def _late(self, job: _Job, answer: Answer | None) -> None:
        """The reply of a push answered empty at the deadline, now that it is known."""
        if job.by_api:
            if job.claimed:
                await self._complete(job.key, b"", job.ttl)  # retries: the API delivers it
            typing = self._typing_tasks.pop(job.key, None)
            if typing is not None:
                typing.cancel()
                await asyncio.wait([typing])  # "typing" must not land after the answer
            if answer is not None:
                await self._deliver(job, answer)
            elif typing is not None:
                await self._typing(job, on=False)
            return
        if job.claimed:
            if answer is not None:
                log.info("late reply kept for a retry of %s", job.key)
            await self._complete(job.key, answer.xml if answer is not None else b"", job.ttl)

    async def _deliver(self, job: _Job, answer: Answer) -> None:
        """Send a late reply to the user who sent the message, once; record it if that fails."""
        assert self.api is not None
        account = job.ctx.account
        try:
            payload = custom_message(job.message.source, answer.reply)
        except ReplyError as exc:
            await self._undelivered(job, answer, f"not a customer-service message: {exc}", None)
            return
        if isinstance(answer.reply, NewsReply) and len(answer.reply.articles) > 1:
            log.warning(
                "late reply of %s: a customer-service news message carries one article, %d dropped",
                answer.handler.name,
                len(answer.reply.articles) - 1,
            )
        if self._clock() > job.window_end:
            why = "WeChat's window for answering this push had closed (1 minute for events)"
            await self._undelivered(job, answer, why, payload)
            return
        if not await self._first_delivery(job):
            log.info(
                "late reply of %s already sent by another delivery (%s)",
                answer.handler.name,
                job.key,
            )
            return
        try:
            await self.api.send(account, payload)
        except asyncio.CancelledError:
            # Shut down while sending: whether WeChat got it is unknown; keep it, marked so.
            self._spawn_record(
                self._record(
                    answer.handler,
                    job.message,
                    job.ctx,
                    "late reply interrupted by the shutdown (outcome unknown)",
                    delivery=payload,
                    unknown=True,
                )
            )
            raise
        except Exception as exc:
            unknown = isinstance(exc, WeChatAPIError) and exc.unknown
            await self._undelivered(
                job,
                answer,
                f"{type(exc).__name__}: {exc}",
                payload,
                unknown=unknown,
                trace=not isinstance(exc, WeChatAPIError),
            )
            return
        self.metrics.late_replies.labels(account, "sent").inc()
        log.info(
            "late reply of %s sent as a customer-service message (%s)",
            answer.handler.name,
            job.key,
        )

    async def _first_delivery(self, job: _Job) -> bool:
        """True for the one delivery of a push that may send its late reply (a retry that ran the
        handlers again while the store was down must not send a second copy)."""
        try:
            return await self.store.lock("sent:" + job.key, "sent", ttl=job.ttl)
        except StoreUnavailable as exc:
            self._store_failed("delivery_guard", exc)
            if job.key in self._sent_here:
                return False
            self._sent_here[job.key] = None
            while len(self._sent_here) > 10_000:
                self._sent_here.popitem(last=False)
            return True

    async def _undelivered(
        self,
        job: _Job,
        answer: Answer,
        why: str,
        payload: dict[str, Any] | None,
        *,
        unknown: bool = False,
        trace: bool = False,
    ) -> None:
        account = job.ctx.account
        self.metrics.late_replies.labels(account, "failed").inc()
        log.error(
            "late reply of %s not delivered (dedup key %s): %s",
            answer.handler.name,
            job.key,
            why,
            exc_info=trace,
        )
        await self._record(
            answer.handler,
            job.message,
            job.ctx,
            f"late reply not sent: {why}",
            delivery=payload,
            unknown=unknown,
        )

    def _typing_on(self, job: _Job) -> None:
        task = asyncio.get_running_loop().create_task(self._keep_typing(job))
        self._typing_tasks[job.key] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep_typing(self, job: _Job) -> None:
        """ "Typing" from the deadline until the answer, renewed while WeChat would drop it."""
        while self._clock() < job.window_end:
            await self._typing(job)
            await asyncio.sleep(TYPING_RENEW)

    async def _typing(self, job: _Job, *, on: bool = True) -> None:
        """Best effort: "对方正在输入" while a late reply is being made."""
        if self.api is None:
            return
        try:
            await self.api.typing(job.ctx.account, job.message.source, on=on)
        except Exception as exc:  # a missing typing status is no failure worth recording
            log.info("typing status not shown for %s: %s", job.key, exc)

    def _complete_failed(self, exc: StoreUnavailable) -> None:
        self._store_failed("complete", exc)

    async def _complete(self, key: str, rendered: bytes, ttl: int) -> None:
        try:
            await self.store.complete(key, rendered, ttl)
        except StoreUnavailable as exc:
            self._store_failed("complete", exc)

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
        """Wait up to `grace` seconds for background work; cancel and name what is left.

        Handlers cut here leave failure records, and records being written are waited for (a
        few seconds more), not cancelled.
        """
        end = self._clock() + grace
        while True:
            # Re-read each round: a failing handler records its failure in a new task.
            running = {
                t
                for t in self._tasks | self._handlers_in_background | self._records
                if not t.done()
            }
            left = end - self._clock()
            if not running or left <= 0:
                break
            await asyncio.wait(running, timeout=left)
        handlers = [t for t in running if t in self._jobs]
        self._cut(handlers, f"cancelled at shutdown after server.shutdown_grace={grace:g}s")
        others = [t for t in running if t not in self._records]
        for task in others:
            task.cancel()
        if others:
            # Let them take the cancellation (a delivery cut mid-send records itself), but a
            # handler that swallows cancellation must not hold the shutdown forever.
            await asyncio.wait(others, timeout=1.0)
        records = {t for t in self._records if not t.done()}
        if records:
            _, late = await asyncio.wait(records, timeout=5.0)
            for task in late:
                task.cancel()  # _record logs the entry it could not store
        return sorted(t.get_name() for t in handlers)


@dataclass(frozen=True, slots=True)
class Replayed:
    """The result of running a failure record's message through its handler(s) again."""

    ok: bool
    handlers: tuple[str, ...]
    error: str = ""


async def replay(
    dispatcher: Dispatcher, record: dict[str, Any], *, resend_unknown: bool = False
) -> Replayed:
    """Run a recorded message through the handler that failed (or, for a message that was
    never started, through every handler that matches it), bounded by background_timeout.

    The request is long gone, so a reply cannot be passive: on an account with late replies
    it is sent as a customer-service message (the replay fails if that send fails), else it is
    dropped. A record of a late reply that was not sent is sent again — unless it may have
    reached the user already (`delivery_unknown`), which needs `resend_unknown`.
    """
    delivery = record.get("delivery")
    if isinstance(delivery, dict):
        if record.get("delivery_unknown") and not resend_unknown:
            return Replayed(
                False,
                (str(record.get("handler", "")),),
                "the first send may have reached the user (its outcome is unknown); "
                "replay with --resend-unknown to send it anyway",
            )
        return await _redeliver(dispatcher, record, delivery)
    raw = record.get("raw")
    if not isinstance(raw, dict):
        return Replayed(False, (), "the record holds no message fields (recorded before 0.2?)")
    message = parse_message(raw)
    account = str(record.get("account", ""))
    key = str(record.get("dedup_key", "")) or dedup_key(message, account)
    ctx = Context(
        account=account,
        arrived=dispatcher._wall(),
        deadline=dispatcher._clock() + dispatcher.background_timeout,
        dedup_key=key,
        logger=logging.LoggerAdapter(
            handler_log, {"account": account, "dedup_key": key, "replay": True}
        ),
        state=dispatcher.state,
        user=message.source,
        api=dispatcher.api,
    )
    name = str(record.get("handler", ""))
    index = record.get("handler_index", -1)
    registered = list(dispatcher.router.handlers())
    if isinstance(index, int) and 0 <= index < len(registered) and registered[index].name == name:
        handlers = [registered[index]]  # exactly the registration that failed
    elif name:
        handlers = [h for h in registered if h.name == name][:1]
        if not handlers:
            return Replayed(False, (name,), f"no handler named {name!r} is registered now")
    else:
        handlers = dispatcher.router.resolve(message, ctx)  # a record without a handler
    names = tuple(h.name for h in handlers)
    for handler in handlers:
        try:
            async with asyncio.timeout(dispatcher.background_timeout or None):
                reply = as_reply(await handler(message, ctx))
            xml = render_reply(reply, message, now=int(dispatcher._wall()))
            if xml and reply is not None and account in dispatcher.late_replies:
                assert dispatcher.api is not None
                await dispatcher.api.send(account, custom_message(message.source, reply))
        except TimeoutError:
            return Replayed(False, names, f"{handler.name}: still running after background_timeout")
        except Exception as exc:
            return Replayed(False, names, f"{handler.name}: {type(exc).__name__}: {exc}")
    return Replayed(True, names)


async def _redeliver(
    dispatcher: Dispatcher, record: dict[str, Any], delivery: dict[str, Any]
) -> Replayed:
    """A late reply that did not go out: send the recorded customer-service message again."""
    account, handler = str(record.get("account", "")), str(record.get("handler", ""))
    if dispatcher.api is None or not dispatcher.api.can_send(account):
        return Replayed(False, (handler,), f"account {account!r} has no app_secret configured")
    try:
        await dispatcher.api.send(account, delivery)
    except Exception as exc:
        return Replayed(False, (handler,), f"late reply not sent: {type(exc).__name__}: {exc}")
    return Replayed(True, (handler,))
