"""Late replies through the customer-service API, against a local fake of the WeChat API."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from fake_wechat import FakeWeChat
from helpers import ACCOUNTS, keys, msgid, uid

from wxhook import Context, LateRepliesUnavailable, NewsReply, Router, TextMessage
from wxhook.config import ConfigError, parse_config
from wxhook.core import Article, ImageReply, TransferCustomerServiceReply, custom_message
from wxhook.core.errors import ReplyError
from wxhook.dispatcher import replay
from wxhook.server import API, CONFIG, DISPATCHER, STORE, create_app
from wxhook.simulator import message, push

SECRET = "fake-app-secret"


def late_accounts(app_id: str, **extra: Any) -> list[dict[str, Any]]:
    """The plain test account with an AppSecret and late replies on."""
    plain = {
        **ACCOUNTS["plain"],
        "app_id": app_id,
        "app_secret": SECRET,
        "late_replies": True,
        **extra,
    }
    return [plain]


async def start(
    aiohttp_server, aiohttp_client, router: Router, *, store: str = "memory://", **sections: Any
):
    """The fake WeChat API, and wxhook pointed at it; returns (fake, client, app)."""
    app_id = "wx" + uuid.uuid4().hex[:16]  # fresh, so no token cached by another test is found
    fake = FakeWeChat(app_id, SECRET)
    api_server = await aiohttp_server(fake.app())
    accounts = sections.pop("accounts", None) or late_accounts(app_id)
    for a in accounts:
        a.setdefault("app_id", app_id)
    config = parse_config(
        {
            "api": {"base_url": str(api_server.make_url("")), "retries": 1},
            "store": {"url": store},
            "accounts": accounts,
            **sections,
        },
        env={},
    )
    application = create_app(config, router=router)
    client = await aiohttp_client(application)
    return fake, client, application


async def deliver(client, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
    resp = await client.post("/plain", params=query, data=body)
    return resp.status, await resp.read()


async def until(condition, within: float = 10.0) -> None:
    end = time.monotonic() + within
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_answer_after_seven_seconds_is_delivered_once_to_the_sender(
    aiohttp_server, aiohttp_client
):
    """WeChat's way, in real time: the push, its retries at 5 s and 10 s, the answer at 7 s."""
    router = Router()

    @router.message("text")
    async def think(msg: TextMessage) -> str:
        await asyncio.sleep(7)
        return f"想好了：{msg.content}"

    fake, client, _ = await start(aiohttp_server, aiohttp_client, router)
    user = uid()
    query, body = push(
        keys("plain"), message("text", user=user, Content="人生的意义", MsgId=msgid())
    )
    started = time.monotonic()
    assert await deliver(client, query, body) == (200, b"")  # the deadline: empty, no error page
    await asyncio.sleep(max(0, 5 - (time.monotonic() - started)))
    assert await deliver(client, query, body) == (200, b"")  # first retry: handler still thinking
    await until(lambda: fake.messages, within=5)
    await asyncio.sleep(max(0, 10 - (time.monotonic() - started)))
    assert await deliver(client, query, body) == (200, b"")  # second retry: no passive duplicate
    await asyncio.sleep(0.2)
    assert len(fake.messages) == 1
    sent = fake.messages[0]
    assert sent["touser"] == user and sent["msgtype"] == "text"
    assert sent["text"] == {"content": "想好了：人生的意义"}
    assert (user, "Typing") in fake.typing  # "对方正在输入" while it was thinking


async def test_two_instances_sharing_redis_fetch_the_token_once(
    aiohttp_server, aiohttp_client, redis_url
):
    router = Router()
    fake, _, first = await start(aiohttp_server, aiohttp_client, router, store=redis_url)
    second = create_app(first[CONFIG], router=Router())  # another replica, same config
    await aiohttp_client(second)  # started: its own store client and API session
    fake.token_delay = 0.2  # a slow token endpoint invites a stampede
    sends = [
        app[API].send("plainacct", custom_message(f"oUSER{i}", f"hello {i}"))
        for i in range(10)
        for app in (first, second)
    ]
    await asyncio.gather(*sends)
    assert len(fake.token_fetches) == 1
    assert len(fake.messages) == 20 and {m["_token"] for m in fake.messages} == {"TOKEN-1"}


async def test_expired_token_is_refreshed_once_and_the_message_resent(
    aiohttp_server, aiohttp_client
):
    fake, _, application = await start(aiohttp_server, aiohttp_client, Router())
    api = application[API]
    await api.send("plainacct", custom_message("oA", "one"))
    fake.expire("TOKEN-1")  # WeChat drops it before its time (40001 on the next call)
    await asyncio.gather(*(api.send("plainacct", custom_message("oA", f"n{i}")) for i in range(5)))
    assert [f.get("force_refresh") for f in fake.token_fetches] == [False, False]
    assert len(fake.messages) == 6
    assert [m["_token"] for m in fake.messages[1:]] == ["TOKEN-2"] * 5
    refusals = [code for api, code in fake.refused if api == "send"]
    assert refusals and set(refusals) == {40001}  # each refused send was resent once, and went


