"""The protocol core's cost per push, as ratios to stdlib XML parsing of the same bytes.

Usage: .venv/bin/python bench/bench_core.py [--pushes 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

from wxhook import Router
from wxhook.core import AccountKeys, decode, encode
from wxhook.dispatcher import Dispatcher
from wxhook.metrics import Metrics
from wxhook.simulator import message, push
from wxhook.stores.memory import MemoryStore

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def timed(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pushes", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    plain = AccountKeys.create(token="t")
    safe = AccountKeys.create(token="t", app_id="wxbench", encoding_aes_key=KEY, mode="safe")
    docs = [message("text", Content="你好", MsgId=str(i)) for i in range(args.pushes)]
    plain_reqs = [push(plain, d) for d in docs]
    safe_reqs = [push(safe, d) for d in docs]
    router = Router()

    @router.message("text")
    async def echo(m):  # type: ignore[no-untyped-def]
        return m.content

    def baseline() -> None:
        for _, body in plain_reqs:
            ET.fromstring(body)

    def core(keys: AccountKeys, reqs: list[tuple[dict[str, str], bytes]]) -> Callable[[], None]:
        def run() -> None:
            for query, body in reqs:
                request = decode(keys, query, body)
                encode(keys, request.message.content, request, now=1)  # type: ignore[attr-defined]

        return run

    def pipeline() -> None:
        async def go() -> None:
            d = Dispatcher(router, MemoryStore(), metrics=Metrics())
            for query, body in plain_reqs:
                request = decode(plain, query, body)
                await d.dispatch("bench", request.message)

        asyncio.run(go())

    base = timed(baseline, args.rounds)
    rows = [
        ("stdlib ElementTree.fromstring (baseline)", base),
        ("decode + encode, plain", timed(core(plain, plain_reqs), args.rounds)),
        ("decode + encode, safe (AES both ways)", timed(core(safe, safe_reqs), args.rounds)),
        ("decode + dispatch (memory://) + render, plain", timed(pipeline, args.rounds)),
    ]
    print(f"{args.pushes} text pushes, median of {args.rounds} rounds")
    print("| case | µs per push | ratio to baseline |\n|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds / args.pushes * 1e6:.1f} | {seconds / base:.1f} |")


if __name__ == "__main__":
    main()
