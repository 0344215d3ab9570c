"""uvloop when it is installed: a faster event loop for `wxhook serve`, asyncio otherwise."""

from __future__ import annotations

import asyncio
import importlib
import logging

log = logging.getLogger("wxhook.loop")


def use_uvloop(choice: str = "auto") -> bool:
    """Make new event loops uvloop's ("auto": if installed; "uvloop": required; "asyncio": no).

    Returns whether uvloop is now the policy. Call before the server creates its loop.
    """
    if choice not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f'event loop must be "auto", "uvloop" or "asyncio", got {choice!r}')
    if choice == "asyncio":
        return False
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            raise RuntimeError("uvloop is not installed: pip install uvloop") from None
        log.debug("uvloop is not installed; using asyncio's event loop")
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