async def test_an_api_failure_leaves_a_failure_record_that_replays(aiohttp_server, aiohttp_client):
    router = Router()

    @router.message("text")
    async def slow(msg: TextMessage) -> str:
        await asyncio.sleep(0.3)
        return "too late for a passive reply"

    fake, client, application = await start(
        aiohttp_server, aiohttp_client, router, dispatch={"deadline": 0.1}
    )
    fake.send_errors = [45015, 45015]  # "response out of time limit" (the 48-hour rule)
    user = uid()
    query, body = push(keys("plain"), message("text", user=user, Content="x", MsgId=msgid()))
    assert await deliver(client, query, body) == (200, b"")
    store = application[STORE]
    rows: list[dict[str, Any]] = []

    async def recorded() -> bool:
        rows[:] = await store.failures()
        return bool(rows)

    end = time.monotonic() + 10
    while not await recorded():
        assert time.monotonic() < end
        await asyncio.sleep(0.05)
    (row,) = rows
    assert "45015" in row["error"] and row["handler"].endswith("slow")
    assert row["delivery"]["touser"] == user and row["raw"]["Content"] == "x"
    assert fake.messages == []
    fake.send_errors = []
    result = await replay(application[DISPATCHER], row)
    assert result.ok
    assert [m["text"]["content"] for m in fake.messages] == ["too late for a passive reply"]


async def test_handlers_send_and_show_typing_through_the_context(aiohttp_server, aiohttp_client):
    router = Router()

    @router.message("text")
    async def chatty(msg: TextMessage, ctx: Context) -> str:
        async with ctx.typing():
            await ctx.send("第一条")
            await ctx.send(ImageReply(media_id="MEDIA"))
        return "第三条（被动回复）"

    fake, client, _ = await start(aiohttp_server, aiohttp_client, router)
    user = uid()
    query, body = push(keys("plain"), message("text", user=user, Content="hi", MsgId=msgid()))
    status, raw = await deliver(client, query, body)
    assert status == 200 and "第三条".encode() in raw
    assert [(m["touser"], m["msgtype"]) for m in fake.messages] == [
        (user, "text"),
        (user, "image"),
    ]
    assert fake.typing == [(user, "Typing"), (user, "CancelTyping")]


async def test_without_app_secret_ctx_send_says_what_to_configure(aiohttp_client):
    router = Router()
    errors: list[str] = []

    @router.message("text")
    async def tries(msg: TextMessage, ctx: Context) -> None:
        try:
            await ctx.send("x")
        except LateRepliesUnavailable as exc:
            errors.append(str(exc))

    config = parse_config({"accounts": [ACCOUNTS["plain"]]}, env={})
    client = await aiohttp_client(create_app(config, router=router))
    query, body = push(keys("plain"), message("text", Content="x", MsgId=msgid()))
    assert (await client.post("/plain", params=query, data=body)).status == 200
    assert errors and "WXHOOK_PLAINACCT_APP_SECRET" in errors[0]


async def test_busy_answers_and_network_errors_are_retried(aiohttp_server, aiohttp_client):
    fake, _, application = await start(aiohttp_server, aiohttp_client, Router())
    fake.send_errors = [-1]  # system busy: one retry gets through
    await application[API].send("plainacct", custom_message("oB", "after a retry"))
    assert len(fake.messages) == 1


async def test_unreachable_api_fails_late_reply_into_a_record(aiohttp_client):
    from conftest import free_port

    router = Router()

    @router.message("text")
    async def slow(msg: TextMessage) -> str:
        await asyncio.sleep(0.2)
        return "nobody will hear this"

    config = parse_config(
        {
            "api": {"base_url": f"http://127.0.0.1:{free_port()}", "retries": 1, "timeout": 1},
            "dispatch": {"deadline": 0.05},
            "accounts": late_accounts("wxunreachable0001"),
        },
        env={},
    )
    application = create_app(config, router=router)
    client = await aiohttp_client(application)
    query, body = push(keys("plain"), message("text", Content="y", MsgId=msgid()))
    assert await deliver(client, query, body) == (200, b"")
    end = time.monotonic() + 10
    while not (rows := await application[STORE].failures()):
        assert time.monotonic() < end
        await asyncio.sleep(0.05)
    assert "late reply not sent" in rows[0]["error"] and "-2" in rows[0]["error"]


def test_late_replies_without_app_secret_is_a_config_error():
    with pytest.raises(ConfigError, match="late_replies = true needs the account's AppSecret"):
        parse_config(
            {"accounts": [{**ACCOUNTS["plain"], "app_id": "wx1", "late_replies": True}]}, env={}
        )
    with pytest.raises(ConfigError, match="WXHOOK_PLAINACCT_APP_SECRET"):
        parse_config(
            {"accounts": [{**ACCOUNTS["plain"], "app_id": "wx1", "late_replies": True}]}, env={}
        )
    # From the environment, as it should be:
    config = parse_config(
        {"accounts": [{**ACCOUNTS["plain"], "app_id": "wx1", "late_replies": True}]},
        env={"WXHOOK_PLAINACCT_APP_SECRET": "s3cret"},
    )
    assert config.accounts[0].app_secret == "s3cret"


def test_custom_messages_for_every_reply_kind():
    assert custom_message("o1", "hi") == {
        "touser": "o1",
        "msgtype": "text",
        "text": {"content": "hi"},
    }
    news = custom_message("o1", NewsReply([Article("t", "d", image="p", url="u")]))
    assert news["news"]["articles"] == [
        {"title": "t", "description": "d", "url": "u", "picurl": "p"}
    ]
    with pytest.raises(ReplyError):
        custom_message("o1", TransferCustomerServiceReply())
