"""The plain-mode URL guard never refuses a genuine push by default; fail-open is accounted.

Plain mode signs (token, timestamp, nonce) only: two genuine pushes can share one signed URL.
Both are handled and counted (wxhook_url_reuse_total); refusing is security.refuse_url_reuse.
A push handled without a successful claim is counted (wxhook_fail_open_total) and the outage is
logged once when it begins and once, with the count, when the store answers again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from helpers import ACCOUNTS, app, keys, msgid, uid
from prometheus_client.parser import text_string_to_metric_families

from wxhook import Router, TextMessage
from wxhook.core import parse_message, parse_xml
from wxhook.dispatcher import Dispatcher
from wxhook.logs import FloodGate
from wxhook.metrics import Metrics
from wxhook.simulator import message, open_reply, push
from wxhook.stores import NonceGuard, Store, StoreUnavailable
from wxhook.stores.memory import MemoryDedup, memory_store


def counting_router(calls: list[str]) -> Router:
    router = Router()

    @router.message("text")
    async def text(msg: TextMessage) -> str:
        calls.append(msg.content)
        return f"echo: {msg.content}"

    return router


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


@pytest.fixture(params=["memory", "redis"])
def store_url(request):
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


# Two genuine pushes, one signed URL -----------------------------------------------------------


def one_url_two_pushes() -> tuple[dict[str, str], bytes, bytes]:
    """Two distinct pushes (two users, two MsgIds) that drew the same timestamp and nonce."""
    first = message("text", user=uid(), Content="first", MsgId=msgid())
    second = message("text", user=uid(), Content="second", MsgId=msgid())
    query, body = push(keys("plain"), first)
    assert body == first
    return query, first, second


async def test_two_pushes_sharing_a_signed_url_are_both_handled(aiohttp_client, store_url, caplog):
    calls: list[str] = []
    client = await aiohttp_client(app(counting_router(calls), store_url))
    query, first, second = one_url_two_pushes()
    path = ACCOUNTS["plain"]["path"]
    answers = []
    for body in (first, second, first, second):  # each, then WeChat's retry of each
        resp = await client.post(path, params=query, data=body)
        answers.append((resp.status, open_reply(keys("plain"), await resp.read())["Content"]))
    assert answers == [(200, "echo: first"), (200, "echo: second")] * 2
    assert calls == ["first", "second"]  # each handled once: the retries were duplicates
    metrics = await (await client.get("/metrics")).text()
    # The second push and its retry came with the first one's URL and another body.
    assert metric(metrics, "wxhook_url_reuse_total", account="plainacct") == 2
    assert metric(metrics, "wxhook_requests_total", outcome="rejected") == 0
    reuse = [r for r in caplog.records if "signed URL came again" in r.getMessage()]
    assert reuse and all(r.levelno == logging.WARNING for r in reuse)


async def test_with_refuse_url_reuse_the_second_is_403_and_runs_nothing(aiohttp_client, store_url):
    calls: list[str] = []
    application = app(counting_router(calls), store_url, security={"refuse_url_reuse": True})
    client = await aiohttp_client(application)
    query, first, second = one_url_two_pushes()
    path = ACCOUNTS["plain"]["path"]
    ok = await client.post(path, params=query, data=first)
    assert ok.status == 200
    refused = await client.post(path, params=query, data=second)
    assert refused.status == 403 and await refused.read() == b"replay\n"
    retry = await client.post(path, params=query, data=first)  # the first's retry: still fine
    assert retry.status == 200 and await retry.read() == await ok.read()
    assert calls == ["first"]
    metrics = await (await client.get("/metrics")).text()
    assert metric(metrics, "wxhook_requests_total", reason="replay") == 1
    assert metric(metrics, "wxhook_url_reuse_total", account="plainacct") == 1


async def test_safe_mode_is_not_guarded_by_url(aiohttp_client):
    """msg_signature covers the encrypted body: two safe pushes with one timestamp and nonce
    carry two different signatures, and are both handled even with refusal on."""
    calls: list[str] = []
    application = app(counting_router(calls), security={"refuse_url_reuse": True})
    client = await aiohttp_client(application)
    stamp: dict[str, str] = {"nonce": "4242"}
    for content in ("a", "b"):
        doc = message("text", user=uid(), Content=content, MsgId=msgid())
        query, body = push(keys("safe"), doc, **stamp)
        stamp["timestamp"] = query["timestamp"]
        resp = await client.post(ACCOUNTS["safe"]["path"], params=query, data=body)
        assert resp.status == 200
        assert open_reply(keys("safe"), await resp.read())["Content"] == f"echo: {content}"
    assert calls == ["a", "b"]


def test_refuse_url_reuse_must_be_true_or_false():
    from helpers import config

    from wxhook.config import ConfigError

    assert config().security.refuse_url_reuse is False
    with pytest.raises(ConfigError, match=r"security\.refuse_url_reuse must be bool"):
        config(security={"refuse_url_reuse": "yes"})


# The dispatcher without HTTP ------------------------------------------------------------------

N = 0


def text(content: str = "x"):
    global N
    N += 1
    doc = message("text", user=f"u{N}", Content=content, MsgId=str(N))
    return parse_message(parse_xml(doc))


def guard(url: str, body: str, refuse: bool = False) -> NonceGuard:
    return NonceGuard(key=url, digest=body, ttl=600, refuse=refuse)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_reused_urls_are_all_counted_and_their_lines_gated(caplog):
    calls: list[str] = []
    clock = Clock()
    metrics = Metrics()
    gate = FloodGate(logging.getLogger("test.flood"), rate=1.0, burst=2, clock=clock)
    d = Dispatcher(
        counting_router(calls), memory_store(), metrics=metrics, clock=clock, log_gate=gate
    )
    await d.dispatch("acct", text("0"), guard=guard("url", "body0"))
    for i in range(1, 6):  # five more bodies on one URL within half a second
        await d.dispatch("acct", text(str(i)), guard=guard("url", f"body{i}"))
        clock.now += 0.1
    clock.now += 1.0  # one more line's worth of the gate's rate
    await d.dispatch("acct", text("6"), guard=guard("url", "body6"))
    assert calls == [str(i) for i in range(7)]  # every push handled
    assert metrics.url_reuse.labels("acct")._value.get() == 6  # every reuse counted
    lines = [r.getMessage() for r in caplog.records if "signed URL came again" in r.getMessage()]
    assert len(lines) == 3, lines  # two at once, then one a second
    clock.now += gate.summary_every
    gate.summarise()
    summary = [r.getMessage() for r in caplog.records if "suppressed" in r.getMessage()]
    assert len(summary) == 1 and summary[0].startswith("suppressed 3 log lines of kind url_reuse")


class FlakyDedup(MemoryDedup):
    """A memory dedup store that can be switched off (StoreUnavailable) or made to hang."""

    bound = 10.0  # longer than any deadline here: the dispatcher's own timer ends a hang

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.hang = False
        self.claims = 0
        self.remembered = 0

    async def _gate(self) -> None:
        if self.down:
            raise StoreUnavailable("switched off by the test")
        if self.hang:
            await asyncio.Event().wait()  # until the dispatcher's deadline cancels it

    async def claim(self, key, ttl):
        await self._gate()
        self.claims += 1
        return await super().claim(key, ttl)

    async def remember_url(self, key, digest, ttl):
        await self._gate()
        self.remembered += 1
        return await super().remember_url(key, digest, ttl)


def flaky(dedup: FlakyDedup) -> Store:
    return dataclasses.replace(memory_store(), dedup=dedup)


async def test_fail_open_is_counted_per_push_and_logged_once_per_outage(caplog):
    calls: list[str] = []
    store, metrics = FlakyDedup(), Metrics()
    d = Dispatcher(counting_router(calls), flaky(store), metrics=metrics, deadline=0.5)
    fail_open = metrics.fail_open.labels("acct")._value

    await d.dispatch("acct", text("up"))
    store.down = True
    for i in range(3):
        out = await d.dispatch("acct", text(f"down{i}"))
        assert out.reply and out.kind == "replied"  # handled, not dropped
    out = await d.dispatch("acct", text("down-plain"), guard=guard("u1", "b1"))
    assert out.kind == "replied"
    assert store.remembered == 0 and store.claims == 1  # a failed remember_url skips the claim
    assert fail_open.get() == 4
    store.down = False
    await d.dispatch("acct", text("back"), guard=guard("u2", "b2"))
    await d.dispatch("acct", text("back again"))
    assert fail_open.get() == 4
    assert calls == ["up", "down0", "down1", "down2", "down-plain", "back", "back again"]

    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "wxhook.dispatch"]
    assert [m for _, m in lines if "store" in m] == [
        "store unavailable, handling pushes without dedup (claim failed: switched off by the test)",
        "store available again: 4 push(es) were handled without dedup during the outage "
        "(a WeChat retry among them may have run its handlers twice)",
    ]
    assert all(level == logging.WARNING for level, _ in lines)

    # A second outage is a new one: its own two lines, its own count.
    caplog.clear()
    store.down = True
    await d.dispatch("acct", text("again down"))
    store.down = False
    await d.dispatch("acct", text("again up"))
    assert fail_open.get() == 5
    messages = [r.getMessage() for r in caplog.records if r.name == "wxhook.dispatch"]
    assert sum("store unavailable" in m for m in messages) == 1
    assert any("available again: 1 push(es)" in m for m in messages)


async def test_a_store_too_slow_for_the_deadline_fails_open_and_is_counted():
    calls: list[str] = []
    store, metrics = FlakyDedup(), Metrics()
    d = Dispatcher(counting_router(calls), flaky(store), metrics=metrics, deadline=0.2)
    store.hang = True
    await d.dispatch("acct", text("slow claim"))
    await d.dispatch("acct", text("slow url"), guard=guard("u", "b"))
    await d.drain(5)  # an answer after the deadline is empty: the handlers ran all the same
    assert calls == ["slow claim", "slow url"]
    assert metrics.fail_open.labels("acct")._value.get() == 2
    assert metrics.store_errors.labels("claim")._value.get() == 1
    assert metrics.store_errors.labels("remember_url")._value.get() == 1


# The stores -----------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def store(request):
    from wxhook.config import StoreConfig
    from wxhook.stores import open_store

    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    s = open_store(StoreConfig(url=url))
    yield s.dedup
    await s.close()


async def test_remember_url_keeps_the_first_digest(store):
    url = "test|" + uid()
    assert await store.remember_url(url, "d1", 60) is False  # new
    assert await store.remember_url(url, "d1", 60) is False  # the same body again: a retry
    assert await store.remember_url(url, "d2", 60) is True  # another body
    assert await store.remember_url(url, "d1", 60) is False  # the first digest stays
    assert await store.remember_url("test|" + uid(), "d2", 60) is False  # another URL


async def test_remember_url_forgets_after_its_ttl():
    clock = Clock()
    s = MemoryDedup(clock=clock)
    assert await s.remember_url("u", "d1", 10) is False
    clock.now += 11
    assert await s.remember_url("u", "d2", 10) is False


async def test_redis_remember_url_without_set_get(redis_url):
    from wxhook.config import StoreConfig
    from wxhook.stores.redis import redis_store

    s = redis_store(StoreConfig(url=redis_url))
    s.dedup._set_get = False  # what a Redis older than 7.0 leads to after its first refusal
    try:
        url = "test|" + uid()
        assert await s.dedup.remember_url(url, "d1", 60) is False
        assert await s.dedup.remember_url(url, "d1", 60) is False
        assert await s.dedup.remember_url(url, "d2", 60) is True
    finally:
        await s.close()


async def test_redis_remember_url_is_one_key_with_the_guard_ttl(redis_url):
    import redis.asyncio as aioredis

    from wxhook.config import StoreConfig
    from wxhook.stores.redis import URLS, redis_store

    s = redis_store(StoreConfig(url=redis_url))
    admin = aioredis.Redis.from_url(redis_url)
    try:
        url = "test|" + uid()
        await s.dedup.remember_url(url, "d1", 600)
        assert await admin.get(URLS + url) == b"d1"
        assert 590 < await admin.ttl(URLS + url) <= 600
    finally:
        await admin.aclose()
        await s.close()
