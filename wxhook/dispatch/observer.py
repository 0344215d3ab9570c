"""The dispatcher's observers (ports.py) as Prometheus metrics."""

from __future__ import annotations

from ..metrics import Metrics


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

    def handler_failed(self, handler: str) -> None:
        self.metrics.handler_errors.labels(handler).inc()

    def background_started(self) -> None:
        self.metrics.background.inc()

    def background_ended(self) -> None:
        self.metrics.background.dec()

    def failure_recorded(self) -> None:
        self.metrics.failures_recorded.inc()

    def late_reply(self, account: str, result: str) -> None:
        self.metrics.late_replies.labels(account, result).inc()
