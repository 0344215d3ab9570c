"""wxhook.testing and the `wechat` fixture: plugins tested through the real pipeline."""

from __future__ import annotations

import asyncio

import pytest

import wxhook
from wxhook.testing import Response, WeChat, make_config

router = wxhook.Router("under-test")
runs: list[str] = []


@router.on_startup
async def start(state: wxhook.State) -> None:
    state["greeting"] = "欢迎"
    state["store_url"] = state.config.store.url


@router.event("subscribe")
async def welcome(event: wxhook.SubscribeEvent, ctx: wxhook.Context) -> str:
    runs.append(event.event)
    return ctx.state["greeting"]


@router.click("NEWS")
async def news(event: wxhook.ClickEvent) -> wxhook.NewsReply:
    return wxhook.NewsReply([wxhook.Article("标题", "描述", url="https://example.com/a")])


@router.message("image")
async def image(message: wxhook.ImageMessage) -> wxhook.ImageReply:
    return wxhook.ImageReply(media_id=message.media_id)


@router.message("text")
async def echo(message: wxhook.TextMessage) -> str:
    runs.append(message.content)
    return message.content


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
async def test_send_by_type_in_every_mode(wechat: WeChat, mode):
    client = await wechat(router, mode=mode)
    reply = await client.send("subscribe")
    assert reply.content == "欢迎"
    assert reply.encrypted == (mode != "plain")
    assert reply.msg_type == "text" and reply["ToUserName"] == client.user
    assert (await client.send("subscribe_scan", user="oOTHER"))["ToUserName"] == "oOTHER"
    assert (await client.send("LOCATION")).empty


async def test_two_pushes_of_one_second_are_two_pushes_a_retry_is_not(wechat):
    runs.clear()
    client = await wechat(router)
    await client.send("subscribe")
    await client.send("subscribe")
    assert runs == ["subscribe", "subscribe"]
    again = await client.retry()
    assert again.content == "欢迎"
    assert runs == ["subscribe", "subscribe"]  # the retry was answered from the store


async def test_reply_helpers(wechat):
    client = await wechat(router, mode="safe")
    news_reply = await client.click("NEWS")
    assert news_reply.msg_type == "news" and news_reply.content is None
    assert news_reply.articles == [
        {"Title": "标题", "Description": "描述", "PicUrl": "", "Url": "https://example.com/a"}
    ]
    picture = await client.send("image", MediaId="M1")
    assert picture.media_id == "M1"
    assert (await client.text("你好")).text.startswith("<xml>")
    assert (await client.verify("12345")).text == "12345"


async def test_raw_documents_and_refusals(wechat):
    client = await wechat(router, mode="compatible")
    raw = b"<xml><ToUserName>gh</ToUserName><FromUserName>oU</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>raw</Content><MsgId>9</MsgId></xml>"
    assert (await client.send_xml(raw)).content == "raw"
    assert (await client.send_xml(raw.decode(), encrypted=False)).content == "raw"
    mapping = {"MsgType": "text", "Content": "from a dict", "MsgId": "10"}
    assert (await client.send_xml(mapping)).content == "from a dict"
    query, body = client.last or ({}, b"")
    forged = await client.post({**query, "signature": "0" * 40}, body)
    assert (forged.status, forged.text, forged.ok) == (403, "signature", False)


async def test_state_config_and_plugins_by_module(wechat, redis_url):
    client = await wechat(router, store=redis_url)
    assert client.state["store_url"] == redis_url
    assert (await client.send("subscribe", user="oREDIS" + str(id(client)))).content == "欢迎"
    by_name = await wechat(plugins=["examples.hello"])
    assert (await by_name.text("帮助")).content == "可用命令：帮助、天气 <城市>"


async def test_closing_waits_for_background_handlers():
    slow = wxhook.Router()
    done = asyncio.Event()

    @slow.message("text")
    async def late(message: wxhook.TextMessage) -> None:
        await asyncio.sleep(0.3)
        done.set()

    factory = WeChat()
    client = await factory(slow, dispatch={"deadline": 0.1})
    assert (await client.text("x")).empty
    assert not done.is_set()
    await factory.close()
    assert done.is_set()


def test_make_config_validates_like_the_server():
    config = make_config(mode="safe", dispatch={"deadline": 1.0})
    assert config.accounts[0].mode == "safe" and config.dispatch.deadline == 1.0
    with pytest.raises(wxhook.WxhookError, match="deadline"):
        make_config(dispatch={"deadline": 9})


def test_response_without_reply():
    r = Response(status=200, body=b"")
    assert (r.ok, r.empty, r.content, r.msg_type, r.articles, r.media_id) == (
        True, True, None, "", [], None,
    )  # fmt: skip
