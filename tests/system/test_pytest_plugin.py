"""The pytest plugin wxhook installs loads in a fresh interpreter, with or without its extra."""

from __future__ import annotations


def test_the_pytest_plugin_loads_without_pytest_asyncio():
    """wxhook's pytest11 plugin is loaded wherever wxhook is installed: without its [testing]
    extra it must still import (or pytest would not start), and its fixture says what to do."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pytest_asyncio'] = None\n"
        "import wxhook.pytest_plugin as p\n"
        "assert p.pytest_asyncio is None\n"
        "try:\n"
        "    p.wechat.__wrapped__()\n"
        "except BaseException as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'pip install "wxhook[testing]"' in out.stdout
