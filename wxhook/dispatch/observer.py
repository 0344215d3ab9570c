"""The dispatcher's observers (ports.py) as Prometheus metrics."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from ..metrics import Metrics


@dataclass(slots=True)
class HandlerRuns:
    """The handlers one push ran: (name, seconds) as each ends, and the names that failed."""

    ran: list[tuple[str, float]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


# Set by whoever watches a push (the console) before dispatching it; its handler tasks inherit
# the same HandlerRuns. Unset (None) otherwise: nothing is recorded.
handler_runs: ContextVar[HandlerRuns | None] = ContextVar("handler_runs", default=None)


class MetricsObserver:
    """Counts what the pipeline, the supervisor and late replies report."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def store_error(self, operation: str) -> None:
        self.metrics.store_errors.labels(operation).inc()

    def failed_open(self, account: str) -> None:
        self.metrics.fail_open.labels(account).inc()

    def duplicate(self, account: str) -> None:
        self.metrics.dedup_hits.labels(account).inc()

    def deadline_missed(self, account: str) -> None:
        self.metrics.deadline_misses.labels(account).inc()

    def shed(self, account: str) -> None:
        self.metrics.shed.labels(account).inc()

    def url_reused(self, account: str) -> None:
        self.metrics.url_reuse.labels(account).inc()

    def handler_started(self) -> None:
        self.metrics.in_flight.inc()

    def handler_ended(self) -> None:
        self.metrics.in_flight.dec()

    def handler_ran(self, handler: str, seconds: float) -> None:
        self.metrics.child(self.metrics.handler_seconds, handler).observe(seconds)
        runs = handler_runs.get()
        if runs is not None:
            runs.ran.append((handler, seconds))

    def handler_failed(self, handler: str) -> None:
        self.metrics.handler_errors.labels(handler).inc()
        runs = handler_runs.get()
        if runs is not None:
            runs.failed.append(handler)

    def background_started(self) -> None:
        self.metrics.background.inc()

    def background_ended(self) -> None:
        self.metrics.background.dec()

    def failure_recorded(self) -> None:
        self.metrics.failures_recorded.inc()

    def late_reply(self, account: str, result: str) -> None:
        self.metrics.late_replies.labels(account, result).inc()
