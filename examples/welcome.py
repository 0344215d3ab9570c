"""Welcome new followers and answer the custom menu's buttons.

Run it: list "examples.welcome" in [plugins] modules. Tested in examples/tests/.
"""

from __future__ import annotations

import wxhook
from wxhook import Article, NewsReply, Router

router = Router("welcome")

WELCOME = "欢迎关注！点菜单“最新文章”看看本周内容，或直接给我们留言。"


@router.event("subscribe")  # every follow: plain, from a QR code, from a product page
async def welcome(event: wxhook.SubscribeEvent, ctx: wxhook.Context) -> str:
    if isinstance(event, wxhook.SubscribeScanEvent):
        # The QR code's scene tells where the follower came from (see examples/qrtrack.py).
        return f"{WELCOME}\n（来自渠道 {event.scene_id}）"
    return WELCOME


@router.click("MENU_NEWS")
async def latest(event: wxhook.ClickEvent) -> NewsReply:
    # An event may get up to 8 articles; a reply to a user's message only 1.
    return NewsReply(
        [
            Article("本周精选", "五分钟读完这周的重点", url="https://example.com/weekly"),
            Article("上周回顾", "错过的都在这里", url="https://example.com/last-week"),
        ]
    )


@router.click("MENU_CONTACT")
async def contact(event: wxhook.ClickEvent) -> str:
    return "客服电话：400-000-0000（工作日 9:00–18:00）"


@router.click()  # any other button: after the two above, in registration order
async def other_button(event: wxhook.ClickEvent) -> str | None:
    if event.key in ("MENU_NEWS", "MENU_CONTACT"):
        return None  # answered above; the first non-None reply wins
    return "这个菜单还在建设中"
