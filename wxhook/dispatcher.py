"""The Dispatcher: each verified push through its handlers, answered in time; built from the
parts in wxhook/dispatch/, one per lifetime of the work:

- pipeline.py: one push, from its claim (claims.py) to its answer, within the deadline;
- supervisor.py: handler tasks, and the work that outlives the response (caps, background
  timeout, cancellation, failure records from records.py, drain at shutdown);
- late.py: replies that miss the deadline, sent through the customer-service API;
- replay.py: `wxhook failures replay`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .core import BaseMessage
from .dispatch.claims import Claims, StoreOutage
from .dispatch.handlers import HandlerReply
from .dispatch.late import LateReplies
from .dispatch.observer import MetricsObserver
from .dispatch.pipeline import Outcome, Pipeline
from .dispatch.records import FailureRecords
from .dispatch.replay import Replayed, Replayer
from .dispatch.supervisor import Supervisor
from .logs import FloodGate, client_errors
from .metrics import Metrics
from .router import Router, State
from .stores import NonceGuard, Store

if TYPE_CHECKING:
    from .api import WeChatAPI


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
        log_gate: FloodGate = client_errors,
    ) -> None:
        self.router = router
        self.store = store
        self.metrics = metrics
        self.state = state if state is not None else State()
        self.api = api
        observer = MetricsObserver(metrics)
        outage = StoreOutage(observer)
        self.claims = Claims(store.dedup, outage, observer, clock=clock, log_gate=log_gate)
        self.records = FailureRecords(store.failures, router, outage, observer, wall=wall)
        self.supervisor = Supervisor(
            self.records,
            observer,
            background_timeout=background_timeout,
            max_background=max_background,
            max_in_flight=max_in_flight,
            clock=clock,
            wall=wall,
        )
        self.late = LateReplies(
            api,
            store.values,
            self.claims,
            self.records,
            observer,
            accounts=late_replies,
            spawn=self.supervisor.spawn,
            clock=clock,
        )
        self.pipeline = Pipeline(
            router,
            self.claims,
            self.supervisor,
            self.late,
            observer,
            deadline=deadline,
            dedup_ttl=dedup_ttl,
            # A claim stays pending while its handlers may still run, so a retry never runs
            # them again; if the process dies, the key frees itself after this.
            pending_ttl=math.ceil(deadline + background_timeout + 5),
            state=self.state,
            api=api,
            clock=clock,
            wall=wall,
        )
        self.replayer = Replayer(
            router,
            self.pipeline.context,
            api,
            late_replies=self.late.accounts,
            timeout=background_timeout,
            clock=clock,
            wall=wall,
        )

    @property
    def deadline(self) -> float:
        """Seconds after its arrival when a push is answered, whatever its handlers do."""
        return self.pipeline.deadline

    @property
    def pending_ttl(self) -> int:
        """Seconds a claim stays pending before it frees itself (a process that died)."""
        return self.pipeline.pending_ttl

    @property
    def late_replies(self) -> frozenset[str]:
        """Accounts whose replies that miss the deadline go out as customer-service messages."""
        return self.late.accounts

    @property
    def in_flight(self) -> int:
        """Handler tasks running now, before or after their response."""
        return self.supervisor.in_flight

    @property
    def background(self) -> int:
        """Handlers still running after their response went out."""
        return self.supervisor.background

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

        `guard` (plain mode) is the signed URL and its body's digest, remembered before the
        claim: a URL that came before with another body is counted, then handled as a new push
        (dedup by content still stops a real retry), or, if `guard.refuse`, refused with
        ReplayError before anything is claimed or run.
        `keep_until` (wall clock) is when the request's signed timestamp stops being accepted:
        its dedup entry lives at least that long, so a replay is deduplicated.
        """
        return await self.pipeline.dispatch(
            account,
            message,
            arrived=arrived,
            arrived_wall=arrived_wall,
            guard=guard,
            keep_until=keep_until,
        )

    async def drain(self, grace: float) -> list[str]:
        """Wait up to `grace` seconds for background work; cancel and name what is left."""
        return await self.supervisor.drain(grace)

    async def replay(self, record: dict[str, Any], *, resend_unknown: bool = False) -> Replayed:
        """Run a failure record's message through its handler(s) again (Replayer.replay)."""
        return await self.replayer.replay(record, resend_unknown=resend_unknown)


__all__ = [
    "Dispatcher",
    "HandlerReply",
    "Outcome",
    "Replayed",
]
