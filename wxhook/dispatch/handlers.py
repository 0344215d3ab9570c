"""One handler run: the handler's reply, rendered; shared by the dispatcher and replay."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from ..core import BaseMessage, render_reply
from ..core.replies import Reply, as_reply
from ..router import Context, Handler


@dataclass(frozen=True, slots=True)
class HandlerReply:
    """A handler's reply: rendered to plaintext XML for a passive reply, and as the object (for a
    customer-service message when it comes too late)."""

    xml: bytes
    reply: Reply
    handler: Handler


HandlerTask: TypeAlias = asyncio.Task[HandlerReply | None]


async def run_handler(
    handler: Handler, message: BaseMessage, ctx: Context, *, wall: Callable[[], float]
) -> HandlerReply | None:
    """Run one handler; None when it has nothing to say. Its errors propagate, rendering's too
    (a reply that cannot be rendered is this handler's failure)."""
    reply = as_reply(await handler(message, ctx))
    xml = render_reply(reply, message, now=int(wall()))  # CreateTime: when it is answered
    return HandlerReply(xml, reply, handler) if xml and reply is not None else None


def decided(tasks: list[HandlerTask]) -> tuple[bool, HandlerReply | None]:
    """The first non-None reply in registration order, once every earlier handler is done."""
    for task in tasks:
        if not task.done():
            return False, None
        if not task.cancelled() and (result := task.result()) is not None:
            return True, result
    return True, None
