"""examples/qrtrack.py against a real Redis (WXHOOK_TEST_REDIS_URL), through the real pipeline."""

from __future__ import annotations

import os
import uuid

import pytest
import redis.asyncio as aioredis

from examples import qrtrack

REDIS_URL = os.environ.get("WXHOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def scene():
    """A scene nobody else uses; its keys are deleted afterwards."""
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        await client.ping()
    except aioredis.RedisError as exc:
        pytest.fail(f"no Redis answers at {REDIS_URL} ({exc}): set WXHOOK_TEST_REDIS_URL")
    name = "test-" + uuid.uuid4().hex[:12]
    yield name
    await client.delete(qrtrack.scene_key(name), qrtrack.scene_key(name) + ":users")
    await client.srem(qrtrack.PREFIX + "scenes", name)
    await client.aclose()


async def test_follows_and_scans_are_counted_per_scene(wechat, scene):
    client = await wechat(qrtrack.router, mode="safe", store=REDIS_URL)
    assert (await client.send("subscribe", EventKey=f"qrscene_{scene}", user="oA")).content == (
        "欢迎关注！"
    )
    assert (await client.send("SCAN", EventKey=scene, user="oA")).content == "欢迎回来！"
    await client.send("SCAN", EventKey=scene, user="oB")
    stats = await qrtrack.stats(client.state[qrtrack.REDIS], scene)
    assert stats == {"follows": 1, "scans": 2, "users": 2}
    report = await client.text(f"渠道 {scene}")
    assert report.content == f"渠道 {scene}：关注 1，扫码 2，用户 2"


async def test_a_retry_is_not_counted_twice(wechat, scene):
    client = await wechat(qrtrack.router, store=REDIS_URL)
    await client.send("SCAN", EventKey=scene)
    assert (await client.retry()).content == "欢迎回来！"  # the stored reply
    stats = await qrtrack.stats(client.state[qrtrack.REDIS], scene)
    assert stats["scans"] == 1


async def test_plain_follows_are_not_tracked(wechat, scene):
    client = await wechat(qrtrack.router, store=REDIS_URL)
    assert (await client.send("subscribe")).empty
    assert (await qrtrack.stats(client.state[qrtrack.REDIS], scene))["follows"] == 0


async def test_refuses_to_start_without_redis(wechat):
    with pytest.raises(RuntimeError, match=r"store\.url = redis://"):
        await wechat(qrtrack.router)
