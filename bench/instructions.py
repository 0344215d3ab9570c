"""Instructions per push of each server, counted by valgrind's callgrind: the same number from
run to run whatever else the machine is doing, so a change of a few percent shows, where req/s
on this shared machine moves by ±20 % between runs of the same code.

Each server runs under callgrind twice, answering a small and a larger number of distinct pushes
(sent by an in-process client over keep-alive connections, 8 at a time); the difference of the
two totals divided by the difference of the counts is the cost of one push, without start-up and
shutdown. It counts user-space instructions only: the kernel's share (socket reads and writes,
which the side-by-side run's CPU µs include) is not in it. Takes about a minute per run.

Usage (after bench/run.sh has made .venv-bench; valgrind from Debian's package):
    .venv-bench/bin/python bench/instructions.py [--servers bare wechatpy wxhook]
        [--modes plain safe] [--wxhook-path DIR] [--out bench/results/instructions.json]
Traffic goes to 127.0.0.1 only; every process started here is stopped by its pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pool  # noqa: E402
from sidebyside import MODES, PY, RESULTS, SERVERS, Bench, free_port, wait_port  # noqa: E402

SMALL, LARGE, CONCURRENCY = 200, 1200, 8


async def load(port: int, pushes: list[tuple[str, bytes]]) -> None:
    """Send every push once, CONCURRENCY connections at a time; each must be answered 200."""
    todo = iter(pushes)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for target, body in todo:
            head = f"POST {target} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
            answer = await reader.readuntil(b"\r\n\r\n")
            if not answer.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"unexpected answer: {answer[:80]!r}")
            length = 0
            for line in answer.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.partition(b":")[2])
            await reader.readexactly(length)
        writer.close()

    await asyncio.gather(*(connection() for _ in range(CONCURRENCY)))


def total(bench: Bench, server: str, mode: str, count: int) -> int:
    """Instructions of one server process answering `count` pushes (plus start and stop)."""
    bench.flush_redis()
    port = free_port()
    out = bench.workdir / f"callgrind-{server}-{mode}-{count}.out"
    env = dict(os.environ)
    if server == "wxhook" and bench.args.wxhook_path is not None:
        env["PYTHONPATH"] = str(bench.args.wxhook_path.resolve())
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    cmd += bench.command(server, mode, port)
    log = (bench.workdir / f"{server}-{mode}-{count}.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=HERE / "servers", env=env)
    salt = str(time.time_ns())
    pushes = [(t, b) for _, t, b in pool.pushes(mode, count + CONCURRENCY, salt=salt)]
    try:
        wait_port(port, proc, timeout=300)
        asyncio.run(load(port, pushes[:CONCURRENCY]))  # every path once before counting starts
        asyncio.run(load(port, pushes[CONCURRENCY:]))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(300)
        log.close()
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no total in {out}")


def table(per_push: dict[str, dict[str, int]], servers: list[str]) -> str:
    """Markdown: instructions per push of each server, and wxhook's ratios to the others."""
    others = [s for s in servers if s != "wxhook"] if "wxhook" in servers else []
    head = ["mode", *(f"{s} instr/push" for s in servers), *(f"wxhook / {s}" for s in others)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for mode, row in per_push.items():
        cells = [mode, *(f"{row[s]:,}" for s in servers)]
        # As req/s would compare: fewer instructions per push is more pushes per second.
        cells += [f"{row[s] / row['wxhook']:.2f}x" for s in others]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", nargs="*", choices=SERVERS, default=list(SERVERS))
    parser.add_argument("--modes", nargs="*", choices=MODES, default=list(MODES))
    parser.add_argument("--wxhook-path", type=Path, default=None)
    parser.add_argument(
        "--log-level", default="info", help="wxhook's log.level (warning: no access line)"
    )
    parser.add_argument("--wxhook-store", choices=("redis", "memory"), default="redis")
    parser.add_argument("--out", type=Path, default=RESULTS / "instructions.json")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is missing: apt-get install valgrind")
    # What Bench.command reads: the servers run as in the side-by-side benchmark.
    args.loop = "asyncio"
    per_push: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args, Path(tmp))
        bench.start_redis()
        try:
            for mode in args.modes:
                for server in args.servers:
                    small = total(bench, server, mode, SMALL)
                    large = total(bench, server, mode, LARGE)
                    per_push.setdefault(mode, {})[server] = (large - small) // (LARGE - SMALL)
                    print(f"{server:8s} {mode:5s} {per_push[mode][server]:>9,} instructions/push")
        finally:
            assert bench.redis is not None
            bench.redis.terminate()
            bench.redis.wait()
    text = table(per_push, args.servers)
    print(text)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "command": "python bench/instructions.py " + " ".join(sys.argv[1:]),
                "python": sys.version.split()[0],
                "interpreter": PY,
                "per_push": per_push,
                "markdown": text,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
