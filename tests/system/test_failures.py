"""Failure records: kept through a Redis outage, listed and replayed from the command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import RedisProcess, free_port
from helpers import msgid, post

from wxhook.config import StoreConfig, parse_config
from wxhook.plugins import load_plugins
from wxhook.server import STORE, create_app
from wxhook.simulator import message
from wxhook.stores import StoreUnavailable, open_store
from wxhook.stores.redis import redis_store

PLUGIN = """
from pathlib import Path
import wxhook

router = wxhook.Router("fragile")
BROKEN = Path({broken!r})
HANDLED = Path({handled!r})


@router.message("text")
async def save(msg: wxhook.TextMessage) -> None:
    if BROKEN.exists():
        raise RuntimeError("the database is down")
    with HANDLED.open("a") as f:
        f.write(msg.content + "\\n")
"""


def wxhook_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wxhook", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def write_config(tmp_path: Path, store_url: str) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[store]\nurl = "{store_url}"\n[plugins]\nmodules = ["fragileplugin"]\n'
        '[[accounts]]\nname = "main"\npath = "/w"\ntoken = "tok-plain"\n'
    )
    return cfg


async def test_failures_list_and_replay_from_the_command_line(
    aiohttp_client, tmp_path: Path, own_redis: RedisProcess, monkeypatch
):
    broken, handled = tmp_path / "broken", tmp_path / "handled.txt"
    (tmp_path / "fragileplugin.py").write_text(
        PLUGIN.format(broken=str(broken), handled=str(handled))
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = write_config(tmp_path, own_redis.url)
    config = parse_config(
        {
            "store": {"url": own_redis.url},
            "accounts": [{"name": "plainacct", "path": "/plain", "token": "tok-plain"}],
        },
        env={},
    )
    application = create_app(config, router=load_plugins(["fragileplugin"]))
    client = await aiohttp_client(application)
    broken.touch()
    for text in ("first", "second"):
        status, _, _ = await post(client, "plain", message("text", Content=text, MsgId=msgid()))
        assert status == 200  # answered in time although the handler failed
    for _ in range(100):
        if len(await application[STORE].failures.recent()) == 2:
            break
        await asyncio.sleep(0.02)

    listed = wxhook_cli("failures", "list", "--config", str(cfg), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["raw"]["Content"] for r in rows] == ["second", "first"]  # newest first
    assert all(r["error"] == "RuntimeError: the database is down" for r in rows)
    assert all("traceback" not in r for r in rows)

    still_broken = wxhook_cli("failures", "replay", "--all", "--config", str(cfg), cwd=tmp_path)
    assert still_broken.returncode == 1
    assert still_broken.stdout.count("record kept") == 2 and not handled.exists()

    broken.unlink()
    first_id = rows[1]["id"]
    one = wxhook_cli("failures", "replay", first_id, "--config", str(cfg), cwd=tmp_path)
    assert one.returncode == 0, one.stdout + one.stderr
    assert one.stdout.startswith(f"ok {first_id}")
    assert handled.read_text() == "first\n"

    left = wxhook_cli("failures", "--config", str(cfg), cwd=tmp_path)
    assert [json.loads(line)["raw"]["Content"] for line in left.stdout.splitlines()] == ["second"]
    rest = wxhook_cli("failures", "replay", "--all", "--config", str(cfg), cwd=tmp_path)
    assert rest.returncode == 0 and handled.read_text() == "first\nsecond\n"
    gone = wxhook_cli("failures", "replay", first_id, "--config", str(cfg), cwd=tmp_path)
    assert gone.returncode == 2 and "no such failure record" in gone.stdout


def test_failures_command_explains_the_memory_store(tmp_path: Path):
    cfg = write_config(tmp_path, "memory://")
    result = wxhook_cli("failures", "list", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 2
    assert "memory://" in result.stderr and "Redis store" in result.stderr


def test_replay_needs_ids_or_all(tmp_path: Path, redis_url: str):
    cfg = write_config(tmp_path, redis_url)
    result = wxhook_cli("failures", "replay", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 2 and "needs record ids, or --all" in result.stderr


async def test_records_made_while_redis_is_down_are_written_when_it_is_back():
    server = RedisProcess(free_port())
    server.start()
    store = redis_store(StoreConfig(url=server.url, socket_timeout=0.2))
    try:
        kept = await store.failures.record({"handler": "h", "error": "before"})
        server.stop()
        with pytest.raises(StoreUnavailable, match="kept in memory"):
            await store.failures.record({"handler": "h", "error": "during the outage"})
        assert store.failures.unsent == 1
        server.start()  # same port, empty (no persistence): only the unsent record comes back
        for _ in range(200):
            if store.failures.unsent == 0:
                break
            await asyncio.sleep(0.05)
        rows = await store.failures.recent()
        assert [r["error"] for r in rows] == ["during the outage"]
        assert rows[0]["id"] != kept
    finally:
        await store.close()
        server.stop()


async def test_backlog_and_concurrent_records_after_an_outage_are_each_written_once():
    server = RedisProcess(free_port())
    server.start()
    store = redis_store(StoreConfig(url=server.url, socket_timeout=0.2))
    try:
        server.stop()
        for i in range(5):
            with pytest.raises(StoreUnavailable):
                await store.failures.record({"error": f"kept{i}", "time": i})
        server.start()
        # Three new failures at once, racing the background flush of the backlog.
        await asyncio.gather(
            *(store.failures.record({"error": f"new{i}", "time": 10 + i}) for i in range(3)),
            return_exceptions=True,
        )
        for _ in range(200):
            if store.failures.unsent == 0:
                break
            await asyncio.sleep(0.05)
        rows = await store.failures.recent(50)
        errors = [r["error"] for r in rows]
        assert sorted(errors) == sorted([f"kept{i}" for i in range(5)] + ["new0", "new1", "new2"])
        assert errors[-5:] == [f"kept{i}" for i in range(4, -1, -1)]  # newest failure first
    finally:
        await store.close()
        server.stop()


HOOKED_PLUGIN = """
import asyncio
from pathlib import Path
import wxhook

