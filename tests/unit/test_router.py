"""Routing: decorators over add(), filters, fallback, included routers, handler signatures."""

from __future__ import annotations

import logging

import pytest

from wxhook import Context, Router, SubscribeEvent, SubscribeScanEvent, TextMessage, filters
from wxhook.core import parse_message, parse_xml


def ctx(account: str = "main") -> Context:
    return Context(
        account=account,
        arrived=0,
        deadline=0,
        dedup_key="k",
        logger=logging.LoggerAdapter(logging.getLogger("t")),
    )


def push(body: str):
    return parse_message(
        parse_xml(
            f"<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime>{body}</xml>".encode()
        )
    )


TEXT = push("<MsgType>text</MsgType><Content>天气 北京</Content><MsgId>1</MsgId>")
SUB = push("<MsgType>event</MsgType><Event>subscribe</Event>")
QR = push("<MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_9</EventKey>")
CLICK = push("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>HELP</EventKey>")
SCAN = push("<MsgType>event</MsgType><Event>SCAN</Event><EventKey>9</EventKey>")


def names(router: Router, message, account="main"):
    return [h.func.__name__ for h in router.resolve(message, ctx(account))]


def test_decorators_match_by_seed_names_and_types():
    r = Router()

    @r.event("subscribe")  # as sent: every follow
    async def follow(e): ...

    @r.event("subscribe_scan")
    async def qr_follow(e): ...

    @r.on(SubscribeEvent)
    async def any_follow(e): ...

    @r.event("SCAN")  # case-insensitive
    async def scan(e): ...

    @r.click("HELP")
    async def help_click(e): ...

    @r.click("OTHER")
    async def other_click(e): ...

    @r.message("text")
    async def text(m): ...

    @r.message()
    async def any_message(m): ...

    assert names(r, SUB) == ["follow", "any_follow"]
    assert names(r, QR) == ["follow", "qr_follow", "any_follow"]
    assert isinstance(QR, SubscribeScanEvent)
    assert names(r, SCAN) == ["scan"]
    assert names(r, CLICK) == ["help_click"]
    assert names(r, TEXT) == ["text", "any_message"]


def test_a_failing_filter_skips_only_its_handler():
    r = Router()

    def broken(message, ctx):
        raise KeyError("bug in a filter")

    @r.message("text", when=broken)
    async def fragile(m): ...

    @r.message("text")
    async def sturdy(m): ...

    assert names(r, TEXT) == ["sturdy"]


def test_filters_text_regex_key_account():
    r = Router()

    @r.message("text", text="help")
    async def exact(m): ...

    @r.message("text", regex=r"^天气\s+\S+")
    async def weather(m): ...

    @r.event("scan", key="9")
    async def scene9(e): ...

    @r.message("text", accounts="other")
    async def other_account(m): ...

    @r.on(TextMessage, when=filters.text_matches("北京"))
    async def custom(m): ...

    assert names(r, TEXT) == ["weather", "custom"]
    assert names(r, TEXT, account="other") == ["weather", "other_account", "custom"]
    assert names(r, SCAN) == ["scene9"]
    assert names(r, push("<MsgType>text</MsgType><Content> help </Content>")) == ["exact"]


def test_fallback_runs_only_when_nothing_else_matched_anywhere():
    root, plugin = Router(), Router()

    @plugin.message("text")
    async def text(m): ...

    @root.fallback()
    async def fallback(m): ...

    root.include(plugin)
    assert names(root, TEXT) == ["text"]
    assert names(root, SUB) == ["fallback"]


def test_included_routers_keep_registration_order_and_hooks():
    root, a, b = Router(), Router(), Router()

    @root.message("text")
    async def first(m): ...

    root.include(a)

    @root.message("text")
    async def third(m): ...

    @a.message("text")
    async def second(m): ...

    @a.on_startup
    async def start(state): ...

    root.include(b)
    assert names(root, TEXT) == ["first", "second", "third"]
    assert list(root.hooks("startup")) == [start]
    with pytest.raises(ValueError):
        root.include(root)


def test_add_is_public_and_handler_signatures_are_checked():
    r = Router()

    async def one(m):
        return "one"

    async def two(m, ctx):
        return ctx.account

    h1 = r.add(one, types=[TextMessage])
    h2 = r.add(two, name="custom-name")
    assert (h1.takes_ctx, h2.takes_ctx, h2.name) == (False, True, "custom-name")
    with pytest.raises(TypeError, match="async def"):
        r.add(lambda m: None)

    async def three(a, b, c): ...

    with pytest.raises(TypeError, match="3 positional"):
        r.add(three)
    with pytest.raises(TypeError, match="event name"):
        r.event()
