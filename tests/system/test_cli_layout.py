"""The command and the configuration stay easy to enter: small modules, one per command or
concern, behind the import paths users and the console script rely on."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import wxhook

PACKAGE = Path(wxhook.__file__).parent


def test_the_console_script_is_wxhook_cli_main():
    (script,) = [
        e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "wxhook"
    ]
    assert script.value == "wxhook.cli:main"
    from wxhook.cli import main

    assert script.load() is main


def test_every_public_config_name_imports_from_wxhook_config():
    names = {"AccountConfig", "ApiConfig", "Config", "ConfigError", "DispatchConfig", "LogConfig",
             "MetricsConfig", "OpsConfig", "PluginsConfig", "SecurityConfig", "ServerConfig",
             "StoreConfig", "SECRET_FIELDS", "env_name", "load_config", "parse_config"}  # fmt: skip
    namespace: dict[str, object] = {}
    exec("from wxhook.config import *", namespace)  # the star import a user writes
    assert names <= namespace.keys()


def test_python_m_wxhook_is_the_command_and_simulate_is_gone():
    version = subprocess.run(
        [sys.executable, "-m", "wxhook", "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0 and version.stdout.startswith("wxhook "), version.stderr
    simulate = subprocess.run(
        [sys.executable, "-m", "wxhook", "simulate", "verify", "x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert simulate.returncode == 2
    assert "invalid choice: 'simulate'" in simulate.stderr
