"""CPU per hot-path Redis command: the pipelined RESP client beside redis-py, in one process.

Usage (a local Redis on 127.0.0.1:6379; db 13 unless --url says otherwise):
    .venv/bin/python bench/resp_vs_redispy.py [--n 20000] [--callers 32] [--rounds 3] [--push]

N dedup claims (`SET key token NX GET EX 60`) are issued by `--callers` concurrent callers, each
awaiting its claim before the next, as the server's requests do, through:
- redis-py: one redis-py command per claim (the store before the Batcher);
- batcher: the old `Batcher` (the commands of one event-loop turn as one redis-py pipeline),
  kept here in a few lines since wxhook/stores/batch.py is gone;
- resp: wxhook.stores.resp.RespClient, as RedisStore now uses it.
With --push, each caller also queues the stored reply (`SET key R... EX 60`, not awaited) after
its claim, as a push does: two commands per push. Reported: CPU µs per command
(time.process_time of the whole process, Redis excluded), medians of the rounds (the variants
interleaved), and the ratio to resp. Keys expire after 60 seconds.
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

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wxhook.stores.redis import resp_options
from wxhook.stores.resp import RespClient


class OldBatcher:
    """The essentials of the former wxhook/stores/batch.py Batcher (send/execute/flush)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._queue: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, *words: Any, **options: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((words, options, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[tuple[tuple[Any, ...], dict[str, Any], Any]]) -> None:
        live = [item for item in batch if not item[2].cancelled()]
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for words, options, _ in live:
                    pipe.execute_command(*words, **options)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            for _, _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), reply in zip(live, replies, strict=True):
            if not future.done():
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)


Claim = Callable[[str, bytes], Awaitable[Any]]
Store = Callable[[str, bytes], None]


async def run(claim: Claim, store: Store | None, n: int, callers: int, tag: str) -> float:
    """CPU seconds for n claims (and n stored replies with --push) by `callers` callers."""
    token = b"P" + os.urandom(8).hex().encode()
    per = n // callers

    async def caller(c: int) -> None:
        for i in range(per):
            key = f"bench|resp|{tag}|{c}|{i}"
            await claim(key, token)
            if store is not None:
                store(key, b"R<xml/>")

    cpu = time.process_time()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    return time.process_time() - cpu


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--push", action="store_true", help="a stored reply after each claim")
    parser.add_argument("--only", nargs="*", default=["redis-py", "batcher", "resp"])
    args = parser.parse_args()

    kwargs = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5, "max_connections": 64}
    client = aioredis.Redis.from_url(args.url, **kwargs)
    batcher = OldBatcher(client)
    resp = RespClient(resp_options(client))

    def noop(future: asyncio.Future[Any]) -> None:
        if not future.cancelled():
            future.exception()

    async def claim_redispy(key: str, token: bytes) -> Any:
        return await client.set(key, token, nx=True, get=True, ex=60)

    def store_redispy(key: str, value: bytes) -> None:
        task = asyncio.ensure_future(client.set(key, value, ex=60))  # the pre-Batcher store
        task.add_done_callback(noop)

    async def claim_batcher(key: str, token: bytes) -> Any:
        return await batcher.send("SET", key, token, "NX", "GET", "EX", 60, get=True)

    def store_batcher(key: str, value: bytes) -> None:
        batcher.send("SET", key, value, "EX", 60).add_done_callback(noop)

    async def claim_resp(key: str, token: bytes) -> Any:
        return await resp.send("SET", key, token, "NX", "GET", "EX", 60)

    def store_resp(key: str, value: bytes) -> None:
        resp.send("SET", key, value, "EX", 60).add_done_callback(noop)

    variants: dict[str, tuple[Claim, Store]] = {
        "redis-py": (claim_redispy, store_redispy),
        "batcher": (claim_batcher, store_batcher),
        "resp": (claim_resp, store_resp),
    }
    variants = {name: v for name, v in variants.items() if name in args.only}
    per_command = 2 if args.push else 1
    results: dict[str, list[float]] = {name: [] for name in variants}
    for name, (claim, store) in variants.items():  # warm up: connections, pools
        await run(claim, store if args.push else None, 640, args.callers, f"warm-{name}")
    await asyncio.sleep(0.1)
    for r in range(args.rounds):
        for name, (claim, store) in variants.items():
            cpu = await run(
                claim, store if args.push else None, args.n, args.callers, f"{r}-{name}"
            )
            await asyncio.sleep(0.1)  # stored replies still in flight land before the next
            results[name].append(cpu / (args.n * per_command) * 1e6)

    what = "claim + stored reply" if args.push else "claim"
    print(f"{args.n} pushes ({what}), {args.callers} callers, {args.rounds} rounds, {args.url}")
    print("| client | CPU µs per command (median) | rounds | vs resp |")
    print("|---|---:|---|---:|")
    base = statistics.median(results["resp"]) if "resp" in results else None
    for name, values in results.items():
        median = statistics.median(values)
        ratio = f"{median / base:.2f}x" if base else "-"
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {name} | {median:.1f} | {rounds} | {ratio} |")
    await resp.aclose()
    await client.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
