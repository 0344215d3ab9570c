"""One push, from its claim to its answer: claim (fail open), resolve the handlers, run them
under the deadline, answer with the reply, empty, a duplicate's stored reply, or shed."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core import BaseMessage, dedup_key
from ..router import Context, Router, State
from ..stores import NonceGuard
from .claims import Claims
from .late import LateReplies
from .ports import PushObserver
from .supervisor import Supervisor

if TYPE_CHECKING:
    from ..api import WeChatAPI

log = logging.getLogger("wxhook.dispatch")
handler_log = logging.getLogger("wxhook.handler")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to answer: the rendered plaintext reply (b"" for none) and how it came about."""

    reply: bytes
    kind: str  # "replied", "empty", "duplicate" or "shed" (over dispatch.max_in_flight)
    dedup_key: str
    deadline_missed: bool = False
    handlers: int = 0


class Pipeline:
    """Answers one verified push within the deadline."""

    def __init__(
        self,
        router: Router,
        claims: Claims,
        supervisor: Supervisor,
        late: LateReplies,
        observer: PushObserver,
        *,
        deadline: float,
        dedup_ttl: int,
        pending_ttl: int,
        state: State,
        api: WeChatAPI | None,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.router = router
        self.claims = claims
        self.supervisor = supervisor
        self.late = late
        self.deadline = deadline
        self.dedup_ttl = dedup_ttl
        self.pending_ttl = pending_ttl
        self.state = state
        self.api = api  # ctx.api: what handlers call WeChat with
        self._observer = observer
        self._clock = clock
        self._wall = wall

    def context(
        self,
        account: str,
        message: BaseMessage,
        key: str,
        *,
        deadline: float,
        arrived_wall: float | None = None,
        replay: bool = False,
    ) -> Context:
        """What the push's handlers get besides the message."""
        extra = {"account": account, "dedup_key": key, **({"replay": True} if replay else {})}
        return Context(
            account=account,
            arrived=self._wall() if arrived_wall is None else arrived_wall,
            deadline=deadline,
            dedup_key=key,
            logger=logging.LoggerAdapter(handler_log, extra),
            state=self.state,
            user=message.source,
            api=self.api,
        )

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
        """Answer one verified message within the deadline; never raises for handler faults
        (see Dispatcher.dispatch)."""
        arrived = self._clock() if arrived is None else arrived
        deadline_at = arrived + self.deadline
        key = dedup_key(message, account)
        # A claim stays pending while the handlers may run (pending_ttl), then holds the reply.
        claimed, existing = await self.claims.claim(
            account, key, self.pending_ttl, guard, deadline_at
        )
        if existing is not None:
            reply = await self.claims.duplicate_reply(account, key, existing, deadline_at)
            return Outcome(reply, "duplicate", key)

        ctx = self.context(account, message, key, deadline=deadline_at, arrived_wall=arrived_wall)
        ttl = self.dedup_ttl
        if keep_until is not None:
            ttl = max(ttl, math.ceil(keep_until - self._wall()) + 1)
        handlers = self.router.resolve(message, ctx)
        supervisor = self.supervisor
        if not supervisor.has_room(len(handlers)):
            # Over the cap: answered empty, nothing started, kept for a replay.
            self._observer.shed(account)
            supervisor.shed(handlers, message, ctx)
            if claimed:
                supervisor.spawn(self.claims.complete(key, b"", ttl))
            return Outcome(b"", "shed", key)
        tasks = [supervisor.start(h, message, ctx) for h in handlers]
        done = False
        late = None
        try:
            done, answer = await supervisor.decide(tasks, deadline_at)
        finally:
            # Also when this request is cancelled: nothing started here is left untracked.
            if not done:
                late = self.late.pending(message, ctx, ttl, claimed, arrived)
                supervisor.release(tasks, key, functools.partial(self.late.answer, late))
            elif not all(t.done() for t in tasks):
                supervisor.release(tasks, key, None)
        if late is not None:
            self._observer.deadline_missed(account)
            log.warning(
                "deadline of %.1fs reached on %s (dedup key %s): answered empty, handlers go on "
                "in the background%s",
                self.deadline,
                message.type,
                key,
                "; a late reply goes out as a customer-service message" if late.by_api else "",
            )
            if late.by_api:
                self.late.start_typing(late)
            return Outcome(b"", "empty", key, True, len(tasks))
        xml = answer.xml if answer is not None else b""
        if claimed:  # stored for retries without a task per push
            self.claims.complete_soon(key, xml, ttl)
        return Outcome(xml, "replied" if xml else "empty", key, False, len(tasks))
