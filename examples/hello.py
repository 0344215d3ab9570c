"""An example plugin: welcome followers, answer a menu button, echo text."""

from __future__ import annotations

import wxhook
from wxhook import Article, NewsReply, Router

router = Router("hello")


@router.on_startup
async def start(state: wxhook.State) -> None:
    # Open clients (HTTP sessions, database pools) here and keep them in the app-wide state.
    state["greeting"] = "欢迎关注！回复“帮助”查看菜单。"


@router.event("subscribe")  # every follow, QR follows included
async def welcome(event: wxhook.SubscribeEvent, ctx: wxhook.Context) -> str:
    if isinstance(event, wxhook.SubscribeScanEvent):
        ctx.logger.info("follow from QR scene %s", event.scene_id)
    return str(ctx.state["greeting"])


@router.click("MENU_HELP")
async def menu_help(event: wxhook.ClickEvent) -> NewsReply:
    return NewsReply([Article("使用帮助", "点我查看", url="https://example.com/help")])


@router.message("text", text=["帮助", "help"])
async def help_text(message: wxhook.TextMessage) -> str:
    return "可用命令：帮助、天气 <城市>"


@router.message("text", regex=r"^天气\s*(\S+)")
async def weather(message: wxhook.TextMessage, ctx: wxhook.Context) -> str:
    city = message.content.split(maxsplit=1)[-1].removeprefix("天气").strip()
    return f"{city}：晴（示例数据），还剩 {ctx.time_left():.1f} 秒可回复"


@router.fallback()
async def echo(message: wxhook.BaseMessage) -> str | None:
    if isinstance(message, wxhook.TextMessage):
        return message.content
    return None  # no reply: WeChat gets an empty body and shows nothing
