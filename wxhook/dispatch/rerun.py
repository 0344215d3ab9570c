"""One failure record replayed as an operator asks (`wxhook failures replay`, the console's
replay button): locked so two operators never run one record twice, removed once it passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..stores import Store, StoreUnavailable

if TYPE_CHECKING:
    from ..dispatcher import Dispatcher


@dataclass(frozen=True, slots=True)
class RecordReplay:
    """What became of one record: "ok", "failed" (kept), "skipped" or "unremoved" (handled,
    but still stored), with the line that says so."""

    result: str
    failure_id: str
    handlers: tuple[str, ...] = ()
    line: str = ""


async def replay_record(
    store: Store,
    dispatcher: Dispatcher,
    record: dict[str, Any],
    *,
    resend_unknown: bool,
    owner: str,
    lock_ttl: float,
) -> RecordReplay:
    """Replay one record through its handler(s); remove it from the failure log if they pass."""
    failure_id = str(record["id"])
    # Two operators replaying at once must not run one record twice.
    lock = f"replay:{failure_id}"
    if not await store.values.lock(lock, owner, lock_ttl):
        return RecordReplay(
            "skipped", failure_id, line=f"skipped {failure_id}: another replay of it is running"
        )
    try:
        if await store.failures.get(failure_id) is None:
            return RecordReplay(
                "skipped",
                failure_id,
                line=f"skipped {failure_id}: replayed by someone else meanwhile",
            )
        result = await dispatcher.replay(record, resend_unknown=resend_unknown)
        handlers = ",".join(result.handlers) or "(none matched)"
        if not result.ok:
            return RecordReplay(
                "failed",
                failure_id,
                result.handlers,
                f"failed {failure_id} {handlers}: {result.error}; record kept",
            )
        try:
            removed = await store.failures.remove(failure_id)
        except StoreUnavailable as exc:
            return RecordReplay(
                "unremoved",
                failure_id,
                result.handlers,
                f"ok {failure_id} {handlers}: handled, but the record could not be removed "
                f"({exc}): remove it before replaying again",
            )
        gone = "record removed" if removed else "the record was already gone"
        return RecordReplay(
            "ok", failure_id, result.handlers, f"ok {failure_id} {handlers}: handled, {gone}"
        )
    finally:
        await store.values.unlock(lock, owner)
