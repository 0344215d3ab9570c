"""A real `wxhook serve` process: SIGTERM while a handler runs in the background; 2 workers."""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, start_serve
from prometheus_client.parser import text_string_to_metric_families

from wxhook.core import AccountKeys
from wxhook.simulator import message, open_reply, push

KEYS = AccountKeys.create(token="proc-token")
PLUGIN = textwrap.dedent(
    """
    import asyncio, os
    import wxhook

    router = wxhook.Router()

    @router.message("text", text="slow")
    async def slow(message):
        await asyncio.sleep(2)
        with open(os.environ["WXHOOK_TEST_MARKER"], "w") as f:
            f.write(str(os.getpid()))

    @router.message("text")
    async def echo(message):
        return message.content
    """
)


def start(
    tmp: Path,
    *,
    workers: int = 1,
    grace: float = 10.0,
    store: str = "memory://",
    loop: str = "asyncio",
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    (tmp / "procplugin.py").write_text(PLUGIN)
    (tmp / "config.toml").write_text(
        textwrap.dedent(
            f"""
            [server]
            host = "127.0.0.1"
            port = {port}
            workers = {workers}
            shutdown_grace = {grace}
            event_loop = "{loop}"
            [dispatch]
            deadline = 0.3
            [store]
            url = "{store}"
            [plugins]
            modules = ["procplugin"]
            [[accounts]]
            name = "main"
            path = "/wechat"
            token = "proc-token"
            """
        )
    )
    proc = start_serve(tmp, port, {"WXHOOK_TEST_MARKER": str(tmp / "done.txt")})
    return proc, port


def send(port: int, content: str, msg_id: int) -> bytes:
    query, body = push(KEYS, message("text", user="oPROC", Content=content, MsgId=str(msg_id)))
    url = f"http://127.0.0.1:{port}/wechat?" + "&".join(f"{k}={v}" for k, v in query.items())
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
        return r.read()


def stop(proc: subprocess.Popen[bytes], timeout: float) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return time.monotonic() - started


def test_sigterm_waits_for_background_handler_then_exits(tmp_path: Path):
    proc, port = start(tmp_path, grace=10.0)
    assert send(port, "slow", 1) == b""  # answered at the deadline, handler still running
    assert not (tmp_path / "done.txt").exists()
    stop(proc, timeout=10.0)  # within the grace period
    assert (tmp_path / "done.txt").exists(), (tmp_path / "server.log").read_text()
    assert proc.returncode == 0
    assert "shutdown: background work finished" in (tmp_path / "server.log").read_text()


def test_two_workers_share_one_port_and_metrics_add_up(tmp_path: Path, redis_url: str):
    proc, port = start(tmp_path, workers=2, store=redis_url)
    try:
        sent, base = 40, time.time_ns()
        for i in range(sent):
            assert open_reply(KEYS, send(port, f"m{i}", base + i))["Content"] == f"m{i}"
        send(port, "m0", base)  # a retry, on whichever worker: a duplicate, not a second run
        # The metrics are on the ops listener only; the callback port does not show them.
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
        ops = proc.ops_port
        with urllib.request.urlopen(f"http://127.0.0.1:{ops}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        stop(proc, timeout=20.0)
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    replied = sum(
        s.value
        for s in samples
        if s.name == "wxhook_requests_total" and s.labels["outcome"] == "replied"
    )
    duplicates = sum(
        s.value
        for s in samples
        if s.name == "wxhook_requests_total" and s.labels["outcome"] == "duplicate"
    )
    assert replied == sent
    assert duplicates == 1
    pids = {s.labels.get("pid") for s in samples if s.name == "wxhook_requests_total"}
    assert pids == {None}  # merged across workers, not one series per process
    log = (tmp_path / "server.log").read_text()
    assert "started 2 workers" in log


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_serve_on_each_event_loop(tmp_path: Path, redis_url: str, loop):
    proc, port = start(tmp_path, store=redis_url, loop=loop)
    try:
        msg_id = int(time.time() * 1000) % 10**12
        first = send(port, f"hello {loop}", msg_id)
        assert open_reply(KEYS, first)["Content"] == f"hello {loop}"
        assert send(port, f"hello {loop}", msg_id) == first  # WeChat's retry: from Redis
        ops = proc.ops_port
        with urllib.request.urlopen(f"http://127.0.0.1:{ops}/readyz", timeout=5) as r:
            assert r.read() == b"ready\n"
    finally:
        assert stop(proc, 15) < 15
    log = (tmp_path / "server.log").read_text()
    assert f"event loop {loop}" in log and "Traceback" not in log
    assert proc.returncode == 0
