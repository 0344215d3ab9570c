"""The callback server over real HTTP: handshake, modes, errors, dedup, deadline, failures."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import ACCOUNTS, app, keys, msgid, post, uid

from wxhook import ClickEvent, Router, SubscribeEvent, SubscribeScanEvent, TextMessage
from wxhook.simulator import event, message, push, verification

MODES = ["plain", "compatible", "safe"]


def echo_router(calls: list | None = None) -> Router:
    router = Router()
    seen = calls if calls is not None else []

    @router.event("subscribe_scan")  # registered first: its reply wins for a QR follow
    async def qr(ev: SubscribeScanEvent) -> str:
        seen.append(("qr", ev.scene_id))
        return f"scene {ev.scene_id}"

    @router.event("subscribe")  # every follow, QR follows too
    async def welcome(ev: SubscribeEvent) -> str:
        seen.append(("subscribe", ev.source))
        return "welcome"

    @router.click("MENU_A")
    async def click(ev: ClickEvent) -> str:
        seen.append(("click", ev.key))
        return "clicked A"

    @router.message("text")
    async def text(msg: TextMessage) -> str:
        seen.append(("text", msg.content))
        return f"echo: {msg.content}"

    return router


# Handshake and HTTP errors --------------------------------------------------------------------


async def test_get_handshake_answers_echostr_verbatim(aiohttp_client):
    client = await aiohttp_client(app(echo_router()))
    for mode in MODES:
        query = verification(keys(mode), echostr="4375120948345356249")
        resp = await client.get(ACCOUNTS[mode]["path"], params=query)
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        assert await resp.read() == b"4375120948345356249"


async def test_get_with_bad_or_missing_signature_is_403(aiohttp_client):
    client = await aiohttp_client(app(echo_router()))
    query = verification(keys("plain"))
    bad = {**query, "signature": "0" * 40}
    assert (await client.get("/plain", params=bad)).status == 403
    assert (await client.get("/plain", params={"echostr": "x"})).status == 403
    # Another account's token does not open this account's URL.
    assert (await client.get("/safe", params=query)).status == 403


async def test_post_with_bad_signature_runs_nothing(aiohttp_client):
    calls: list = []
    client = await aiohttp_client(app(echo_router(calls)))
    query, body = push(keys("plain"), message("text", Content="hi", MsgId=msgid()))
    resp = await client.post("/plain", params={**query, "signature": "f" * 40}, data=body)
    assert resp.status == 403
    assert calls == []


async def test_unknown_path_404_wrong_method_405(aiohttp_client):
    client = await aiohttp_client(app(echo_router()))
    assert (await client.get("/nope")).status == 404
    assert (await client.put("/plain", data=b"x")).status == 405
    assert (await client.delete("/plain")).status == 405


async def test_body_over_limit_is_413_even_chunked(aiohttp_client):
    client = await aiohttp_client(app(echo_router(), server={"max_body_bytes": 4096}))
    query, _ = push(keys("plain"), b"")
    resp = await client.post("/plain", params=query, data=b"x" * 10_000)
    assert resp.status == 413

    async def chunks():
        for _ in range(100):
            yield b"y" * 1000

    resp = await client.post("/plain", params=query, data=chunks())
    assert resp.status == 413


@pytest.mark.parametrize(
    "body",
    [b"not xml", b"<xml><ToUserName>x</ToUserName></xml>", b"<!DOCTYPE x [<!ENTITY a 'b'>]><xml/>"],
)
async def test_malformed_body_after_valid_signature_is_400(aiohttp_client, body, caplog):
    client = await aiohttp_client(app(echo_router()))
    query, _ = push(keys("plain"), b"")
    resp = await client.post("/plain", params=query, data=body)
    assert resp.status == 400
    text = await resp.text()
    assert "Traceback" not in text and len(text) < 100
    assert any(
        "malformed" in r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records
    )


async def test_failed_decryption_is_400_and_counted(aiohttp_client):
    client = await aiohttp_client(app(echo_router()))
    # Encrypted for the compatible account, sent to the safe account with its own signature.
    doc = message("text", Content="hi", MsgId=msgid())
    q, body = push(keys("compatible"), doc)
    sk = keys("safe")
    from wxhook.core import compute_signature
    from wxhook.core import parse_xml as px

    encrypt = px(body)["Encrypt"]
    q = {
        "signature": compute_signature(sk.token, q["timestamp"], q["nonce"]),
        "timestamp": q["timestamp"],
        "nonce": q["nonce"],
        "encrypt_type": "aes",
        "msg_signature": compute_signature(sk.token, q["timestamp"], q["nonce"], encrypt),
    }
    resp = await client.post("/safe", params=q, data=body)
    assert resp.status == 400
    metrics = await (await client.get("/metrics")).text()
    assert 'wxhook_crypto_failures_total{code="' in metrics


# Every mode, every common push ----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_modes_answer_subscribe_qr_click_text(aiohttp_client, mode):
    calls: list = []
    client = await aiohttp_client(app(echo_router(calls)))
    user = uid()
    cases = [
        (event("subscribe", user=user), "welcome"),
        (event("subscribe", user=user, EventKey="qrscene_777", Ticket="T"), "scene 777"),
        (event("CLICK", user=user, EventKey="MENU_A"), "clicked A"),
        (
            message("text", user=user, Content="你好 😀 ]]> <b>", MsgId=msgid()),
            "echo: 你好 😀 ]]> <b>",
        ),
    ]
    for document, expected in cases:
        status, reply, raw = await post(client, mode, document)
        assert status == 200
        assert reply["Content"] == expected
        assert reply["ToUserName"] == user and reply["MsgType"] == "text"
        assert (b"<Encrypt>" in raw) == (mode != "plain")
        await asyncio.sleep(1.01) if expected == "welcome" else None  # distinct CreateTime
    assert [c[0] for c in calls] == ["subscribe", "qr", "subscribe", "click", "text"]


async def test_plain_request_to_safe_account_is_refused(aiohttp_client):
    client = await aiohttp_client(app(echo_router()))
    status, _, _ = await post(
        client, "safe", message("text", Content="x", MsgId=msgid()), encrypted=False
    )
    assert status == 403  # unsigned body: refused like a forgery


async def test_two_accounts_answer_with_their_own_keys(aiohttp_client):
    client = await aiohttp_client(app(echo_router()))
    doc = message("text", Content="which key?", MsgId=msgid())
    status, reply, raw = await post(client, "safe", doc)
    assert status == 200 and reply["Content"] == "echo: which key?"
    # The safe account's envelope does not open with the compatible account's key.
    from wxhook.core import CryptoError, SignatureError
    from wxhook.simulator import open_reply

    with pytest.raises((CryptoError, SignatureError)):
        open_reply(keys("compatible"), raw)
    status, reply, raw = await post(client, "plain", message("text", Content="p", MsgId=msgid()))
    assert reply["Content"] == "echo: p" and b"Encrypt" not in raw


# Handler faults and the deadline --------------------------------------------------------------


async def test_handler_exception_answers_empty_and_next_message_works(aiohttp_client):
    router = Router()

    @router.message("text", text="boom")
    async def boom(msg):
        raise RuntimeError("kaput")

    @router.message("text", text="ok")
    async def fine(msg):
        return "fine"

    application = app(router)
    client = await aiohttp_client(application)
    status, reply, raw = await post(client, "plain", message("text", Content="boom", MsgId=msgid()))
    assert status == 200 and raw == b""
    status, reply, raw = await post(client, "plain", message("text", Content="ok", MsgId=msgid()))
    assert reply["Content"] == "fine"
    from wxhook.server import STORE

    await asyncio.sleep(0.05)
    failures = await application[STORE].failures.recent()
    assert failures[0]["error"] == "RuntimeError: kaput"
    assert failures[0]["msg_type"] == "text" and failures[0]["dedup_key"].startswith("m:")


async def test_slow_handler_gets_empty_response_and_still_completes(aiohttp_client):
    finished = asyncio.Event()
    router = Router()

    @router.message("text")
    async def slow(msg):
        await asyncio.sleep(1.5)
        finished.set()
        return "too late"

    client = await aiohttp_client(app(router, dispatch={"deadline": 0.5}))
    status, _, raw = await post(client, "plain", message("text", Content="x", MsgId=msgid()))
    assert status == 200 and raw == b""
    assert not finished.is_set()  # the response went out while the handler was still running
    await asyncio.wait_for(finished.wait(), 5)


async def test_default_deadline_answers_before_wechat_gives_up(aiohttp_client):
    router = Router()

    @router.message("text")
    async def slow(msg):
        await asyncio.sleep(30)

    client = await aiohttp_client(app(router, dispatch={"background_timeout": 1.0}))
    started = time.monotonic()
    status, _, raw = await post(client, "plain", message("text", Content="x", MsgId=msgid()))
    assert status == 200 and raw == b""
    assert time.monotonic() - started < 5.0  # WeChat waits 5 s; the default deadline is 4.5 s


async def test_graceful_shutdown_waits_for_background_handler(aiohttp_client):
    finished = asyncio.Event()
    router = Router()

    @router.message("text")
    async def slow(msg):
        await asyncio.sleep(1.0)
        finished.set()

    client = await aiohttp_client(app(router, dispatch={"deadline": 0.2}))
    _, _, raw = await post(client, "plain", message("text", Content="x", MsgId=msgid()))
    assert raw == b"" and not finished.is_set()
    await client.close()  # runs the app's cleanup: drains background handlers
    assert finished.is_set()


async def test_late_reply_is_kept_for_a_retry(aiohttp_client):
    router = Router()

    @router.message("text")
    async def slow(msg):
        await asyncio.sleep(0.6)
        return "late but kept"

    client = await aiohttp_client(app(router, dispatch={"deadline": 0.3}))
    doc = message("text", Content="x", MsgId=msgid())
    _, _, raw = await post(client, "plain", doc)
    assert raw == b""
    await asyncio.sleep(1.2)  # the reply is known at ~0.6 s; leave room on a busy machine
    _, reply, _ = await post(client, "plain", doc)  # WeChat's retry
    assert reply["Content"] == "late but kept"


async def test_replayed_old_signature_is_403(aiohttp_client):
    calls: list = []
    client = await aiohttp_client(app(echo_router(calls)))
    doc = message("text", Content="replay", MsgId=msgid())
    status, _, _ = await post(client, "plain", doc, timestamp=str(int(time.time()) - 3600))
    assert status == 403 and calls == []


async def test_readyz_does_not_leak_store_details(aiohttp_client):
    client = await aiohttp_client(app(echo_router(), "redis://127.0.0.1:1/0"))
    resp = await client.get("/readyz")
    assert resp.status == 503 and await resp.text() == "store unavailable\n"


async def test_a_timeout_inside_a_handler_cuts_the_handler_not_the_request(aiohttp_client):
    router = Router()

    @router.message("text")
    async def bounded(msg: TextMessage) -> str:
        try:
            async with asyncio.timeout(0.2):  # as an API call with a timeout would
                await asyncio.sleep(3)
        except TimeoutError:
            return "the API was too slow"
        return "never"

    client = await aiohttp_client(app(router))
    status, reply, _ = await post(client, "plain", message("text", Content="hi", MsgId=msgid()))
    assert status == 200 and reply["Content"] == "the API was too slow"


async def test_unexpected_errors_in_verification_and_readiness_are_clean_answers(
    aiohttp_client, monkeypatch
):
    import dataclasses

    from wxhook.stores.memory import InProcess, memory_store

    class BrokenConnection(InProcess):
        async def ping(self) -> None:
            raise RuntimeError("a bug in a store")

    def broken_verify(*args, **kwargs):
        raise RuntimeError("a bug in verification")

    monkeypatch.setattr("wxhook.server.endpoint.verify_url", broken_verify)
    client = await aiohttp_client(app(echo_router()))
    resp = await client.get(ACCOUNTS["plain"]["path"], params=verification(keys("plain")))
    assert (resp.status, await resp.read()) == (200, b"")  # empty, never a 500
    from helpers import config

    from wxhook.server import create_app

    client = await aiohttp_client(
        create_app(
            config(),
            router=echo_router(),
            store=dataclasses.replace(memory_store(), connection=BrokenConnection()),
            ops_routes=True,
        )
    )
    resp = await client.get("/readyz")
    assert resp.status == 503 and b"Traceback" not in await resp.read()


def test_the_demo_token_of_the_compose_files_is_warned_about(caplog):
    from wxhook.config import DEMO_TOKEN, parse_config
    from wxhook.server import create_app

    accounts = [
        {"name": "demo", "path": "/demo", "token": DEMO_TOKEN},
        {"name": "real", "path": "/real", "token": "a-real-token"},
    ]
    with caplog.at_level("WARNING", logger="wxhook.server"):
        create_app(parse_config({"accounts": accounts}, env={}))
    warned = [r.getMessage() for r in caplog.records if "demo secrets" in r.getMessage()]
    assert warned == [
        "account demo uses the demo secrets of docker-compose.yml, which are public: anyone "
        "who reaches this server can forge pushes; set the account's own in .env"
    ]