router = wxhook.Router("hooked")
LOG = Path({log!r})


@router.on_startup
async def remember(state: wxhook.State) -> None:
    state["store_url"] = state.config.store.url


@router.message("text")
async def slow(msg: wxhook.TextMessage, ctx: wxhook.Context) -> None:
    await asyncio.sleep(float(msg.content))
    with LOG.open("a") as f:
        f.write(ctx.state["store_url"] + "\\n")
"""


async def test_replay_gives_plugins_the_config_and_runs_each_record_once(
    tmp_path: Path, own_redis: RedisProcess
):
    from wxhook.core import parse_xml
    from wxhook.simulator import message as push_message

    log = tmp_path / "ran.txt"
    (tmp_path / "hookedplugin.py").write_text(HOOKED_PLUGIN.format(log=str(log)))
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[store]\nurl = "{own_redis.url}"\n[plugins]\nmodules = ["hookedplugin"]\n'
        '[[accounts]]\nname = "main"\npath = "/w"\ntoken = "t"\n'
    )
    store = redis_store(StoreConfig(url=own_redis.url))
    raw = parse_xml(push_message("text", Content="1.0", MsgId=msgid()))
    await store.failures.record(
        {"account": "main", "handler": "hookedplugin.slow", "raw": raw, "time": 1.0}
    )
    await store.close()
    # Two operators replay at the same moment: the handler runs once.
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wxhook", "failures", "replay", "--all", "--config", str(cfg),
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]  # fmt: skip
    outputs = [(await p.communicate())[0].decode() for p in procs]
    assert sum(o.count("handled, record removed") for o in outputs) == 1, outputs
    assert log.read_text() == own_redis.url + "\n"  # the hook saw the real config


def test_failures_command_says_when_redis_is_unreachable(tmp_path: Path):
    cfg = write_config(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    result = wxhook_cli("failures", "list", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("wxhook: the store is unreachable")
    assert "Traceback" not in result.stderr


def test_failures_command_prints_records(tmp_path: Path, redis_url: str):
    marker = uuid.uuid4().hex

    async def record() -> None:
        s = open_store(StoreConfig(url=redis_url))
        await s.failures.record(
            {"handler": "h", "error": "E: x", "traceback": "tb", "marker": marker}
        )
        await s.close()

    asyncio.run(record())
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[store]\nurl = "{redis_url}"\n[[accounts]]\nname = "m"\npath = "/w"\ntoken = "t"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "wxhook", "failures", "--config", str(cfg), "--limit", "50"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    mine = [r for r in rows if r.get("marker") == marker]
    assert mine and mine[0]["error"] == "E: x" and "traceback" not in mine[0]
