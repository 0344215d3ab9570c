"""The plugin walkthrough of docs/testing.md works when followed literally, in a fresh venv.

Its shell blocks run in order in one shell, in a directory holding a copy of this checkout as
`wxhook`; its file blocks (`# greeter.py` first line) are written where the walkthrough says. The
one change: the config's port 8080 becomes a free one. The server it starts is stopped by its own
`kill $!`, and by this test's process group if a step fails first.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")


def walkthrough() -> str:
    start = GUIDE.index("## Walkthrough: a plugin from scratch")
    end = GUIDE.index("\n## ", start + 1)
    return GUIDE[start:end]


def script(port: int) -> str:
    lines = ["set -eu"]
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", walkthrough(), re.S):
        if lang == "sh":
            lines.append(body)
            continue
        name = body.splitlines()[0].removeprefix("# ").strip()
        assert re.fullmatch(r"[\w.]+", name), f"a {lang} block must start with '# FILENAME'"
        lines.append(
            f"cat > {name} <<'WXHOOK_EOF'\n{body.replace('port = 8080', f'port = {port}')}WXHOOK_EOF"
        )
    return "\n".join(lines)


def copy_checkout(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def test_walkthrough_blocks_are_all_runnable():
    text = script(8080)
    assert "pip install" in text and "pytest -q test_greeter.py" in text
    assert "wxhook send subscribe --config config.toml" in text and "kill $!" in text
    assert (
        "cat > greeter.py" in text
        and "cat > test_greeter.py" in text
        and "cat > config.toml" in text
    )


def test_walkthrough_runs_as_written(tmp_path: Path):
    copy_checkout(tmp_path / "wxhook")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WXHOOK_", "PROMETHEUS_", "PYTEST_"))
        and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    proc = subprocess.Popen(
        ["bash", "-c", script(free_port())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):  # our own group: a server a step left
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)  # the shell itself (already done unless communicate timed out)
    assert proc.returncode == 0, out[-6000:]
    assert re.search(r"^3 passed", out, re.M), out[-3000:]
    assert ": ok — 1 account(s), 1 plugin module(s), 3 handler(s)" in out
    assert '"Content": "欢迎关注！"' in out
    assert '"Content": "营业时间：每天 9:00–21:00"' in out
    assert '"Content": "你好！"' in out
    assert out.count("the same reply as the first delivery") == 2
