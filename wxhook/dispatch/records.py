"""Failure records: what `wxhook failures replay` needs to run a message's handler again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from ..core import BaseMessage
from ..router import Context, Handler, Router
from ..stores import FailureLog, StoreUnavailable
from .claims import StoreOutage
from .ports import HandlerObserver

log = logging.getLogger("wxhook.dispatch")


class FailureRecords:
    """Writes records to the failure log; a shutdown waits for those being written."""

    def __init__(
        self,
        failure_log: FailureLog,
        router: Router,
        outage: StoreOutage,
        observer: HandlerObserver,
        *,
        wall: Callable[[], float],
    ) -> None:
        self.failure_log = failure_log
        self._router = router
        self._outage = outage
        self._observer = observer
        self._wall = wall
        self._positions: dict[int, int] | None = None
        # Records being written: a shutdown waits for them instead of cancelling them.
        self.writing: set[asyncio.Task[None]] = set()

    def handler_index(self, handler: Handler) -> int:
        """The handler's position in the router (one function may be registered twice)."""
        if self._positions is None:
            self._positions = {id(h): i for i, h in enumerate(self._router.handlers())}
        return self._positions.get(id(handler), -1)

    def write_soon(
        self, handler: Handler | None, message: BaseMessage, ctx: Context, error: str, **more: Any
    ) -> None:
        """write() in a task of its own, tracked until the record is stored."""
        coro = self.write(handler, message, ctx, error, **more)
        task = asyncio.get_running_loop().create_task(coro)
        self.writing.add(task)
        task.add_done_callback(self.writing.discard)

    async def write(
        self,
        handler: Handler | None,
        message: BaseMessage,
        ctx: Context,
        error: str,
        trace: str = "",
        delivery: dict[str, Any] | None = None,
        unknown: bool = False,
    ) -> None:
        """Keep the message's fields and the handler: the record of one failure."""
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
        self._observer.failure_recorded()
        try:
            await self.failure_log.record(entry)
        except StoreUnavailable as err:
            self._outage.call_failed("record_failure", err)
        except asyncio.CancelledError:
            # Cut at shutdown before the store took it: the log keeps it, whole.
            log.error(
                "failure record not stored (shutdown): %s",
                json.dumps(entry, ensure_ascii=False, default=str),
            )
            raise
