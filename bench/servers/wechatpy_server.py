"""What users write by hand: wechatpy + aiohttp + redis.asyncio, one handler.

check_signature, decrypt_message (safe mode), parse_message, a SET NX EX dedup claim in Redis,
create_reply for subscribe (encrypted in safe mode), "success" for everything else.

Usage: python bench/servers/wechatpy_server.py PORT plain|safe REDIS_URL [asyncio|uvloop]
"""

from __future__ import annotations

import sys

import redis.asyncio as aioredis
from aiohttp import web
from common import APP_ID, DEDUP_TTL, ENCODING_AES_KEY, PATH, TOKEN, WELCOME, use_loop
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

REDIS = web.AppKey("redis", aioredis.Redis)


def make_app(mode: str, redis_url: str) -> web.Application:
    crypto = WeChatCrypto(TOKEN, ENCODING_AES_KEY, APP_ID) if mode == "safe" else None

    async def callback(request: web.Request) -> web.Response:
        q = request.query
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        try:
            check_signature(TOKEN, q.get("signature", ""), timestamp, nonce)
        except InvalidSignatureException:
            return web.Response(status=403)
        body = await request.read()
        if crypto is not None:
            try:
                body = crypto.decrypt_message(body, q.get("msg_signature", ""), timestamp, nonce)
            except (InvalidSignatureException, InvalidAppIdException):
                return web.Response(status=403)
        msg = parse_message(body)
        # Retries: MsgId for messages, FromUserName + CreateTime for events (the documented rule).
        key = f"msg:{msg.id}" if msg.id else f"evt:{msg.source}:{msg.create_time.timestamp()}"
        if not await request.app[REDIS].set(f"wechatpy:dedup:{key}", 1, nx=True, ex=DEDUP_TTL):
            return web.Response(text="success")
        if msg.type == "event" and msg.event == "subscribe":
            xml = create_reply(WELCOME, msg).render()
            if crypto is not None:
                xml = crypto.encrypt_message(xml, nonce, timestamp)
            return web.Response(text=xml, content_type="application/xml")
        return web.Response(text="success")

    async def redis_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app[REDIS] = aioredis.Redis.from_url(redis_url)
        yield
        await app[REDIS].aclose()

    app = web.Application()
    app.cleanup_ctx.append(redis_ctx)
    app.router.add_post(PATH, callback)
    return app


def main() -> None:
    port, mode, redis_url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    use_loop(sys.argv[4] if len(sys.argv) > 4 else "asyncio")
    web.run_app(make_app(mode, redis_url), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
