"""The dispatcher's parts take small protocols (any sender, any failure log), and stay small."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from wxhook import Router
from wxhook.core import parse_message, parse_xml
from wxhook.dispatcher import Dispatcher
from wxhook.metrics import Metrics
from wxhook.simulator import message
from wxhook.stores.memory import memory_store

N = 0


def text(content: str = "x"):
    global N
    N += 1
    return parse_message(parse_xml(message("text", user="u", Content=content, MsgId=f"9{N}")))


class RecordingSender:
    """A sender (dispatch.ports.Sender) that only writes down what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def can_send(self, account: str) -> bool:
        return account == "a"

    async def send(self, account: str, payload: Any) -> None:
        self.calls.append(("send", account, payload["touser"], payload["text"]["content"]))

    async def typing(self, account: str, openid: str, *, on: bool = True) -> None:
        self.calls.append(("typing", account, openid, on))


class ListLog:
    """A failure log (stores.FailureLog) in a list."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    async def record(self, entry: Any) -> str:
        self.rows.append({**entry, "id": str(len(self.rows))})
        return str(len(self.rows) - 1)

    async def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.rows[::-1][:limit]

    async def get(self, failure_id: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["id"] == failure_id), None)

    async def remove(self, failure_id: str) -> bool:
        return False


async def test_a_late_reply_goes_out_through_the_sender_it_is_given():
    r = Router()

    @r.message("text")
    async def slow(m):
        await asyncio.sleep(0.2)
        return "late answer"

    sender = RecordingSender()
    d = Dispatcher(
        r,
        memory_store(),
        metrics=Metrics(),
        deadline=0.05,
        api=sender,  # type: ignore[arg-type]
        late_replies=frozenset({"a", "b"}),
    )
    assert d.late_replies == {"a"}  # b has no credentials with this sender
    out = await d.dispatch("a", text())
    assert out.kind == "empty" and out.deadline_missed
    assert await d.drain(5) == []
    # "typing" from the deadline, then the reply as a customer-service message.
    assert sender.calls == [("typing", "a", "u", True), ("send", "a", "u", "late answer")]


async def test_a_failure_goes_to_the_log_it_is_given_and_replays_through_public_parts():
    r = Router()
    seen: list[str] = []

    @r.message("text")
    async def flaky(m):
        seen.append(m.content)
        if len(seen) == 1:
            raise RuntimeError("first time")
        return "second time"

    log, sender = ListLog(), RecordingSender()
    store = dataclasses.replace(memory_store(), failures=log)
    d = Dispatcher(
        r,
        store,
        metrics=Metrics(),
        api=sender,  # type: ignore[arg-type]
        late_replies=frozenset({"a"}),
    )
    out = await d.dispatch("a", text("hi"))
    assert out.kind == "empty" and not out.deadline_missed
    assert await d.drain(1) == []
    (record,) = log.rows
    assert record["error"] == "RuntimeError: first time" and record["handler"].endswith("flaky")
    result = await d.replay(record)
    assert result.ok and result.handlers == (record["handler"],)
    assert seen == ["hi", "hi"]
    assert sender.calls == [("send", "a", "u", "second time")]  # no request left to answer
