"""The protocol core imports alone: no other module of wxhook, no I/O framework, no asyncio.

Each probe runs in a fresh interpreter, so what the test process imported does not count.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# What the core never needs: it turns bytes into objects and back, and does no I/O itself.
IO_PACKAGES = ("aiohttp", "asyncio", "hiredis", "prometheus_client", "redis", "uvloop")


def loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running `statement`."""
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def wxhook_outside_core(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.startswith("wxhook.") and m != "wxhook.core" and not m.startswith("wxhook.core.")
    )


def io_packages(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in IO_PACKAGES)


CORE_ONLY = [
    "import wxhook.core",
    "import wxhook.core.sansio",
    "import wxhook",
    "from wxhook import TextMessage, decode, parse_message, TextReply",
]


@pytest.mark.parametrize("statement", CORE_ONLY)
def test_core_loads_no_other_wxhook_module(statement):
    modules = loaded_after(statement)
    assert "wxhook.core.sansio" in modules
    assert wxhook_outside_core(modules) == []


@pytest.mark.parametrize("statement", CORE_ONLY)
def test_core_loads_no_io_framework(statement):
    assert io_packages(loaded_after(statement)) == []


def test_the_probes_notice_what_the_router_brings():
    # Guard against vacuous probes: the router is what plugins use, and it loads the
    # configuration and asyncio; the same probes see them once it is asked for.
    modules = loaded_after("import wxhook\nwxhook.Router")
    assert {"wxhook.router", "wxhook.config", "wxhook.filters"} <= set(wxhook_outside_core(modules))
    assert "asyncio" in io_packages(modules)


def test_lazy_names_are_the_modules_own():
    code = (
        "import wxhook, wxhook.router, wxhook.server, wxhook.filters\n"
        "from wxhook import Router, Context, Handler, State, setup, filters, TextMessage\n"
        "assert Router is wxhook.router.Router and Context is wxhook.router.Context\n"
        "assert Handler is wxhook.router.Handler and State is wxhook.router.State\n"
        "assert setup is wxhook.server.setup and wxhook.setup is setup\n"
        "assert filters is wxhook.filters\n"
        "import wxhook.core\n"
        "assert TextMessage is wxhook.core.TextMessage\n"
        "from wxhook import *\n"
        "assert Router is wxhook.Router and VoiceReply is wxhook.core.VoiceReply\n"
        "assert 'Router' in dir(wxhook)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unknown_name_is_an_attribute_error():
    import wxhook

    with pytest.raises(AttributeError, match="no attribute 'Routr'"):
        _ = wxhook.Routr
