"""Batcher: concurrent commands share one pipeline, each caller gets its own reply or error."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

from wxhook.stores.batch import Batcher, Script


@pytest.fixture
async def client(redis_url):
    c = aioredis.Redis.from_url(redis_url, socket_timeout=2)
    yield c
    await c.aclose()


def key() -> str:
    return "test|batch|" + uuid.uuid4().hex


async def test_concurrent_claims_go_out_as_one_pipeline(client, monkeypatch):
    batcher = Batcher(client, noscript=NoScriptError)
    pipelines = 0
    make = client.pipeline

    def counting(*args, **kwargs):
        nonlocal pipelines
        pipelines += 1
        return make(*args, **kwargs)

    monkeypatch.setattr(client, "pipeline", counting)
    keys = [key() for _ in range(50)]
    first = await asyncio.gather(
        *(batcher.execute("SET", k, b"P", "NX", "GET", "EX", 60, get=True) for k in keys)
    )
    again = await asyncio.gather(
        *(batcher.execute("SET", k, b"Q", "NX", "GET", "EX", 60, get=True) for k in keys)
    )
    assert first == [None] * 50  # claimed: nothing was there
    assert again == [b"P"] * 50  # duplicates see the first value, and change nothing
    assert pipelines == 2
    assert await client.ttl(keys[0]) > 50


async def test_each_caller_gets_its_own_error(client):
    batcher = Batcher(client, noscript=NoScriptError)
    k = key()
    await client.rpush(k, "a list")
    ok, wrong, after = await asyncio.gather(
        batcher.execute("SET", key(), b"v", "EX", 60),
        batcher.execute("INCR", k),
        batcher.execute("GET", "test|batch|absent"),
        return_exceptions=True,
    )
    assert ok is True  # redis-py's reply callback for SET
    assert isinstance(wrong, ResponseError) and "WRONGTYPE" in str(wrong)
    assert after is None


async def test_scripts_load_themselves_once(client):
    batcher = Batcher(client, noscript=NoScriptError)
    script = Script(f"return {{KEYS[1], ARGV[1], '{uuid.uuid4().hex}'}}")  # new to this Redis
    k = key()
    replies = await asyncio.gather(*(batcher.eval_script(script, [k], [i]) for i in range(5)))
    assert [r[:2] for r in replies] == [[k.encode(), str(i).encode()] for i in range(5)]
    assert await batcher.eval_script(script, [k], ["x"]) == [k.encode(), b"x", replies[0][2]]


async def test_a_dead_redis_fails_every_caller_of_the_batch(own_redis):
    c = aioredis.Redis.from_url(own_redis.url, socket_timeout=1, socket_connect_timeout=1)
    batcher = Batcher(c, noscript=NoScriptError)
    assert await batcher.execute("PING") is True
    own_redis.stop()
    results = await asyncio.gather(
        *(batcher.execute("GET", key()) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError | OSError) for r in results), results
    own_redis.start()
    assert await batcher.execute("PING") is True  # and it recovers by itself
    await batcher.aclose()
    await c.aclose()


async def test_send_queues_without_a_task(client):
    batcher = Batcher(client, noscript=NoScriptError)
    k = key()
    tasks = len(asyncio.all_tasks())
    future = batcher.send("SET", k, b"R", "EX", 60)
    assert len(asyncio.all_tasks()) == tasks  # the flush task starts on the next turn
    assert await future is True
    assert await client.get(k) == b"R"
    failed = batcher.send("INCR", "test|batch|" + uuid.uuid4().hex, "extra")
    with pytest.raises(ResponseError):
        await failed


async def test_a_full_queue_flushes_at_once(client):
    batcher = Batcher(client, noscript=NoScriptError, max_batch=4)
    keys = [key() for _ in range(10)]
    assert await asyncio.gather(*(batcher.execute("SET", k, 1) for k in keys)) == [True] * 10
    assert await client.exists(*keys) == 10


def test_the_module_does_not_import_redis():
    import subprocess
    import sys

    code = "import sys, wxhook.stores.batch; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


async def test_a_cancelled_caller_does_not_break_the_others(client):
    batcher = Batcher(client, noscript=NoScriptError)
    k1, k2 = key(), key()
    t1 = asyncio.ensure_future(batcher.execute("SET", k1, 1))
    t2 = asyncio.ensure_future(batcher.execute("SET", k2, 2))
    await asyncio.sleep(0)
    t1.cancel()
    assert await t2 is True
    with pytest.raises(asyncio.CancelledError):
        await t1
    await batcher.aclose()
