"""Track parametric QR codes: count follows and scans per scene in Redis.

A follow through a QR code (subscribe with EventKey qrscene_<scene>) and a follower's scan (SCAN)
each add one to the scene's counters, and the sender to its distinct users (a HyperLogLog, so no
OpenID is stored). WeChat's retries never count twice: wxhook runs a handler once per push.
"渠道 <scene>" (text) answers with the scene's numbers.

It uses the server's own Redis (store.url, store.password): run it with a redis:// store.
"""

from __future__ import annotations

import redis.asyncio as aioredis

import wxhook
from wxhook import Router

router = Router("qrtrack")

REDIS = "qrtrack.redis"  # the client, in the app-wide state
PREFIX = "qrtrack:"


def scene_key(scene: str) -> str:
    """The hash holding a scene's counters (fields: follows, scans)."""
    return f"{PREFIX}{scene}"


@router.on_startup
async def connect(state: wxhook.State) -> None:
    store = state.config.store
    if not store.url.startswith(("redis://", "rediss://", "unix://")):
        raise RuntimeError(
            f"qrtrack keeps its counts in the server's Redis, but store.url is {store.url!r}: "
            "set store.url = redis://… (or WXHOOK_STORE_URL)"
        )
    state[REDIS] = aioredis.Redis.from_url(
        store.url,
        password=store.password or None,
        socket_timeout=store.socket_timeout,
        socket_connect_timeout=store.connect_timeout,
        decode_responses=True,
    )


@router.on_shutdown
async def disconnect(state: wxhook.State) -> None:
    await state[REDIS].aclose()


@router.on(wxhook.SubscribeScanEvent, wxhook.ScanEvent)
async def record(event: wxhook.SubscribeScanEvent | wxhook.ScanEvent, ctx: wxhook.Context) -> str:
    follow = isinstance(event, wxhook.SubscribeScanEvent)
    client: aioredis.Redis = ctx.state[REDIS]
    async with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(scene_key(event.scene_id), "follows" if follow else "scans", 1)
        pipe.pfadd(scene_key(event.scene_id) + ":users", event.source)
        pipe.sadd(PREFIX + "scenes", event.scene_id)
        await pipe.execute()
    ctx.logger.info("QR scene %s: %s", event.scene_id, "follow" if follow else "scan")
    return "欢迎关注！" if follow else "欢迎回来！"


async def stats(client: aioredis.Redis, scene: str) -> dict[str, int]:
    """A scene's follows, scans and distinct users."""
    counts = await client.hgetall(scene_key(scene))
    users = await client.pfcount(scene_key(scene) + ":users")
    return {
        "follows": int(counts.get("follows", 0)),
        "scans": int(counts.get("scans", 0)),
        "users": int(users),
    }


@router.message("text", regex=r"^渠道\s*\S+$")
async def report(message: wxhook.TextMessage, ctx: wxhook.Context) -> str:
    scene = message.content.removeprefix("渠道").strip()
    s = await stats(ctx.state[REDIS], scene)
    return f"渠道 {scene}：关注 {s['follows']}，扫码 {s['scans']}，用户 {s['users']}"
