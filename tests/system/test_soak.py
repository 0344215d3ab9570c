"""Soak: minutes of mixed load against a real `wxhook serve` with Redis; memory, tasks and sockets
must level off. Bounded (WXHOOK_SOAK_SECONDS, 120 by default, at most 600) and loopback only.

Not part of the default run: `.venv/bin/python -m pytest -m soak -s` after the test command.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import RedisProcess, free_port
from prometheus_client.parser import text_string_to_metric_families
from test_fault import KEYS, Server

from wxhook.simulator import event, message, push

pytestmark = pytest.mark.soak
SECONDS = min(float(os.environ.get("WXHOOK_SOAK_SECONDS", "120")), 600.0)
PLUGIN = textwrap.dedent(
    """
    import asyncio
    import wxhook

    router = wxhook.Router()

    @router.message("text")
    async def reply(message):
        if message.content.endswith("7"):
            raise RuntimeError("one in ten fails, and is recorded")
        if message.content.endswith("3"):
            await asyncio.sleep(0.5)  # some go on in the background (deadline is 0.2 s)
        return "ok " + message.content

    @router.event("subscribe")
    async def welcome(event):
        return "welcome"
    """
)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def connections(pid: int, port: int, redis_port: int) -> tuple[int, int]:
    """(client connections open on the server's port, connections to Redis) held by `pid`."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    clients = to_redis = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            local, remote, state, inode = cols[1], cols[2], cols[3], cols[9]
            if inode not in inodes or state == "0A":  # 0A: the listening socket
                continue
            if int(local.rsplit(":", 1)[1], 16) == port:
                clients += 1
            elif int(remote.rsplit(":", 1)[1], 16) == redis_port:
                to_redis += 1
    return clients, to_redis


def loop_tasks(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "wxhook_event_loop_tasks":
            return family.samples[0].value
    raise AssertionError("no wxhook_event_loop_tasks")


def test_soak_memory_tasks_and_sockets_level_off(tmp_path: Path):
    redis = RedisProcess(free_port())
    redis.start()
    server = Server(tmp_path, redis.url, plugin=PLUGIN, deadline=0.2)
    pid, port = server.proc.pid, server.port

    def sample() -> tuple[int, float, int, int]:
        clients, to_redis = connections(pid, port, redis.port)
        return rss_kb(pid), loop_tasks(server.proc.ops_port), clients, to_redis

    stop = threading.Event()
    sent = [0]
    lock = threading.Lock()

    def worker(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            if i % 5 == 0:
                doc = event("subscribe", user=f"oSOAK{n}-{i}")
            else:
                doc = message("text", user=f"oSOAK{n}", Content=f"m{n}-{i}", MsgId=f"{n}{i:09d}")
            query, body = push(KEYS, doc)
            url = f"http://127.0.0.1:{port}/wechat?" + "&".join(
                f"{k}={v}" for k, v in query.items()
            )
            with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
                assert r.status == 200
                r.read()
            with lock:
                sent[0] += 1

    try:
        baseline = sample()
        samples: list[tuple[float, int, float, int, int]] = []
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(worker, n) for n in range(6)]
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < SECONDS:
                time.sleep(min(5.0, SECONDS / 12))
                samples.append((elapsed, *sample()))
                _, rss, tasks, clients, to_redis = samples[-1]
                print(
                    f"{elapsed:6.0f}s sent={sent[0]} rss={rss} kB tasks={tasks:.0f} "
                    f"client connections={clients} redis connections={to_redis}"
                )
                if any(f.done() for f in futures):
                    break
            stop.set()
            for f in futures:
                f.result()  # a worker's failed request fails the soak
        time.sleep(1.5)  # background handlers (0.5 s) and reply stores finish
        idle = sample()
        print(f"(rss kB, tasks, clients, redis): baseline {baseline}, idle {idle}")

        assert sent[0] > 500
        # Memory: the second half of the run grows by less than 5 MB over the first half's peak.
        half = len(samples) // 2
        first_peak = max(s[1] for s in samples[:half])
        second_peak = max(s[1] for s in samples[half:])
        assert second_peak - first_peak < 5 * 1024, (first_peak, second_peak)
        # Tasks and client connections: back to where they started once the load stops.
        assert idle[1] <= baseline[1] + 2, (baseline, idle)
        assert idle[2] == 0, (baseline, idle)
        # The Redis pool grows to the concurrency it meets, then stops growing.
        assert max(s[4] for s in samples[half:]) <= max(s[4] for s in samples[:half]) + 2
        assert idle[3] <= 64  # store.max_connections
    finally:
        stop.set()
        server.stop()
        redis.stop()
