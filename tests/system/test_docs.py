"""The README and the docs site stay true: they build with their links intact, their examples
run, and the configuration page lists every key and every command."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from wxhook.cli import build_parser
from wxhook.config import AccountConfig, Config
from wxhook.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text(encoding="utf-8")
PLUGINS = (DOCS / "plugins.md").read_text(encoding="utf-8")


def test_the_site_builds_with_every_link_and_anchor_resolved(tmp_path):
    # mkdocs.yml turns unresolved links, anchors and pages missing from the nav into warnings,
    # and --strict turns warnings into a failed build.
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "deployment" / "index.html").exists()


def test_the_readme_links_only_to_files_that_exist():
    targets = re.findall(r"\]\(((?!https?://|#)[^)#]+)(?:#[^)]*)?\)", README)
    assert "docs/plugins.md" in targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, missing


def test_the_readme_is_a_front_door():
    assert len(README.splitlines()) <= 200
    assert "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/wxhook serve" in README
    assert "bash scripts/test.sh" in README and "docker compose up" in README


def test_the_readme_plugin_and_its_test_run(tmp_path):
    plugin = re.search(r"```python\n# myplugins/shop.py\n(.*?)```", README, re.S)
    test = re.search(r"```python\n# test_shop.py\n(.*?)```", README, re.S)
    assert plugin is not None and test is not None
    (tmp_path / "myplugins").mkdir()
    (tmp_path / "myplugins" / "__init__.py").write_text("")
    (tmp_path / "myplugins" / "shop.py").write_text(plugin[1])
    (tmp_path / "test_shop.py").write_text(test[1])
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shop.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:]


def test_the_plugin_page_example_loads_and_registers_its_handlers(tmp_path, monkeypatch):
    block = re.search(r"```python\n(# myplugins/menu.py\n.*?)```", PLUGINS, re.S)
    assert block is not None
    (tmp_path / "myplugins").mkdir()
    (tmp_path / "myplugins" / "menu.py").write_text(block[1].replace("https://…", "https://x"))
    monkeypatch.syspath_prepend(str(tmp_path))
    router = load_plugins(["myplugins.menu"])
    names = [h.func.__name__ for h in router.handlers()]
    assert names == ["welcome", "news", "picture", "remember_location", "unknown"]
    assert len(list(router.hooks("startup"))) == len(list(router.hooks("shutdown"))) == 1
    sys.modules.pop("myplugins.menu", None)
    sys.modules.pop("myplugins", None)


def test_every_config_key_is_documented():
    config = Config()
    documented = set(re.findall(r"^\| `([a-z_]+(?:\[\])?\.[a-z_0-9]+)` \|", CONFIGURATION, re.M))
    expected = {f"accounts[].{f.name}" for f in dataclasses.fields(AccountConfig)}
    for section in dataclasses.fields(Config):
        if section.name in ("source", "accounts"):
            continue
        value = getattr(config, section.name)
        expected |= {f"{section.name}.{f.name}" for f in dataclasses.fields(value)}
    assert documented == expected


def test_every_command_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        assert f"`wxhook {name}" in CONFIGURATION, name


def test_every_config_key_is_in_the_example_file():
    example = (ROOT / "config.example.toml").read_text()
    for key in re.findall(r"^\| `(?:[a-z]+)\.([a-z_0-9]+)` \|", CONFIGURATION, re.M):
        assert re.search(rf"^{key} = ", example, re.M), key


def test_the_embedding_snippet_of_the_readme_is_the_documented_call():
    snippet = textwrap.dedent(
        """\
        app = web.Application()
        wxhook.setup(app, "wxhook.toml")"""
    )
    assert snippet in README
