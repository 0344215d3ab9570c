"""The benchmark's plugin: a welcome text for every follow; other pushes get no reply."""

from __future__ import annotations

from common import WELCOME

import wxhook

router = wxhook.Router("bench")


@router.event("subscribe")
async def welcome(event: wxhook.SubscribeEvent) -> str:
    return WELCOME
