"""Late replies through the customer-service API, against a local fake of the WeChat API."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from fake_wechat import FakeWeChat
from helpers import ACCOUNTS, failures_of, keys, msgid, uid

from wxhook import (
    Context,
    LateRepliesUnavailable,
    NewsReply,
    Router,
    TextMessage,
    WeChatAPIError,
)
from wxhook.config import ConfigError, parse_config
from wxhook.core import Article, ImageReply, TransferCustomerServiceReply, custom_message
from wxhook.core.errors import ReplyError
from wxhook.server import API, CONFIG, DISPATCHER, METRICS, STORE, create_app
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
            "api": {
                "base_url": str(api_server.make_url("")),
                "retries": 1,
                **sections.pop("api", {}),
            },
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
        rows[:] = await store.failures.recent()
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
    result = await application[DISPATCHER].replay(row)
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
    # Typing, shown again after each message (a message ends it), then cleared.
    assert fake.typing == [(user, "Typing")] * 3 + [(user, "CancelTyping")]


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
    while not (rows := await application[STORE].failures.recent()):
        assert time.monotonic() < end
        await asyncio.sleep(0.05)
    assert "late reply not sent" in rows[0]["error"] and "-2" in rows[0]["error"]


def test_late_replies_without_app_secret_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"accounts": [{**ACCOUNTS["plain"], "app_id": "wx1", "late_replies": True}]}, env={}
        )
    assert "late_replies = true needs the account's AppSecret" in str(caught.value)
    assert "WXHOOK_PLAINACCT_APP_SECRET" in str(caught.value)  # where to put it
    with pytest.raises(ConfigError, match="app_id is missing"):
        parse_config(
            {"accounts": [{**ACCOUNTS["plain"], "app_secret": "s", "late_replies": True}]}, env={}
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


# Review findings: no duplicate sends, windows, token edge cases, shutdown, replay --------------


def slow_router(seconds: float = 0.3, reply: str = "late answer") -> Router:
    router = Router()

    @router.on()
    async def slow(msg) -> str:
        await asyncio.sleep(seconds)
        return reply

    return router


async def test_a_send_whose_answer_times_out_is_not_resent(aiohttp_server, aiohttp_client):
    fake, client, application = await start(
        aiohttp_server, aiohttp_client, slow_router(), dispatch={"deadline": 0.1},
        api={"timeout": 0.5, "retries": 2},
    )  # fmt: skip
    fake.send_delay = 2.0  # WeChat delivers it, but its "ok" never comes in time
    user = uid()
    query, body = push(keys("plain"), message("text", user=user, Content="q", MsgId=msgid()))
    assert await deliver(client, query, body) == (200, b"")
    (row,) = await failures_of(application[STORE])
    assert len(fake.messages) == 1  # sent once, never retried into a duplicate
    assert row["delivery_unknown"] is True and "outcome unknown" in row["error"]
    fake.send_delay = 0
    refused = await application[DISPATCHER].replay(row)
    assert not refused.ok and "--resend-unknown" in refused.error and len(fake.messages) == 1
    assert (await application[DISPATCHER].replay(row, resend_unknown=True)).ok
    assert len(fake.messages) == 2


async def test_errors_that_are_not_busy_are_not_retried(aiohttp_server, aiohttp_client):
    fake, _, application = await start(aiohttp_server, aiohttp_client, Router())
    fake.send_errors = [45015, 45015]
    with pytest.raises(WeChatAPIError) as caught:
        await application[API].send("plainacct", custom_message("oC", "x"))
    assert caught.value.code == 45015 and not caught.value.unknown
    assert fake.refused == [("send", 45015)]  # one call: 45015 will not change on a retry


async def test_connection_failures_are_retried_then_reported(aiohttp_client):
    from conftest import free_port

    config = parse_config(
        {
            "api": {"base_url": f"http://127.0.0.1:{free_port()}", "retries": 2, "timeout": 1},
            "accounts": late_accounts("wxnowhere00000001"),
        },
        env={},
    )
    application = create_app(config, router=Router())
    await aiohttp_client(application)
    with pytest.raises(WeChatAPIError) as caught:
        await application[API].send("plainacct", custom_message("oD", "x"))
    assert caught.value.code == -2 and not caught.value.unknown  # it surely never arrived
    metrics = application[METRICS].render().decode()
    assert 'wxhook_api_calls_total{api="stable_token",outcome="unreachable"} 3.0' in metrics


@pytest.mark.parametrize("code", [40001, 40014, 42001])
async def test_each_invalid_token_code_refreshes_once(aiohttp_server, aiohttp_client, code):
    fake, _, application = await start(aiohttp_server, aiohttp_client, Router())
    fake.refuse_code = code
    await application[API].send("plainacct", custom_message("oE", "1"))
    fake.expire("TOKEN-1")
    await application[API].send("plainacct", custom_message("oE", "2"))
    assert [m["_token"] for m in fake.messages] == ["TOKEN-1", "TOKEN-2"]
    assert fake.refused == [("send", code)]


async def test_a_refused_token_still_handed_out_is_forced_once_per_30_seconds(
    aiohttp_server, aiohttp_client
):
    fake, _, application = await start(aiohttp_server, aiohttp_client, Router())
    api = application[API]
    await api.send("plainacct", custom_message("oF", "1"))
    fake.revoke("TOKEN-1")  # refused, but the stable endpoint in normal mode still gives it
    await api.send("plainacct", custom_message("oF", "2"))
    assert [f["force_refresh"] for f in fake.token_fetches] == [False, False, True]
    assert fake.messages[-1]["_token"] == "TOKEN-2"
    fake.revoke("TOKEN-2")  # again at once: no second forced refresh within 30 s
    with pytest.raises(WeChatAPIError, match="forced refresh happened less than 30 s ago"):
        await api.send("plainacct", custom_message("oF", "3"))
    assert [f["force_refresh"] for f in fake.token_fetches].count(True) == 1


async def test_a_short_lived_token_is_not_fetched_on_every_call(aiohttp_server, aiohttp_client):
    fake, _, application = await start(aiohttp_server, aiohttp_client, Router())
    fake.expires_in = 100  # less than token_refresh_margin (300)
    for i in range(20):
        await application[API].send("plainacct", custom_message("oG", str(i)))
    assert len(fake.token_fetches) == 1


async def test_late_replies_to_events_without_a_window_are_not_sent(aiohttp_server, aiohttp_client):
    """A VIEW event opens no customer-service window: its late reply waits for a retry."""
    from wxhook.simulator import event

    fake, client, _ = await start(
        aiohttp_server, aiohttp_client, slow_router(0.2), dispatch={"deadline": 0.05}
    )
    query, body = push(keys("plain"), event("VIEW", EventKey="https://example.com"))
    assert await deliver(client, query, body) == (200, b"")
    await asyncio.sleep(0.5)
    assert fake.messages == [] and fake.typing == []


async def test_a_late_reply_while_the_store_is_down_is_sent_once(aiohttp_server, aiohttp_client):
    """Redis down: the push and its retry both run the handlers (fail open), one reply goes out."""
    from conftest import free_port

    fake, client, _ = await start(
        aiohttp_server, aiohttp_client, slow_router(0.3), dispatch={"deadline": 0.05},
        store=f"redis://127.0.0.1:{free_port()}/0",
    )  # fmt: skip
    query, body = push(keys("plain"), message("text", user=uid(), Content="r", MsgId=msgid()))
    assert await deliver(client, query, body) == (200, b"")
    assert await deliver(client, query, body) == (200, b"")  # WeChat's retry
    await until(lambda: fake.messages)
    await asyncio.sleep(0.6)
    assert len(fake.messages) == 1


async def test_typing_never_lands_after_the_answer(aiohttp_server, aiohttp_client):
    fake, client, _ = await start(
        aiohttp_server, aiohttp_client, slow_router(0.3), dispatch={"deadline": 0.05}
    )
    query, body = push(keys("plain"), message("text", user=uid(), Content="t", MsgId=msgid()))
    await deliver(client, query, body)
    await until(lambda: fake.messages)
    await asyncio.sleep(0.2)
    assert fake.log[0] == ("typing", "Typing") and fake.log[-1] == ("send", "text")


async def test_a_delivery_cut_by_the_shutdown_is_recorded(aiohttp_server, aiohttp_client):
    fake, client, application = await start(
        aiohttp_server, aiohttp_client, slow_router(0.1), dispatch={"deadline": 0.05},
        api={"timeout": 5},
    )  # fmt: skip
    fake.send_delay = 3.0
    query, body = push(keys("plain"), message("text", user=uid(), Content="s", MsgId=msgid()))
    await deliver(client, query, body)
    await until(lambda: fake.messages)  # the send is in flight
    await application[DISPATCHER].drain(0.1)
    (row,) = await application[STORE].failures.recent()
    assert "interrupted by the shutdown" in row["error"] and row["delivery_unknown"] is True


async def test_replaying_a_handler_record_sends_its_reply_on_a_late_reply_account(
    aiohttp_server, aiohttp_client
):
    router = Router()
    fail = [True]

    @router.message("text")
    async def flaky(msg: TextMessage, ctx: Context) -> str:
        if fail[0]:
            raise RuntimeError("down")
        await ctx.send("progress")  # the replayed handler has the API too
        return "the answer, at last"

    fake, client, application = await start(aiohttp_server, aiohttp_client, router)
    user = uid()
    query, body = push(keys("plain"), message("text", user=user, Content="q", MsgId=msgid()))
    await deliver(client, query, body)
    (row,) = await failures_of(application[STORE])
    fail[0] = False
    assert (await application[DISPATCHER].replay(row)).ok
    assert [(m["touser"], m["text"]["content"]) for m in fake.messages] == [
        (user, "progress"),
        (user, "the answer, at last"),
    ]
