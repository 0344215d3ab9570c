"""The README stays true: its plugin example loads, its key and command tables are complete."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

from wxhook.cli import build_parser
from wxhook.config import Config
from wxhook.plugins import load_plugins

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_plugin_example_loads_and_registers_its_handlers(tmp_path, monkeypatch):
    block = re.search(r"```python\n(# myplugins/menu.py\n.*?)```", README, re.S)
    assert block is not None
    (tmp_path / "myplugins").mkdir()
    (tmp_path / "myplugins" / "menu.py").write_text(
        block.group(1).replace("https://…", "https://x")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    router = load_plugins(["myplugins.menu"])
    names = [h.func.__name__ for h in router.handlers()]
    assert names == ["welcome", "news", "picture", "remember_location", "unknown"]
    assert len(list(router.hooks("startup"))) == len(list(router.hooks("shutdown"))) == 1
    sys.modules.pop("myplugins.menu", None)


def test_every_config_key_is_documented():
    config = Config()
    documented = set(re.findall(r"^\| `([a-z_]+(?:\[\])?\.[a-z_0-9]+)` \|", README, re.M))
    expected = set()
    for section in dataclasses.fields(Config):
        if section.name in ("source",):
            continue
        if section.name == "accounts":
            from wxhook.config import AccountConfig

            expected |= {f"accounts[].{f.name}" for f in dataclasses.fields(AccountConfig)}
            continue
        value = getattr(config, section.name)
        expected |= {f"{section.name}.{f.name}" for f in dataclasses.fields(value)}
    assert documented == expected


def test_every_command_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        assert f"`wxhook {name}" in README, name


def test_every_config_key_is_in_the_example_file():
    example = (Path(__file__).resolve().parents[1] / "config.example.toml").read_text()
    for key in re.findall(r"^\| `(?:[a-z]+)\.([a-z_0-9]+)` \|", README, re.M):
        assert re.search(rf"^{key} = ", example, re.M), key
