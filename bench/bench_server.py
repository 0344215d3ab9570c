"""wxhook's callback throughput as ratios to a bare aiohttp handler measured in the same run.

Usage: .venv/bin/python bench/bench_server.py [--requests 3000] [--concurrency 20] [--redis URL]

Traffic goes to 127.0.0.1 only, is bounded by --requests, and the servers stop by themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
from aiohttp import web

from wxhook import Router
from wxhook.config import parse_config
from wxhook.core import AccountKeys
from wxhook.server import create_app
from wxhook.simulator import message, push

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def baseline_app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="success")

    app = web.Application()
    app.router.add_post("/wechat", ok)
    return app


def wxhook_app(mode: str, store: str) -> tuple[web.Application, AccountKeys]:
    account = {"name": "bench", "path": "/wechat", "token": "t", "mode": mode}
    if mode != "plain":
        account |= {"app_id": "wxbench0000000001", "encoding_aes_key": KEY}
    config = parse_config({"store": {"url": store}, "accounts": [account]}, env={})
    router = Router()

    @router.message("text")
    async def echo(m):  # type: ignore[no-untyped-def]
        return m.content

    keys = config.accounts[0].keys()
    return create_app(config, router=router), keys


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def load(port: int, requests: list[tuple[dict[str, str], bytes]], concurrency: int) -> float:
    queue = list(requests)
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while queue:
                query, body = queue.pop()
                async with session.post(
                    f"http://127.0.0.1:{port}/wechat", params=query, data=body
                ) as r:
                    await r.read()
                    assert r.status == 200, r.status

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(requests) / (time.perf_counter() - started)


async def measure(app: web.Application, keys: AccountKeys | None, n: int, conc: int) -> float:
    runner, port = await serve(app)
    try:
        k = keys or AccountKeys.create(token="t")
        reqs = [
            push(k, message("text", user="oBENCH", Content="你好", MsgId=str(i)))
            for i in range(time.time_ns(), time.time_ns() + n)
        ]
        return await load(port, reqs, conc)
    finally:
        await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    cases = [
        ("bare aiohttp (baseline)", lambda: (baseline_app(), None)),
        ("wxhook plain, memory://", lambda: wxhook_app("plain", "memory://")),
        ("wxhook safe, memory://", lambda: wxhook_app("safe", "memory://")),
        ("wxhook plain, redis", lambda: wxhook_app("plain", args.redis)),
        ("wxhook safe, redis", lambda: wxhook_app("safe", args.redis)),
    ]
    results: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(args.rounds):  # interleaved rounds, so machine noise hits every case alike
        for name, make in cases:
            app, keys = make()
            results[name].append(await measure(app, keys, args.requests, args.concurrency))
    base = statistics.median(results[cases[0][0]])
    print(f"{args.requests} requests x {args.rounds} rounds, concurrency {args.concurrency}")
    print("| case | median req/s | ratio to baseline |\n|---|---:|---:|")
    for name, _ in cases:
        med = statistics.median(results[name])
        print(f"| {name} | {med:,.0f} | {med / base:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
