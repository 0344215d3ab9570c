"""wxhook: the callback server for WeChat Official Accounts.

Plugin authors need `Router` and, for replies other than text, the reply classes; message and
event classes are in `wxhook.core` and re-exported here (with WeChatAPIError and
LateRepliesUnavailable, which `ctx.send()` raises).
"""

from . import filters
from .core import *  # noqa: F403 - messages, events, replies are the plugin API
from .core import __all__ as _core_all
from .router import Context, Handler, Router, State

__all__ = ["Context", "Handler", "Router", "State", "filters", *_core_all]
