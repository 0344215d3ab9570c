"""The protocol core is sans-I/O: importing it pulls in neither aiohttp, redis nor asyncio."""

from __future__ import annotations

import subprocess
import sys


def test_core_imports_no_io_frameworks():
    code = (
        "import sys, wxhook.core, wxhook.core.sansio;"
        "bad = sorted(m for m in ('aiohttp', 'redis', 'asyncio') if m in sys.modules);"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_check_would_notice_an_io_import():
    # Guard against a vacuous test: the same probe sees aiohttp once something imports it.
    code = "import sys, aiohttp; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
