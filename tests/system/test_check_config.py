"""wxhook check-config and serve on broken configs: one line naming the key, through the real CLI."""

from __future__ import annotations

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
