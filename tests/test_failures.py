"""Failure records: kept through a Redis outage, listed and replayed from the command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RedisProcess, free_port
from helpers import msgid, post

from wxhook.config import StoreConfig, parse_config
from wxhook.plugins import load_plugins
from wxhook.server import STORE, create_app
from wxhook.simulator import message
from wxhook.stores import StoreUnavailable
from wxhook.stores.redis import RedisStore

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
        if len(await application[STORE].failures()) == 2:
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
    store = RedisStore.from_config(StoreConfig(url=server.url, socket_timeout=0.2))
    try:
        kept = await store.record_failure({"handler": "h", "error": "before"})
        server.stop()
        with pytest.raises(StoreUnavailable, match="kept in memory"):
            await store.record_failure({"handler": "h", "error": "during the outage"})
        assert store.unsent_failures == 1
        server.start()  # same port, empty (no persistence): only the unsent record comes back
        for _ in range(200):
            if store.unsent_failures == 0:
                break
            await asyncio.sleep(0.05)
        rows = await store.failures()
        assert [r["error"] for r in rows] == ["during the outage"]
        assert rows[0]["id"] != kept
    finally:
        await store.close()
        server.stop()
