"""wxhook: the callback server for WeChat Official Accounts.

Plugin authors need `Router` and, for replies other than text, the reply classes; message and
event classes are in `wxhook.core` and re-exported here (with WeChatAPIError and
LateRepliesUnavailable, which `ctx.send()` raises). `wxhook.setup(app, config)` mounts wxhook
in an aiohttp application.

Only the protocol core is imported with the package: `import wxhook.core` runs this file, and
the core loads nothing else of wxhook, no I/O framework and no asyncio. Router, Context, the
filters and `setup` are imported on first use (module `__getattr__`), so a plugin that only
reads messages needs neither the configuration nor aiohttp.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .core import *  # noqa: F403 - messages, events, replies are the plugin API
from .core import __all__ as _core_all

if TYPE_CHECKING:
    from . import filters
    from .router import Context, Handler, Router, State
    from .server import setup

# Name -> (module, attribute); attribute "" for the module itself.
_LAZY: dict[str, tuple[str, str]] = {
    "Context": (".router", "Context"),
    "Handler": (".router", "Handler"),
    "Router": (".router", "Router"),
    "State": (".router", "State"),
    "filters": (".filters", ""),
    "setup": (".server", "setup"),
}

__all__ = ["Context", "Handler", "Router", "State", "filters", "setup", *_core_all]


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'wxhook' has no attribute {name!r}") from None
    module = importlib.import_module(module_name, __name__)
    value = getattr(module, attribute) if attribute else module
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
