"""Prometheus metrics (prometheus-client); correct across worker processes via multiprocess mode."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as mp

from .core import BaseEvent, BaseMessage, UnknownEvent, UnknownMessage

M = TypeVar("M", Counter, Gauge, Histogram)

# Label values come from signed pushes only, but a type WeChat invents must not grow the series
# without bound.
MAX_UNKNOWN_LABELS = 100
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.5, 10.0, 30.0, 60.0)


def multiprocess_dir() -> str | None:
    """The directory prometheus-client shares between worker processes, when set."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """Every metric wxhook exports; one instance per process (or per test)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._unknown_seen: set[tuple[str, str]] = set()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.requests = Counter(
            "wxhook_requests",
            "Callbacks by account, message type, event and outcome "
            "(replied, empty, duplicate, rejected, aborted; reason says why)",
            ["account", "msg_type", "event", "outcome", "reason"],
            registry=r,
        )
        self.dedup_hits = Counter(
            "wxhook_dedup_hits", "Retries recognised as duplicates", ["account"], registry=r
        )
        self.deadline_misses = Counter(
            "wxhook_deadline_misses",
            "Responses sent empty because handlers were still running at the deadline",
            ["account"],
            registry=r,
        )
        self.handler_seconds = Histogram(
            "wxhook_handler_seconds",
            "Handler run time",
            ["handler"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.handler_errors = Counter(
            "wxhook_handler_errors", "Handlers that raised or timed out", ["handler"], registry=r
        )
        self.background = Gauge(
            "wxhook_background_handlers",
            "Handlers still running after their response was sent",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.store_errors = Counter(
            "wxhook_store_errors",
            "Store operations that failed (dedup failed open)",
            ["op"],
            registry=r,
        )
        self.fail_open = Counter(
            "wxhook_fail_open",
            "Pushes handled without a successful dedup claim (store down or too slow): a retry "
            "among them may have run its handlers twice",
            ["account"],
            registry=r,
        )
        self.url_reuse = Counter(
            "wxhook_url_reuse",
            "Plain-mode pushes whose signed URL came before with another body (a forgery, or "
            "two genuine pushes with one timestamp and nonce)",
            ["account"],
            registry=r,
        )
        self.crypto_failures = Counter(
            "wxhook_crypto_failures", "Safe-mode failures by official code", ["code"], registry=r
        )
        self.unknown_types = Counter(
            "wxhook_unknown_types",
            "Pushes of a MsgType or Event wxhook has no class for",
            ["msg_type", "event"],
            registry=r,
        )
        self.in_flight = Gauge(
            "wxhook_handlers_in_flight",
            "Handler tasks running, before or after their response (see dispatch.max_in_flight)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.loop_tasks = Gauge(
            "wxhook_event_loop_tasks",
            "asyncio tasks alive in the event loop, read at each scrape (a leak shows as growth)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.api_calls = Counter(
            "wxhook_api_calls",
            "Calls to the WeChat API by api and outcome (ok, error, busy, unreachable)",
            ["api", "outcome"],
            registry=r,
        )
        self.token_fetches = Counter(
            "wxhook_token_fetches",
            "Access tokens fetched from WeChat (shared by every process through the store)",
            ["account"],
            registry=r,
        )
        self.late_replies = Counter(
            "wxhook_late_replies",
            "Replies that missed the deadline, sent as customer-service messages (sent, failed)",
            ["account", "outcome"],
            registry=r,
        )
        self.shed = Counter(
            "wxhook_shed",
            "Pushes answered empty and recorded, not started: dispatch.max_in_flight was reached",
            ["account"],
            registry=r,
        )
        self.failures_recorded = Counter(
            "wxhook_failures_recorded",
            "Failure records written (handler raised, timed out, was cut or never started)",
            registry=r,
        )
        self.http_errors = Counter(
            "wxhook_http_errors",
            "Requests refused by the HTTP server before any route (not valid HTTP), by kind",
            ["kind"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "wxhook_request_seconds",
            "Time from request arrival to response",
            ["account"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def child(self, metric: M, *labels: str) -> M:
        """`metric.labels(*labels)`, looked up once (label values here are bounded: accounts,
        known types, handler names, reasons)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def observe_type(self, message: BaseMessage) -> tuple[str, str]:
        """(msg_type, event) label values for a push, counting it if wxhook has no class for it.

        Bounded: an unknown type keeps its name for the first MAX_UNKNOWN_LABELS seen, then
        counts as "other"."""
        event = message.event if isinstance(message, BaseEvent) else ""
        if not isinstance(message, UnknownMessage | UnknownEvent):
            return message.type, event
        pair = (message.type[:64], event[:64])
        if pair not in self._unknown_seen:
            if len(self._unknown_seen) >= MAX_UNKNOWN_LABELS:
                pair = ("other", "other")
            else:
                self._unknown_seen.add(pair)
        self.unknown_types.labels(*pair).inc()
        return pair

    def render(self) -> bytes:
        """The exposition text; merges every worker's values in multiprocess mode."""
        path = multiprocess_dir()
        if path is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        mp.MultiProcessCollector(merged, path=path)  # type: ignore[no-untyped-call]
        return generate_latest(merged)
