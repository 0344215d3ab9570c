"""The live view's feed: the last N pushes answered or refused, in memory only, and the pages
following them (server-sent events), each with a bounded queue."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from typing import Any

from ..core import BaseMessage, ProtocolError, parse_xml
from ..dispatch.observer import HandlerRuns
from ..dispatcher import Outcome
from .masking import mask_document

# A page that falls this far behind is dropped (its EventSource reconnects and catches up).
QUEUE_SIZE = 256


class LiveFeed:
    """A ring of the last `history` pushes; Endpoint's watcher (wxhook.server.endpoint)."""

    def __init__(self, history: int, *, show_contents: bool) -> None:
        self.show_contents = show_contents
        self._ring: deque[dict[str, Any]] = deque(maxlen=history)
        self._ids = itertools.count(1)
        self._followers: set[asyncio.Queue[dict[str, Any] | None]] = set()

    # What the endpoint reports --------------------------------------------------------------

    def answered(
        self,
        account: str,
        message: BaseMessage,
        outcome: Outcome,
        label: str,
        latency: float,
        runs: HandlerRuns,
    ) -> None:
        """A push was answered."""
        show = self.show_contents
        self.publish(
            {
                "account": account,
                "type": message.type,
                "event": getattr(message, "event", ""),
                "outcome": label,
                "dedup_key": outcome.dedup_key,
                "deadline_missed": outcome.deadline_missed,
                "handler_count": outcome.handlers,
                # The same objects the handler tasks append to: runs ending in the background
                # show when the push is looked at again.
                "runs": runs,
                "latency_ms": round(latency * 1000, 1),
                "message": mask_document(dict(message.raw), show=show),
                "reply": mask_document(_parsed(outcome.reply), show=show),
            }
        )

    def refused(self, account: str, reason: str, status: int, error: str) -> None:
        """A request was refused."""
        self.publish(
            {
                "account": account,
                "type": "",
                "event": "",
                "outcome": "rejected",
                "reason": reason,
                "status": status,
                "error": error,
            }
        )

    # The ring and its followers -------------------------------------------------------------

    def publish(self, entry: dict[str, Any]) -> None:
        """Keep `entry` (with an id and the time) and pass it to every follower."""
        entry["id"] = next(self._ids)
        entry["time"] = time.time()
        self._ring.append(entry)
        for queue in list(self._followers):
            try:
                queue.put_nowait(entry)
            except asyncio.QueueFull:
                self._followers.discard(queue)
                queue.get_nowait()  # room for the end mark: the page reconnects and catches up
                queue.put_nowait(None)

    def entries(self) -> list[dict[str, Any]]:
        """The pushes kept, oldest first, as the page shows them."""
        return [view(e) for e in self._ring]

    def get(self, entry_id: int) -> dict[str, Any] | None:
        """One push kept, by id."""
        for entry in self._ring:
            if entry["id"] == entry_id:
                return view(entry)
        return None

    def latest(self, dedup_key: str, after: int = 0) -> dict[str, Any] | None:
        """The newest push with this dedup key and an id above `after`."""
        for entry in reversed(self._ring):
            if entry["id"] <= after:
                break
            if entry.get("dedup_key") == dedup_key:
                return view(entry)
        return None

    @property
    def last_id(self) -> int:
        """The id of the newest push kept (0 for none)."""
        return self._ring[-1]["id"] if self._ring else 0

    def follow(self) -> asyncio.Queue[dict[str, Any] | None]:
        """A queue of every push from now on; None in it means: stop."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)
        self._followers.add(queue)
        return queue

    def unfollow(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        """Stop passing pushes to `queue`."""
        self._followers.discard(queue)

    def close(self) -> None:
        """Tell every follower to stop (shutdown)."""
        for queue in list(self._followers):
            self._followers.discard(queue)
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    def __len__(self) -> int:
        return len(self._ring)


def view(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as JSON can carry it: the handler runs as a list."""
    out = dict(entry)
    runs = out.pop("runs", None)
    if isinstance(runs, HandlerRuns):
        failed = set(runs.failed)
        out["handlers"] = [
            {"name": name, "ms": round(seconds * 1000, 1), "failed": name in failed}
            for name, seconds in runs.ran
        ]
    return out


def _parsed(reply: bytes) -> dict[str, Any]:
    if not reply:
        return {}
    try:
        return dict(parse_xml(reply))
    except ProtocolError:
        return {"unparsed": reply.decode("utf-8", "replace")}
