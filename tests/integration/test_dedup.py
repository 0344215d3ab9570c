"""WeChat's retries never run a handler twice: memory:// in one process, Redis across processes."""

from __future__ import annotations

import asyncio

import pytest
from helpers import app, msgid, post, uid

from wxhook import Router
from wxhook.simulator import event, message


def counting_router(counter: dict, delay: float = 0.0) -> Router:
    router = Router()

    @router.message("text")
    async def text(msg):
        counter[msg.id] = counter.get(msg.id, 0) + 1
        await asyncio.sleep(delay)
        return f"reply #{counter[msg.id]} to {msg.content}"

    @router.event("click")
    async def click(ev):
        counter[ev.key] = counter.get(ev.key, 0) + 1
        await asyncio.sleep(delay)
        return f"click #{counter[ev.key]}"

    return router


@pytest.fixture(params=["memory", "redis"])
def store_url(request):
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_url")


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_retry_gets_the_same_reply_without_running_again(aiohttp_client, store_url, mode):
    counter: dict = {}
    client = await aiohttp_client(app(counting_router(counter), store_url))
    doc = message("text", user=uid(), Content="hello", MsgId=msgid())
    first = await post(client, mode, doc)
    retry = await post(client, mode, doc)  # re-signed and re-encrypted, like a real retry
    assert first[1]["Content"] == retry[1]["Content"] == "reply #1 to hello"
    assert list(counter.values()) == [1]
    if mode == "safe":
        assert first[2] != retry[2]  # each copy encrypted afresh for its own request


async def test_concurrent_duplicates_run_once_and_all_are_answered(aiohttp_client, store_url):
    counter: dict = {}
    client = await aiohttp_client(app(counting_router(counter, delay=0.3), store_url))
    doc = message("text", user=uid(), Content="same", MsgId=msgid())
    results = await asyncio.gather(*(post(client, "plain", doc) for _ in range(5)))
    assert {r[1]["Content"] for r in results} == {"reply #1 to same"}
    assert list(counter.values()) == [1]


async def test_events_dedup_on_user_and_create_time(aiohttp_client, store_url):
    counter: dict = {}
    client = await aiohttp_client(app(counting_router(counter), store_url))
    user = uid()
    doc = event("CLICK", user=user, EventKey=f"K{msgid()}")
    assert (await post(client, "plain", doc))[1]["Content"] == "click #1"
    assert (await post(client, "plain", doc))[1]["Content"] == "click #1"
    # Another click in the same second with another key is a different push.
    other = event("CLICK", user=user, EventKey=f"K{msgid()}")
    assert (await post(client, "plain", other))[1]["Content"] == "click #1"
    assert sorted(counter.values()) == [1, 1]


async def test_two_app_instances_sharing_redis_run_the_handler_once(aiohttp_client, redis_url):
    counter: dict = {}
    router = counting_router(counter, delay=0.3)
    a = await aiohttp_client(app(router, redis_url))
    b = await aiohttp_client(app(router, redis_url))
    doc = message("text", user=uid(), Content="shared", MsgId=msgid())
    results = await asyncio.gather(*(post(c, "safe", doc) for c in (a, b, a, b)))
    assert {r[1]["Content"] for r in results} == {"reply #1 to shared"}
    assert list(counter.values()) == [1]


async def test_redis_down_fails_open_and_dedup_resumes(aiohttp_client, own_redis, caplog):
    counter: dict = {}
    application = app(counting_router(counter), own_redis.url)
    client = await aiohttp_client(application)
    doc = message("text", user=uid(), Content="before", MsgId=msgid())
    assert (await post(client, "plain", doc))[1]["Content"] == "reply #1 to before"
    assert (await post(client, "plain", doc))[1]["Content"] == "reply #1 to before"

    own_redis.stop()
    for mode in ("plain", "safe", "plain"):
        down = message("text", user=uid(), Content="while down", MsgId=msgid())
        status, reply, _ = await post(client, mode, down)
        assert status == 200 and reply["Content"] == "reply #1 to while down"
    assert (await client.get("/readyz")).status == 503
    metrics = await (await client.get("/metrics")).text()
    # A plain push fails on remembering its URL (and skips the claim), a safe one on the claim.
    assert 'wxhook_store_errors_total{op="remember_url"} 2.0' in metrics
    assert 'wxhook_store_errors_total{op="claim"} 1.0' in metrics
    assert 'wxhook_fail_open_total{account="plainacct"} 2.0' in metrics
    assert 'wxhook_fail_open_total{account="safeacct"} 1.0' in metrics

    own_redis.start()  # same port, empty: dedup resumes without a restart of wxhook
    after_id = msgid()
    after = message("text", user=uid(), Content="after", MsgId=after_id)
    assert (await post(client, "plain", after))[1]["Content"] == "reply #1 to after"
    await asyncio.sleep(0.05)
    assert (await post(client, "plain", after))[1]["Content"] == "reply #1 to after"
    assert (await client.get("/readyz")).status == 200
    assert counter[int(after_id)] == 1
    # One line when the outage began, one when it ended, with the count; none per push.
    lines = [r.getMessage() for r in caplog.records if r.name == "wxhook.dispatch"]
    assert sum("store unavailable" in line for line in lines) == 1, lines
    back = [line for line in lines if "store available again" in line]
    assert len(back) == 1 and "3 push(es) were handled without dedup" in back[0], lines


async def test_redis_with_password_and_tls(aiohttp_client, tmp_path):
    from conftest import RedisProcess, free_port, self_signed_cert

    server = RedisProcess(free_port(), password="s3cret", tls_dir=self_signed_cert(tmp_path))
    server.start()
    try:
        counter: dict = {}
        good = app(counting_router(counter), server.url, store={"password": "s3cret"})
        client = await aiohttp_client(good)
        doc = message("text", user=uid(), Content="tls", MsgId=msgid())
        assert (await post(client, "plain", doc))[1]["Content"] == "reply #1 to tls"
        assert (await post(client, "plain", doc))[1]["Content"] == "reply #1 to tls"
        assert list(counter.values()) == [1]
        assert (await client.get("/readyz")).status == 200

        wrong = await aiohttp_client(
            app(counting_router({}), server.url, store={"password": "nope"})
        )
        status, reply, _ = await post(wrong, "plain", message("text", Content="x", MsgId=msgid()))
        assert status == 200 and reply["Content"] == "reply #1 to x"  # fails open
        assert (await wrong.get("/readyz")).status == 503
    finally:
        server.stop()
