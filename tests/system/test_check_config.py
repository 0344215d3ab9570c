"""wxhook check-config and serve on broken configs: one line naming the key, through the real CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wxhook", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_check_config_ok_and_errors(tmp_path: Path):
    (tmp_path / "myplugin.py").write_text(
        "import wxhook\nrouter = wxhook.Router()\n\n@router.event('subscribe')\nasync def hi(e):\n    return 'hi'\n"
    )
    good = tmp_path / "good.toml"
    good.write_text(
        '[plugins]\nmodules = ["myplugin"]\n[[accounts]]\nname = "m"\npath = "/w"\ntoken = "t"\n'
    )
    ok = run_cli("check-config", "--config", str(good), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "1 handler(s)" in ok.stdout and ok.stdout.rstrip().endswith("store memory://")

    broken = tmp_path / "broken.toml"
    broken.write_text(
        '[plugins]\nmodules = ["not_there"]\n[[accounts]]\nname = "m"\npath = "/w"\ntoken = "t"\n'
    )
    bad = run_cli("check-config", "--config", str(broken), cwd=tmp_path)
    assert bad.returncode == 2
    assert "plugins.modules: 'not_there' does not import" in bad.stderr
    assert "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1

    nokey = tmp_path / "nokey.toml"
    nokey.write_text(
        '[[accounts]]\nname = "m"\npath = "/w"\ntoken = "t"\nmode = "safe"\napp_id = "wx"\nencoding_aes_key = "abc"\n'
    )
    bad = run_cli("serve", "--config", str(nokey), cwd=tmp_path)
    assert bad.returncode == 2 and "encoding_aes_key must be 43 characters" in bad.stderr


def test_example_config_is_valid(tmp_path: Path):
    root = Path(__file__).resolve().parents[2]
    ok = run_cli("check-config", "--config", str(root / "config.example.toml"), cwd=root)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    "store,line",
    [
        (
            '[store]\nurl = "redis://h:7000"\ncluster = true\nsentinels = ["h:26379"]\n',
            "store.cluster and store.sentinels are both set",
        ),
        ('[store]\nsentinels = ["h:26379"]\n', "store.sentinel_service is missing"),
    ],
)
def test_check_config_refuses_a_topology_in_one_line(tmp_path: Path, store, line):
    config = tmp_path / "c.toml"
    config.write_text(store + '[[accounts]]\nname = "m"\npath = "/w"\ntoken = "t"\n')
    bad = run_cli("check-config", "--config", str(config), cwd=tmp_path)
    assert bad.returncode == 2
    assert line in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr


def test_check_config_names_the_topology(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[store]\nurl = "redis://:pw@/0"\nsentinels = ["h1:26379", "h2:26379"]\n'
        'sentinel_service = "mymaster"\n[[accounts]]\nname = "m"\npath = "/w"\ntoken = "t"\n'
    )
    ok = run_cli("check-config", "--config", str(config), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.rstrip().endswith("store sentinels h1:26379, h2:26379 (service 'mymaster')")
    assert "pw" not in ok.stdout


LIVE_PLUGIN = """
import os

import wxhook

router = wxhook.Router()


@router.on_startup
async def connect(state):
    if os.environ.get("PLUGIN_BROKEN"):
        raise ConnectionError("crm.example: connection refused")
    state["crm"] = "connected"


@router.on_shutdown
async def disconnect(state):
    assert state["crm"] == "connected"
"""


def live_config(tmp_path: Path, store_url: str) -> Path:
    (tmp_path / "liveplugin.py").write_text(LIVE_PLUGIN)
    config = tmp_path / "live.toml"
    config.write_text(
        f'[store]\nurl = "{store_url}"\n[plugins]\nmodules = ["liveplugin"]\n'
        '[[accounts]]\nname = "m"\npath = "/w"\ntoken = "t"\n'
    )
    return config


def test_check_config_live_tries_the_store_and_runs_the_hooks(tmp_path: Path, redis_url: str):
    config = live_config(tmp_path, redis_url)
    ok = run_cli("check-config", "--live", "--config", str(config), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ": ok (live) — " in ok.stdout
    # Without --live, neither the store nor the hooks are tried: a broken hook passes.
    broken = subprocess.run(
        [sys.executable, "-m", "wxhook", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={**os.environ, "PLUGIN_BROKEN": "1"},
    )
    assert broken.returncode == 0, broken.stderr
    live = subprocess.run(
        [sys.executable, "-m", "wxhook", "check-config", "--live", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={**os.environ, "PLUGIN_BROKEN": "1"},
    )
    assert live.returncode == 1
    assert (
        "plugin startup hook liveplugin.connect raised ConnectionError: "
        "crm.example: connection refused" in live.stderr
    )
    assert "Traceback" not in live.stderr and live.stderr.count("\n") == 1


def test_check_config_live_fails_on_an_unreachable_store(tmp_path: Path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = live_config(tmp_path, f"redis://127.0.0.1:{port}/0")
    assert run_cli("check-config", "--config", str(config), cwd=tmp_path).returncode == 0
    bad = run_cli("check-config", "--live", "--config", str(config), cwd=tmp_path)
    assert bad.returncode == 1
    assert "store unreachable" in bad.stderr and f"127.0.0.1:{port}" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr


def test_healthcheck_follows_the_configured_port(tmp_path: Path):
    from conftest import free_port, start_serve

    port = free_port()
    (tmp_path / "config.toml").write_text(
        f'[server]\nhost = "0.0.0.0"\nport = {port}\n'
        '[[accounts]]\nname = "m"\npath = "/w"\ntoken = "t"\n'
    )
    down = run_cli("healthcheck", "--config", "config.toml", cwd=tmp_path)
    assert down.returncode == 1 and f"http://127.0.0.1:{port}/healthz" in down.stderr
    proc = start_serve(tmp_path, port)
    try:
        up = run_cli("healthcheck", "--config", "config.toml", cwd=tmp_path)
        assert up.returncode == 0, up.stderr
        assert up.stdout.strip() == f"http://127.0.0.1:{port}/healthz: healthy"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
