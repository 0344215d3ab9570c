"""Fail-open accounting against a real `wxhook serve`: Redis stopped and started under load.

Every push handled without a successful claim counts in wxhook_fail_open_total{account}, and
the log says so once per outage: one line when it begins, one with the count when claims
succeed again.

Two accounts. "main" gets its load in three phases (before, during, after the outage), so
exactly which of its pushes found Redis down is known; "noise" gets a steady load that never
pauses, so the outage begins and ends with requests in flight (each of its pushes is counted
or not depending on the moment its claim ran: bounded by the request times).
"""

from __future__ import annotations

import re
import textwrap
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import RedisProcess, free_port, start_serve, wait_until_answers
from test_fault import PLUGIN, handled

from wxhook.core import AccountKeys
from wxhook.simulator import message, push

KEYS = AccountKeys.create(token="fault-token")
OUTAGE = "store unavailable, handling pushes without dedup"
RECOVERY = re.compile(r"store available again: (\d+) push\(es\) were handled without dedup")


def deliver(port: int, path: str, content: str, times: int) -> list[int]:
    """One push, delivered `times` times with the same query and body (WeChat's retry)."""
    doc = message(
        "text", user="o" + uuid.uuid4().hex[:20], Content=content, MsgId=str(uuid.uuid4().int >> 65)
    )
    query, body = push(KEYS, doc)
    url = f"http://127.0.0.1:{port}{path}?" + "&".join(f"{k}={v}" for k, v in query.items())
    statuses = []
    for _ in range(times):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
                r.read()
                statuses.append(r.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
    return statuses


def fail_open(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    found = re.findall(r'^wxhook_fail_open_total\{account="(\w+)"\} (\S+)$', text, re.M)
    return {account: float(value) for account, value in found}


def test_pushes_handled_during_an_outage_are_counted_and_logged_once(tmp_path: Path):
    redis = RedisProcess(free_port())
    redis.start()
    port = free_port()
    (tmp_path / "faultplugin.py").write_text(PLUGIN)
    (tmp_path / "config.toml").write_text(
        textwrap.dedent(
            f"""
            [server]
            host = "127.0.0.1"
            port = {port}
            [store]
            url = "{redis.url}"
            # Roomy: a claim missed on a busy machine would fail open and count.
            socket_timeout = 2.0
            connect_timeout = 1.0
            [plugins]
            modules = ["faultplugin"]
            [[accounts]]
            name = "main"
            path = "/wechat"
            token = "fault-token"
            [[accounts]]
            name = "noise"
            path = "/noise"
            token = "fault-token"
            """
        )
    )
    server = start_serve(tmp_path, port, {"WXHOOK_TEST_HANDLED": str(tmp_path / "handled.txt")})
    log = tmp_path / "server.log"
    stop_noise = threading.Event()
    noise: list[tuple[float, float, int]] = []  # (sent, answered, status) of each noise push

    def steady() -> None:  # never pauses across the outage; bounded by its count
        for i in range(2000):
            if stop_noise.is_set():
                return
            sent = time.monotonic()
            (status,) = deliver(port, "/noise", f"noise{i:09d}", 1)
            noise.append((sent, time.monotonic(), status))
            time.sleep(0.005)

    def main(phase: str, pool: ThreadPoolExecutor) -> list[str]:
        contents = [f"{phase}{i:09d}" for i in range(60)]
        # Each push delivered twice: with the store, the retry is a duplicate; without, not.
        for statuses in pool.map(lambda c: deliver(port, "/wechat", c, 2), contents):
            assert statuses == [200, 200]
        return contents

    try:
        noise_thread = threading.Thread(target=steady)
        noise_thread.start()
        with ThreadPoolExecutor(8) as pool:
            before = main("up", pool)
            assert fail_open(server.ops_port) == {}

            stopping = time.monotonic()
            redis.stop()
            stopped = time.monotonic()
            during = main("down", pool)
            time.sleep(0.3)  # the noise goes on through the outage
            starting = time.monotonic()
            redis.start()  # same port, empty
            started = time.monotonic()
            wait_until_answers(server, f"http://127.0.0.1:{server.ops_port}/readyz", log)
            after = main("back", pool)
            time.sleep(0.3)
        stop_noise.set()
        noise_thread.join(60)

        runs = handled(tmp_path)
        assert all(runs[c] == 1 for c in before + after), {
            c: runs[c] for c in before + after if runs[c] != 1
        }
        assert all(runs[c] == 2 for c in during)  # no dedup without the store: both ran
        counted = fail_open(server.ops_port)
        assert counted["main"] == 2 * len(during)
        # A noise push is counted if its claim ran while Redis was down: certainly those sent
        # and answered within the outage, at most those that overlapped it.
        assert {status for _, _, status in noise} == {200}
        surely = sum(1 for s, e, _ in noise if s > stopped and e < starting)
        maybe = sum(1 for s, e, _ in noise if e > stopping and s < started)
        assert 0 < surely <= counted["noise"] <= maybe, (surely, counted, maybe)

        end = time.monotonic() + 10  # log lines are written in batches
        while not RECOVERY.search(log.read_text()) and time.monotonic() < end:
            time.sleep(0.1)
        text = log.read_text()
        assert text.count(OUTAGE) == 1, text[-3000:]
        total = int(counted["main"] + counted["noise"])
        assert [int(n) for n in RECOVERY.findall(text)] == [total], text[-3000:]
        assert "Traceback" not in text
    finally:
        stop_noise.set()
        server.terminate()
        server.wait(timeout=30)
        redis.stop()
