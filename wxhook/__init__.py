"""wxhook: the callback server for WeChat Official Accounts.

Plugin authors need `Router` and, for replies other than text, the reply classes; message and
event classes are in `wxhook.core` and re-exported here (with WeChatAPIError and
LateRepliesUnavailable, which `ctx.send()` raises). `wxhook.setup(app, config)` mounts wxhook
in an aiohttp application (imported on first use, so plugins need no aiohttp import).
"""

from typing import TYPE_CHECKING, Any

from . import filters
from .core import *  # noqa: F403 - messages, events, replies are the plugin API
from .core import __all__ as _core_all
from .router import Context, Handler, Router, State

if TYPE_CHECKING:
    from .server import setup

__all__ = ["Context", "Handler", "Router", "State", "filters", "setup", *_core_all]


def __getattr__(name: str) -> Any:
    if name == "setup":
        from .server import setup

        return setup
    raise AttributeError(f"module 'wxhook' has no attribute {name!r}")
