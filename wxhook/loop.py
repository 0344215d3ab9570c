"""uvloop when it is installed: a faster event loop for `wxhook serve`, asyncio otherwise."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

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


# Python >= 3.12 starts a task eagerly on request: its first step runs at once, with the task
# current (asyncio.timeout and current_task work as usual); a coroutine that finishes without
# waiting is done before the task is returned, and never scheduled.
EAGER = sys.version_info >= (3, 12)


def start_task(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], name: str | None = None
) -> asyncio.Task[T]:
    """A task for `coro`, started eagerly where Python can (it may be done already)."""
    if EAGER:
        return asyncio.Task(coro, loop=loop, name=name, eager_start=True)  # type: ignore[call-arg]
    return loop.create_task(coro, name=name)
