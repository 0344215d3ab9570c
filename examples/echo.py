"""An echo bot: text comes back as text, images and voice come back as themselves.

Run it: list "examples.echo" in [plugins] modules. Tested in examples/tests/.
"""

from __future__ import annotations

import wxhook
from wxhook import ImageReply, Router, VoiceReply

router = Router("echo")


@router.message("text")
async def echo_text(message: wxhook.TextMessage) -> str:
    # Blank text is no reply (an empty Content would make WeChat show an error).
    return message.content


@router.message("image")
async def echo_image(message: wxhook.ImageMessage) -> ImageReply:
    # A received MediaId can be sent back as it is for three days.
    return ImageReply(media_id=message.media_id)


@router.message("voice")
async def echo_voice(message: wxhook.VoiceMessage) -> VoiceReply:
    return VoiceReply(media_id=message.media_id)


@router.message("location")
async def echo_location(message: wxhook.LocationMessage) -> str:
    latitude, longitude = message.location
    return f"你在 {message.label}（{latitude:.4f}, {longitude:.4f}）"


@router.fallback()
async def anything_else(message: wxhook.BaseMessage) -> str | None:
    # Only messages get this; events (follows, menu clicks, job reports) get no reply.
    return None if isinstance(message, wxhook.BaseEvent) else f"收到一条 {message.type} 消息"
