"""The dispatcher without HTTP: registration-order replies, concurrency, deadline, drain."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from wxhook import Router, TextReply, simulator
from wxhook.core import parse_message, parse_xml
from wxhook.dispatcher import Dispatcher
from wxhook.metrics import Metrics
from wxhook.stores.memory import memory_store

N = 0


def text(content: str = "x"):
    global N
    N += 1
    return parse_message(
        parse_xml(
            f"<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>{content}</Content><MsgId>{N}</MsgId></xml>".encode()
        )
    )


def dispatcher(router: Router, **kw) -> Dispatcher:
    return Dispatcher(router, memory_store(), metrics=Metrics(), **kw)


async def test_first_non_none_in_registration_order_wins_even_if_slower():
    r = Router()
    order: list[str] = []

    @r.message("text")
    async def slow_first(m):
        await asyncio.sleep(0.2)
        order.append("slow_first")
        return "from the first"

    @r.message("text")
    async def fast_second(m):
        order.append("fast_second")
        return "from the second"

    out = await dispatcher(r).dispatch("a", text())
    assert b"from the first" in out.reply and out.kind == "replied"
    assert order == ["fast_second", "slow_first"]  # they ran concurrently


async def test_reply_is_sent_as_soon_as_known_while_others_continue():
    r = Router()
    done = asyncio.Event()

    @r.message("text")
    async def quick(m):
        return TextReply("quick")

    @r.message("text")
    async def logger(m):
        await asyncio.sleep(0.3)
        done.set()

    d = dispatcher(r)
    out = await d.dispatch("a", text())
    assert b"quick" in out.reply and not done.is_set()
    assert d.background == 1
    assert await d.drain(5) == [] and done.is_set()


async def test_none_then_reply_and_all_none_is_empty():
    r = Router()

    @r.message("text")
    async def nothing(m):
        return None

    @r.message("text", text="ask")
    async def answer(m):
        return "answer"

    d = dispatcher(r)
    assert b"answer" in (await d.dispatch("a", text("ask"))).reply
    out = await d.dispatch("a", text("other"))
    assert out.reply == b"" and out.kind == "empty"


async def test_deadline_then_background_timeout_cuts_and_drain_reports():
    r = Router()
    cancelled = asyncio.Event()

    @r.message("text")
    async def forever(m):
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    d = dispatcher(r, deadline=0.1, background_timeout=0.2)
    out = await d.dispatch("a", text())
    assert out.deadline_missed and out.reply == b""
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_drain_cancels_what_outlives_the_grace():
    r = Router()

    @r.message("text")
    async def forever(m):
        await asyncio.sleep(60)

    d = dispatcher(r, deadline=0.05, background_timeout=60)
    await d.dispatch("a", text())
    cut = await d.drain(0.1)
    assert any(name.endswith("forever") for name in cut)
    assert d.background == 0


async def test_max_background_cancels_excess():
    r = Router()

    @r.message("text")
    async def forever(m):
        await asyncio.sleep(60)

    d = dispatcher(r, deadline=0.02, max_background=1)
    await d.dispatch("a", text())
    await d.dispatch("a", text())
    await asyncio.sleep(0.01)
    assert d.background == 1
    await d.drain(0)


async def test_late_reply_is_stored_as_soon_as_known_not_after_slow_siblings():
    r = Router()

    @r.message("text")
    async def late(m):
        await asyncio.sleep(0.2)
        return "late answer"

    @r.message("text")
    async def slow_logger(m):
        await asyncio.sleep(3)

    store = memory_store()
    d = Dispatcher(r, store, metrics=Metrics(), deadline=0.05)
    out = await d.dispatch("a", text())
    assert out.deadline_missed
    reply = await store.dedup.wait_done(out.dedup_key, 1.0)  # long before the 3 s sibling finishes
    assert reply is not None and b"late answer" in reply
    await d.drain(0)


async def test_blank_text_does_not_win_over_a_later_real_reply():
    r = Router()

    @r.message("text")
    async def blank(m):
        return "  "

    @r.message("text")
    async def real(m):
        return "real"

    out = await dispatcher(r).dispatch("a", text())
    assert b"real" in out.reply


async def test_drain_waits_for_failures_recorded_during_the_grace():
    r = Router()

    @r.message("text")
    async def fails_late(m):
        await asyncio.sleep(0.2)
        raise RuntimeError("after the response")

    store = memory_store()
    d = Dispatcher(r, store, metrics=Metrics(), deadline=0.05)
    await d.dispatch("a", text())
    assert await d.drain(5) == []
    assert (await store.failures.recent())[0]["error"] == "RuntimeError: after the response"


async def test_a_cancelled_request_leaves_its_handlers_tracked():
    r = Router()
    finished = asyncio.Event()

    @r.message("text")
    async def work(m):
        await asyncio.sleep(0.3)
        finished.set()

    d = dispatcher(r)
    request = asyncio.create_task(d.dispatch("a", text()))
    await asyncio.sleep(0.05)
    request.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await request
    assert d.background == 1
    assert await d.drain(5) == [] and finished.is_set()


async def test_pending_claim_expires_sooner_than_a_finished_reply(redis_url):
    import redis.asyncio as aioredis

    from wxhook.config import StoreConfig
    from wxhook.stores import open_store

    r = Router()

    @r.message("text")
    async def slow(m):
        await asyncio.sleep(0.4)
        return "done"

    store = open_store(StoreConfig(url=redis_url))
    d = Dispatcher(r, store, metrics=Metrics(), deadline=0.05, background_timeout=1, dedup_ttl=300)
    probe = aioredis.Redis.from_url(redis_url)
    message = parse_message(
        parse_xml(simulator.message("text", Content="x", MsgId=str(time.time_ns())))
    )
    out = await d.dispatch("a", message)
    assert out.kind == "empty" and out.deadline_missed
    pending_ttl = await probe.ttl("wxhook:dedup:" + out.dedup_key)
    assert 0 < pending_ttl <= d.pending_ttl < 300
    await d.drain(5)
    assert await probe.ttl("wxhook:dedup:" + out.dedup_key) > 250
    await probe.aclose()
    await store.close()


async def _raises(m):
    raise ValueError("nope")


async def _wrong_type(m):
    return 42


async def _unrenderable(m):
    return TextReply(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "failing,error",
    [(_raises, "ValueError: nope"), (_wrong_type, "handler returned int"), (_unrenderable, "")],
)
async def test_a_failing_handler_is_recorded_and_does_not_block_the_others(failing, error):
    r = Router()
    r.add(failing, name="failing")

    @r.message("text")
    async def fine(m):
        return "fine"

    store = memory_store()
    d = Dispatcher(r, store, metrics=Metrics())
    assert b"fine" in (await d.dispatch("a", text())).reply
    await d.drain(1)
    failure = (await store.failures.recent())[0]
    assert failure["handler"] == "failing" and error in failure["error"]


async def test_handlers_run_in_their_own_context_before_and_after_their_first_wait():
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="caller")
    seen: list[str] = []
    r = Router()

    @r.message("text")
    async def quick(m):  # answers without waiting: started and finished in one step
        var.set("quick")
        seen.append(var.get())
        return "quick"

    @r.message("text")
    async def waits(m):  # its first step runs at once, the rest in a task, same context
        var.set("waits")
        await asyncio.sleep(0.01)
        seen.append(var.get())
        await asyncio.sleep(0)  # a bare yield is resumed too
        seen.append(var.get())

    d = dispatcher(r)
    out = await d.dispatch("a", text())
    assert b"quick" in out.reply  # decided at once; `waits` goes on in the background
    await d.drain(5)
    assert seen == ["quick", "waits", "waits"]
    assert var.get() == "caller"  # nothing leaked into the caller's context
    assert d.in_flight == 0


async def test_a_handler_cut_at_the_deadline_after_its_first_wait_is_cancelled_inside():
    r = Router()
    cancelled = asyncio.Event()

    @r.message("text")
    async def stuck(m):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    d = dispatcher(r, deadline=0.05, background_timeout=0.1)
    out = await d.dispatch("a", text())
    assert out.kind == "empty" and out.deadline_missed
    await asyncio.wait_for(cancelled.wait(), 5)  # the cut reached the handler's own await
    records = await d.store.failures.recent()
    assert len(records) == 1 and "background_timeout" in records[0]["error"]


async def test_asyncio_timeout_inside_a_handler_cuts_only_that_handler():
    r = Router()
    outcome: list[str] = []

    @r.message("text")
    async def bounded(m):
        try:
            async with asyncio.timeout(0.05):  # entered before the handler's first wait
                await asyncio.sleep(5)
        except TimeoutError:
            outcome.append("timed out")
        return "gave up in time"

    out = await dispatcher(r).dispatch("a", text())
    assert b"gave up in time" in out.reply and outcome == ["timed out"]
    assert asyncio.current_task().cancelling() == 0  # the caller was not cancelled
