"""CPU per push of the Redis store's hot path: redis-py awaited one by one beside the batcher.

Usage (a Redis on 127.0.0.1:6379; db 13 unless --url says otherwise):
    .venv/bin/python bench/redis_store.py [--n 20000] [--callers 32] [--rounds 5]
        [--ways awaited batched plain plain-together]

Each of `--callers` concurrent callers runs N / callers pushes one after another, as the server's
requests do: an awaited dedup claim (`SET key token NX GET EX 60`), then the stored reply
(`SET key R... EX 60`) that nobody awaits. Two ways, interleaved round by round in one process:
- awaited: redis-py (redis.asyncio, hiredis parser), one command at a time; the stored reply
  as a task of its own (the store before any batching);
- batched: wxhook's Redis dedup store as it runs (stores/batch.py: the commands of one
  event-loop turn as one non-transactional redis-py pipeline), through dedup.claim and
  dedup.complete_soon: the Redis work of a safe-mode push;
- plain: a plain-mode push as the dispatcher runs it: dedup.remember_url (the signed URL's body
  digest) awaited, then the claim, then the stored reply: two batches waited for, not one;
- plain-together: the same three commands with the URL record and the claim queued in the same
  event-loop turn and awaited together (one batch waited for), what a store method doing both
  would cost (a proposal; emulated here through the store's batcher).
Reported: CPU µs per push (time.process_time of the whole process, Redis excluded), medians
of the rounds, and the ratio awaited / batched. Keys expire after 60 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis
from redis.utils import HIREDIS_AVAILABLE

from wxhook.config import StoreConfig
from wxhook.stores.redis import redis_store

Push = Callable[[str], Awaitable[Any]]


async def run(push: Push, n: int, callers: int, tag: str) -> float:
    """CPU seconds for n pushes by `callers` concurrent callers."""
    per = n // callers

    async def caller(c: int) -> None:
        for i in range(per):
            await push(f"bench|{tag}|{c}|{i}")

    cpu = time.process_time()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    return time.process_time() - cpu


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--ways",
        nargs="+",
        default=["awaited", "batched", "plain", "plain-together"],
        choices=["awaited", "batched", "plain", "plain-together"],
    )
    args = parser.parse_args()

    client = aioredis.Redis.from_url(
        args.url, socket_timeout=0.5, socket_connect_timeout=0.5, max_connections=512
    )
    store = redis_store(StoreConfig(url=args.url))
    dedup = store.dedup
    tasks: set[asyncio.Task[Any]] = set()

    async def awaited(key: str) -> None:
        token = b"P" + os.urandom(8).hex().encode()
        await client.set("wxhook:dedup:" + key, token, nx=True, get=True, ex=60)
        task = asyncio.ensure_future(client.set("wxhook:dedup:" + key, b"R<xml/>", ex=60))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def failed(exc: Exception) -> None:
        raise exc

    async def batched(key: str) -> None:
        await dedup.claim(key, 60)
        dedup.complete_soon(key, b"<xml/>", 60, failed)

    async def plain(key: str) -> None:
        await dedup.remember_url(key, "d" * 32, 60)
        await dedup.claim(key, 60)
        dedup.complete_soon(key, b"<xml/>", 60, failed)

    async def plain_together(key: str) -> None:
        batch = dedup._batch  # type: ignore[attr-defined]
        token = b"P" + os.urandom(8).hex().encode()
        url = batch.send(
            "SET", b"wxhook:url:" + key.encode(), b"d" * 32, b"NX", b"GET", b"EX", b"60", get=True
        )
        claim = batch.send(
            "SET", b"wxhook:dedup:" + key.encode(), token, b"NX", b"GET", b"EX", b"60", get=True
        )
        await url
        await claim
        dedup.complete_soon(key, b"<xml/>", 60, failed)

    every: dict[str, Push] = {
        "awaited": awaited,
        "batched": batched,
        "plain": plain,
        "plain-together": plain_together,
    }
    variants = {name: every[name] for name in args.ways}
    for name, push in variants.items():  # warm up: connections, pools
        await run(push, 640, args.callers, f"warm-{name}")
    results: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, push in variants.items():
            cpu = await run(push, args.n, args.callers, f"{r}-{name}")
            if tasks:  # stored replies still in flight land before the next variant
                await asyncio.wait(set(tasks))
            await asyncio.sleep(0.1)
            results[name].append(cpu / args.n * 1e6)

    print(
        f"{args.n} pushes (claim + stored reply), {args.callers} callers, {args.rounds} rounds, "
        f"{args.url}, Python {sys.version.split()[0]}, hiredis {HIREDIS_AVAILABLE}"
    )
    print("| way | CPU µs per push (median) | best round | rounds | vs batched |")
    print("|---|---:|---:|---|---:|")
    base = statistics.median(results[args.ways[0] if "batched" not in results else "batched"])
    for name, values in results.items():
        median = statistics.median(values)
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {name} | {median:.1f} | {min(values):.1f} | {rounds} | {median / base:.2f}x |")
    await store.close()
    await client.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
