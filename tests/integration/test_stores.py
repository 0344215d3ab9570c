"""Both stores behave alike: claims, replies, waiting, failure records; Redis before 7.0 too."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from wxhook.config import StoreConfig
from wxhook.stores import Existing, open_store
from wxhook.stores.memory import MemoryDedup
from wxhook.stores.redis import redis_store


@pytest.fixture(params=["memory", "redis"])
async def store(request):
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    s = open_store(StoreConfig(url=url))
    yield s
    await s.close()


def key() -> str:
    return "test|" + uuid.uuid4().hex


async def test_claim_complete_and_duplicates(store):
    k = key()
    assert await store.dedup.claim(k, 60) is None
    assert await store.dedup.claim(k, 60) == Existing(done=False)
    waiter = asyncio.create_task(store.dedup.wait_done(k, 5))
    await asyncio.sleep(0.05)
    await store.dedup.complete(k, b"<xml>reply</xml>", 60)
    assert await waiter == b"<xml>reply</xml>"
    assert await store.dedup.claim(k, 60) == Existing(done=True, reply=b"<xml>reply</xml>")


async def test_wait_times_out_with_none(store):
    k = key()
    await store.dedup.claim(k, 60)
    assert await store.dedup.wait_done(k, 0.1) is None


async def test_failures_are_kept_newest_first(store):
    marker = uuid.uuid4().hex
    await store.failures.record({"handler": "a", "marker": marker})
    await store.failures.record({"handler": "b", "marker": marker})
    rows = [r for r in await store.failures.recent(10) if r.get("marker") == marker]
    assert [r["handler"] for r in rows] == ["b", "a"]


async def test_memory_store_expires_and_is_bounded():
    now = [0.0]
    dedup = MemoryDedup(max_keys=2, clock=lambda: now[0])
    await dedup.claim("a", 10)
    await dedup.claim("b", 10)
    await dedup.claim("c", 10)  # evicts the oldest
    assert await dedup.claim("a", 10) is None
    now[0] = 11
    assert await dedup.claim("c", 10) is None  # expired


async def test_redis_without_set_get_falls_back(redis_url):
    s = redis_store(StoreConfig(url=redis_url))
    s.dedup._set_get = False  # what a Redis older than 7.0 leads to after its first refusal
    k = key()
    assert await s.dedup.claim(k, 60) is None
    assert await s.dedup.claim(k, 60) == Existing(done=False)
    await s.dedup.complete(k, b"r", 60)
    assert await s.dedup.claim(k, 60) == Existing(done=True, reply=b"r")
    await s.close()


async def test_a_transient_redis_error_does_not_switch_off_set_nx_get(own_redis):
    import redis.asyncio as aioredis

    from wxhook.stores import StoreUnavailable

    s = redis_store(StoreConfig(url=own_redis.url))
    admin = aioredis.Redis.from_url(own_redis.url)
    try:
        assert await s.dedup.claim("k|" + uuid.uuid4().hex, 60) is None
        await admin.config_set("maxmemory-policy", "noeviction")
        await admin.config_set("maxmemory", 1)  # every write is refused: OOM
        with pytest.raises(StoreUnavailable):
            await s.dedup.claim("k|" + uuid.uuid4().hex, 60)
        await admin.config_set("maxmemory", 0)
        assert s.dedup._set_get  # one round trip again, not the two-command fallback
        assert await s.dedup.claim("k|" + uuid.uuid4().hex, 60) is None
    finally:
        await admin.aclose()
        await s.close()


async def test_remember_url_first_digest_wins(store):
    url = "url|" + uuid.uuid4().hex
    assert await store.dedup.remember_url(url, "d1", 60) is False  # first time
    assert await store.dedup.remember_url(url, "d1", 60) is False  # the same body again: a retry
    assert await store.dedup.remember_url(url, "d2", 60) is True  # another body on that URL
    assert await store.dedup.remember_url(url, "d1", 60) is False  # the first digest is kept


async def test_redis_without_set_get_remembers_urls_too(redis_url):
    s = redis_store(StoreConfig(url=redis_url))
    s.dedup._set_get = False  # what a Redis older than 7.0 leads to after its first refusal
    url = "url|" + uuid.uuid4().hex
    try:
        assert await s.dedup.remember_url(url, "d1", 60) is False
        assert await s.dedup.remember_url(url, "d1", 60) is False
        assert await s.dedup.remember_url(url, "d2", 60) is True
    finally:
        await s.close()


async def test_concurrent_claims_of_one_key_have_one_owner(redis_url):
    s = redis_store(StoreConfig(url=redis_url))
    k = key()
    try:
        # Claimed in the same event-loop turn: they travel in one pipeline, and still only
        # the first owns the key; the others see it pending.
        results = await asyncio.gather(*(s.dedup.claim(k, 60) for _ in range(50)))
        assert results.count(None) == 1
        assert all(r == Existing(done=False) for r in results if r is not None)
    finally:
        await s.close()


async def test_dead_pooled_connections_are_replaced_not_failed(own_redis):
    import redis.asyncio as aioredis

    s = redis_store(StoreConfig(url=own_redis.url))
    admin = aioredis.Redis.from_url(own_redis.url)
    try:
        assert await s.dedup.claim(key(), 60) is None  # a pooled connection now exists
        await admin.client_kill_filter(_type="normal", skipme=True)  # every other client
        assert await s.dedup.claim(key(), 60) is None  # retried once on a fresh connection
        await s.dedup.complete(key(), b"r", 60)
    finally:
        await admin.aclose()
        await s.close()


async def test_a_stalled_redis_fails_a_claim_within_the_bound(own_redis):
    import redis.asyncio as aioredis

    from wxhook.stores import StoreUnavailable

    s = redis_store(StoreConfig(url=own_redis.url, socket_timeout=0.2))
    admin = aioredis.Redis.from_url(own_redis.url)
    errors: list[Exception] = []
    failed = asyncio.Event()

    def on_error(exc: Exception) -> None:
        errors.append(exc)
        failed.set()

    try:
        assert await s.dedup.claim(key(), 60) is None
        await admin.client_pause(3000)  # every other client's commands wait 3 s
        with pytest.raises(StoreUnavailable):
            async with asyncio.timeout(s.bound + 0.5):  # cut by the store itself, in time
                await s.dedup.claim(key(), 60)
        s.dedup.complete_soon(key(), b"r", 60, on_error)
        async with asyncio.timeout(s.bound + 0.5):
            await failed.wait()
        assert isinstance(errors[0], StoreUnavailable)
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        await s.close()
