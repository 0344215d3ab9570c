"""Secure by default: freshness, encryption required, addressee checks, key rotation, limits."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import tracemalloc
from typing import Any

import pytest
from helpers import ACCOUNTS, APPID, KEY, KEY2, failures_of, keys, msgid, post, uid

from wxhook import Router, TextMessage
from wxhook.config import ConfigError, parse_config
from wxhook.core import AccountKeys, compute_signature
from wxhook.server import DISPATCHER, STORE, create_app
from wxhook.simulator import message, open_reply, push, verification

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<xml><ToUserName>&lol9;</ToUserName><MsgType>text</MsgType></xml>"""


def counting_router(calls: list[str], reply: str | None = None) -> Router:
    router = Router()

    @router.message("text")
    async def text(msg: TextMessage) -> str:
        calls.append(msg.content)
        return reply if reply is not None else f"echo: {msg.content}"

    return router


def accounts(**changes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**a, **changes.get(mode, {})} for mode, a in ACCOUNTS.items()]


def make_app(router: Router, *, accts: list[dict[str, Any]] | None = None, **sections: Any):
    data: dict[str, Any] = {"accounts": accts or accounts(), **sections}
    return create_app(parse_config(data, env={}), router=router)


# Freshness and retries ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_stale_timestamp_is_403_and_runs_nothing(aiohttp_client, mode):
    calls: list[str] = []
    client = await aiohttp_client(make_app(counting_router(calls)))
    stale = str(int(time.time()) - 301)
    doc = message("text", Content="old", MsgId=msgid())
    status, _, body = await post(client, mode, doc, timestamp=stale)
    assert status == 403 and calls == []
    assert b"<" not in body  # a short reason, no XML, no traceback


async def test_wechat_retry_reaches_dedup_not_a_rejection(aiohttp_client):
    calls: list[str] = []
    client = await aiohttp_client(make_app(counting_router(calls)))
    for mode in ("plain", "compatible", "safe"):
        query, body = push(keys(mode), message("text", Content=mode, MsgId=msgid()))
        answers = []
        for _ in range(3):  # the first delivery and WeChat's two retries: same query, same body
            resp = await client.post(ACCOUNTS[mode]["path"], params=query, data=body)
            answers.append((resp.status, open_reply(keys(mode), await resp.read())["Content"]))
        assert answers == [(200, f"echo: {mode}")] * 3
    assert calls == ["plain", "compatible", "safe"]


async def test_dedup_entry_outlives_the_timestamp_window(aiohttp_client, redis_url):
    """A request signed 200 s in the future is accepted until ts + tolerance: dedup keeps it
    that long, so replaying it at any accepted moment is a duplicate, not a second run."""
    import redis.asyncio as aioredis

    calls: list[str] = []
    application = make_app(counting_router(calls), store={"url": redis_url, "dedup_ttl": 300})
    client = await aiohttp_client(application)
    future = str(int(time.time()) + 200)
    doc = message("text", Content="future", MsgId=msgid())
    status, _, _ = await post(client, "plain", doc, timestamp=future)
    assert status == 200
    r = aioredis.Redis.from_url(redis_url)
    from wxhook.core import decode, dedup_key

    decoded = decode(keys("plain"), *push(keys("plain"), doc, timestamp=future))
    key = "wxhook:dedup:" + dedup_key(decoded.message, "plainacct")
    end = time.monotonic() + 10
    while not (await r.get(key) or b"").startswith(b"R"):  # the reply is stored just after
        assert time.monotonic() < end
        await asyncio.sleep(0.02)
    ttl = await r.ttl(key)
    await r.aclose()
    assert ttl > 480  # ~ 200 s until the timestamp + 300 s tolerance, more than dedup_ttl


# Encryption required, addressee checks --------------------------------------------------------


async def test_forged_plaintext_post_to_require_encryption_account_is_403(aiohttp_client):
    calls: list[str] = []
    application = make_app(
        counting_router(calls), accts=accounts(compatible={"require_encryption": True})
    )
    client = await aiohttp_client(application)
    forged = message("text", Content="forged", MsgId=msgid())
    status, _, _ = await post(client, "compatible", forged, encrypted=False)
    assert status == 403 and calls == []
    status, reply, _ = await post(
        client, "compatible", message("text", Content="ok", MsgId=msgid())
    )
    assert status == 200 and reply["Content"] == "echo: ok" and calls == ["ok"]


def test_require_encryption_in_plain_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="require_encryption needs mode"):
        parse_config({"accounts": accounts(plain={"require_encryption": True})}, env={})


async def test_envelope_addressee_must_match_the_ciphertext(aiohttp_client):
    calls: list[str] = []
    client = await aiohttp_client(make_app(counting_router(calls)))
    k = keys("safe")
    doc = message("text", Content="x", MsgId=msgid(), account="gh_real")
    query, body = push(k, doc)
    tampered = body.replace(b"gh_real", b"gh_other", 1)
    assert tampered != body
    resp = await client.post("/safe", params=query, data=tampered)
    assert resp.status == 403 and calls == []
    resp = await client.post("/safe", params=query, data=body)
    assert resp.status == 200 and calls == ["x"]


async def test_original_id_refuses_pushes_for_another_account(aiohttp_client):
    calls: list[str] = []
    application = make_app(counting_router(calls), accts=accounts(safe={"original_id": "gh_ours"}))
    client = await aiohttp_client(application)
    theirs = message("text", Content="theirs", MsgId=msgid(), account="gh_theirs")
    status, _, _ = await post(client, "safe", theirs)
    assert status == 403 and calls == []
    ours = message("text", Content="ours", MsgId=msgid(), account="gh_ours")
    status, reply, _ = await post(client, "safe", ours)
    assert status == 200 and reply["Content"] == "echo: ours"


# Key rotation -----------------------------------------------------------------------------------


def rotated(until: str) -> list[dict[str, Any]]:
    """The safe account after a rotation: new token and key, the old ones until `until`."""
    return accounts(
        safe={
            "token": "tok-new",
            "encoding_aes_key": KEY,
            "previous_token": ACCOUNTS["safe"]["token"],
            "previous_encoding_aes_key": KEY2,
            "previous_valid_until": until,
        }
    )


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(epoch))


async def test_rotated_keys_work_during_the_grace_period(aiohttp_client):
    calls: list[str] = []
    client = await aiohttp_client(
        make_app(counting_router(calls), accts=rotated(iso(time.time() + 3600)))
    )
    old, new = (
        keys("safe"),
        AccountKeys.create(
            token="tok-new", app_id=ACCOUNTS["safe"]["app_id"], encoding_aes_key=KEY, mode="safe"
        ),
    )
    for k, text in ((old, "old keys"), (new, "new keys")):
        query, body = push(k, message("text", Content=text, MsgId=msgid()))
        resp = await client.post("/safe", params=query, data=body)
        assert resp.status == 200
        # The reply is sealed with the keys the request came with.
        assert open_reply(k, await resp.read())["Content"] == f"echo: {text}"
    resp = await client.get("/safe", params=verification(old, echostr="42"))
    assert resp.status == 200 and await resp.text() == "42"
    assert calls == ["old keys", "new keys"]


async def test_rotated_keys_fail_after_the_grace_period(aiohttp_client):
    calls: list[str] = []
    client = await aiohttp_client(
        make_app(counting_router(calls), accts=rotated(iso(time.time() - 1)))
    )
    status, _, _ = await post(client, "safe", message("text", Content="late", MsgId=msgid()))
    assert status == 403 and calls == []
    resp = await client.get("/safe", params=verification(keys("safe")))
    assert resp.status == 403


def test_rotation_only_of_the_aes_key_keeps_the_token():
    now = time.time()
    k = AccountKeys.create(
        token="t",
        app_id=APPID,
        encoding_aes_key=KEY,
        mode="safe",
        previous_encoding_aes_key=KEY2,
        previous_until=now + 60,
    )
    assert k.previous is not None and k.previous.token == "t"
    assert len(k.candidates(now)) == 2 and k.candidates(now + 61) == (k,)


@pytest.mark.parametrize(
    ("change", "message_part"),
    [
        ({"previous_token": "old"}, "previous_valid_until is missing"),
        ({"previous_valid_until": "2026-12-01T00:00:00"}, "needs a UTC offset"),
        ({"previous_valid_until": "next week"}, "must be a date-time"),
        (
            {"previous_encoding_aes_key": "short", "previous_valid_until": "2030-01-01T00:00Z"},
            "must be 43 characters",
        ),
    ],
)
def test_rotation_settings_are_checked(change, message_part):
    with pytest.raises(ConfigError, match=message_part):
        parse_config({"accounts": accounts(safe=change)}, env={})


def test_previous_keys_come_from_the_environment():
    env = {
        "WXHOOK_SAFEACCT_PREVIOUS_TOKEN": "old-token",
        "WXHOOK_SAFEACCT_PREVIOUS_ENCODING_AES_KEY": KEY,
    }
    import datetime

    until = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    config = parse_config({"accounts": accounts(safe={"previous_valid_until": until})}, env=env)
    safe = config.accounts[2]
    assert safe.previous_token == "old-token" and safe.previous_valid_until == until.timestamp()


def test_dedup_ttl_may_not_be_shorter_than_the_timestamp_window():
    with pytest.raises(
        ConfigError, match=r"must not be shorter than security\.timestamp_tolerance"
    ):
        parse_config(
            {
                "accounts": accounts(),
                "store": {"dedup_ttl": 120},
                "security": {"timestamp_tolerance": 300},
            },
            env={},
        )


def test_the_old_skew_key_says_where_it_went():
    with pytest.raises(ConfigError, match=r"has moved: write security\.timestamp_tolerance"):
        parse_config({"accounts": accounts(), "server": {"max_timestamp_skew": 60}}, env={})


# Body limits, slow clients, hostile XML ----------------------------------------------------------


def _raw_post(port: int, path: str, head_extra: str, first: bytes) -> tuple[socket.socket, str]:
    q = push(keys("plain"), b"")[0]
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST {path}?{qs} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head_extra}\r\n"
    sock.sendall(head.encode() + first)
    return sock, qs


def _status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


async def test_ten_megabyte_body_is_413_without_being_read(aiohttp_server):
    calls: list[str] = []
    server = await aiohttp_server(make_app(counting_router(calls)))
    ten_mb = 10 * 1024 * 1024

    def declared() -> int:
        # Content-Length says 10 MB; only 64 KB is ever sent, and the answer still comes.
        sock, _ = _raw_post(server.port, "/plain", f"Content-Length: {ten_mb}\r\n", b"x" * 65536)
        with sock:
            return _status(sock)

    def chunked() -> tuple[int, int]:
        sock, _ = _raw_post(server.port, "/plain", "Transfer-Encoding: chunked\r\n", b"")
        sent = 0
        chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        with sock:
            sock.settimeout(0.05)
            try:
                while sent < ten_mb:
                    sock.sendall(chunk)
                    sent += 65536
                    try:
                        if sock.recv(1, socket.MSG_PEEK):
                            break  # the server answered before the body was done
                    except TimeoutError:
                        pass
            except (BrokenPipeError, ConnectionResetError):
                pass
            sock.settimeout(10)
            return _status(sock), sent

    assert await asyncio.to_thread(declared) == 413
    status, sent = await asyncio.to_thread(chunked)
    assert status == 413 and sent < ten_mb // 2
    assert calls == []


async def test_slow_client_gets_408_after_read_timeout(aiohttp_server):
    calls: list[str] = []
    server = await aiohttp_server(make_app(counting_router(calls), server={"read_timeout": 0.5}))

    def stall() -> int:
        sock, _ = _raw_post(server.port, "/plain", "Content-Length: 1000\r\n", b"<xml>")
        with sock:
            return _status(sock)  # never sends the rest

    assert await asyncio.to_thread(stall) == 408
    assert calls == []


async def test_billion_laughs_is_400_and_memory_stays_flat(aiohttp_client):
    calls: list[str] = []
    client = await aiohttp_client(make_app(counting_router(calls)))
    for mode in ("plain", "safe"):
        if mode == "safe":
            query, body = push(keys("safe"), BILLION_LAUGHS)
        else:
            query, body = push(keys("plain"), BILLION_LAUGHS)
        gc.collect()
        tracemalloc.start()
        try:
            for _ in range(20):
                resp = await client.post(ACCOUNTS[mode]["path"], params=query, data=body)
                assert resp.status == 400
                await resp.read()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 4 * 1024 * 1024, f"{mode}: peak {peak} bytes"  # expansion would be GBs
    assert calls == []


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
async def test_cdata_end_and_emoji_in_a_reply_come_out_intact(aiohttp_client, mode):
    tricky = "a]]>b 😀 <tag> & ]]]]>>"
    client = await aiohttp_client(make_app(counting_router([], reply=tricky)))
    status, reply, raw = await post(client, mode, message("text", Content="?", MsgId=msgid()))
    assert status == 200 and reply["Content"] == tricky
    assert raw.decode("utf-8")  # well-formed UTF-8; open_reply parsed it as XML


# Failure records, the in-flight cap, replay ---------------------------------------------------


async def test_handler_failure_record_holds_what_a_replay_needs(aiohttp_client):
    router = Router()
    attempts: list[str] = []

    @router.message("text")
    async def flaky(msg: TextMessage) -> None:
        attempts.append(msg.content)
        if len(attempts) == 1:
            raise RuntimeError("database down")

    application = make_app(router)
    client = await aiohttp_client(application)
    user = uid()
    await post(client, "compatible", message("text", Content="keep me", MsgId=msgid(), user=user))
    rows = await failures_of(application[STORE])
    (row,) = rows
    assert row["account"] == "compatacct" and row["handler"].endswith("flaky")
    assert row["error"] == "RuntimeError: database down" and row["time"] > 0
    assert row["raw"]["Content"] == "keep me" and row["raw"]["FromUserName"] == user
    result = await application[DISPATCHER].replay(row)
    assert result.ok and attempts == ["keep me", "keep me"]


async def test_over_max_in_flight_is_answered_and_recorded_not_started(aiohttp_client):
    router = Router()
    release = asyncio.Event()
    started: list[str] = []
    began = asyncio.Event()

    @router.message("text")
    async def slow(msg: TextMessage) -> str:
        started.append(msg.content)
        began.set()
        await release.wait()
        return "done"

    application = make_app(
        router, dispatch={"max_in_flight": 1, "deadline": 0.3, "background_timeout": 30}
    )
    client = await aiohttp_client(application)
    first = asyncio.create_task(
        post(client, "plain", message("text", Content="first", MsgId=msgid()))
    )
    await began.wait()
    status, _, raw = await post(client, "plain", message("text", Content="second", MsgId=msgid()))
    assert status == 200 and raw == b""  # answered at once: the cap holds
    assert started == ["first"]
    rows = await failures_of(application[STORE])
    (row,) = rows
    assert row["handler"].endswith("slow") and "max_in_flight" in row["error"]
    assert row["raw"]["Content"] == "second"
    release.set()
    await first
    result = await application[DISPATCHER].replay(row)
    assert result.ok and started == ["first", "second"]


async def test_handler_cut_after_background_timeout_leaves_a_record(aiohttp_client):
    router = Router()

    @router.message("text")
    async def hangs(msg: TextMessage) -> None:
        await asyncio.sleep(3600)

    application = make_app(router, dispatch={"deadline": 0.1, "background_timeout": 0.2})
    client = await aiohttp_client(application)
    status, _, raw = await post(client, "plain", message("text", Content="slow", MsgId=msgid()))
    assert status == 200 and raw == b""
    rows = await failures_of(application[STORE])
    (row,) = rows
    assert row["handler"].endswith("hangs") and row["error"].startswith("TimeoutError")
    assert row["raw"]["Content"] == "slow"


async def test_signature_checks_use_the_whole_query(aiohttp_client):
    """A forged POST without any signature parameter never reaches a handler."""
    calls: list[str] = []
    client = await aiohttp_client(make_app(counting_router(calls)))
    ts = str(int(time.time()))
    for params in (
        {},
        {"timestamp": ts, "nonce": "1"},
        {"timestamp": ts, "nonce": "1", "signature": compute_signature("wrong", ts, "1")},
    ):
        resp = await client.post(
            "/plain", params=params, data=message("text", Content="f", MsgId=msgid())
        )
        assert resp.status == 403
    assert calls == []


async def test_expired_rotation_of_the_aes_key_alone_is_refused(aiohttp_client):
    """Only the EncodingAESKey rotated: the old key works until the time set, then 403 —
    and during the grace period a reply to an old-key request is sealed with the old key."""
    old = keys("safe")  # token tok-safe, KEY2
    new = AccountKeys.create(
        token=ACCOUNTS["safe"]["token"],
        app_id=ACCOUNTS["safe"]["app_id"],
        encoding_aes_key=KEY,
        mode="safe",
    )

    def app_until(until: float):
        safe = {"encoding_aes_key": KEY, "previous_encoding_aes_key": KEY2}
        return make_app(
            counting_router([]),
            accts=accounts(safe={**safe, "previous_valid_until": iso(until)}),
        )

    during = await aiohttp_client(app_until(time.time() + 60))
    query, body = push(old, message("text", Content="old key", MsgId=msgid()))
    resp = await during.post("/safe", params=query, data=body)
    raw = await resp.read()
    assert resp.status == 200 and open_reply(old, raw)["Content"] == "echo: old key"
    with pytest.raises(Exception):  # noqa: B017 - the new key cannot open it
        open_reply(new, raw)
    after = await aiohttp_client(app_until(time.time() - 1))
    query, body = push(old, message("text", Content="old key", MsgId=msgid()))
    assert (await after.post("/safe", params=query, data=body)).status == 400  # -40005/-40007
    query, body = push(new, message("text", Content="new key", MsgId=msgid()))
    assert (await after.post("/safe", params=query, data=body)).status == 200


def test_previous_keys_equal_to_the_current_ones_are_refused():
    until = "2030-01-01T00:00:00+00:00"
    with pytest.raises(ConfigError, match="previous_token is the current token"):
        parse_config(
            {
                "accounts": accounts(
                    safe={"previous_token": "tok-safe", "previous_valid_until": until}
                )
            },
            env={},
        )


async def test_one_function_under_two_decorators_replays_once(aiohttp_client):
    router = Router()
    runs: list[str] = []
    failing = [True]

    @router.message("text", text="boom")
    @router.message("text", regex="^b")
    async def twice_registered(msg: TextMessage) -> None:
        runs.append(msg.content)
        if failing[0]:
            raise RuntimeError("first deliveries fail")

    application = make_app(router)
    client = await aiohttp_client(application)
    await post(client, "plain", message("text", Content="boom", MsgId=msgid()))
    rows = await failures_of(application[STORE], count=2)
    assert sorted(r["handler_index"] for r in rows) == [0, 1]
    runs.clear()
    failing[0] = False
    for row in rows:
        assert (await application[DISPATCHER].replay(row)).ok
    assert runs == ["boom", "boom"]  # each registration once, not each twice


async def test_a_cut_handler_that_raises_on_cancel_is_recorded_once(aiohttp_client):
    router = Router()

    @router.message("text")
    async def stubborn(msg: TextMessage) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise ValueError("cleanup failed") from None

    application = make_app(router, dispatch={"deadline": 0.05, "background_timeout": 0.1})
    client = await aiohttp_client(application)
    await post(client, "plain", message("text", Content="z", MsgId=msgid()))
    rows = await failures_of(application[STORE])
    await asyncio.sleep(0.3)  # a second record, if any, would be written by now
    rows = await application[STORE].failures.recent()
    assert len(rows) == 1 and rows[0]["error"].startswith("TimeoutError")


async def test_shutdown_cuts_handlers_into_records(aiohttp_client):
    router = Router()

    @router.message("text")
    async def endless(msg: TextMessage) -> None:
        await asyncio.sleep(3600)

    application = make_app(router, dispatch={"deadline": 0.05, "background_timeout": 600})
    client = await aiohttp_client(application)
    await post(client, "plain", message("text", Content="at shutdown", MsgId=msgid()))
    cut = await application[DISPATCHER].drain(0.1)
    assert [name.rsplit(".", 1)[-1] for name in cut] == ["endless"]
    (row,) = await application[STORE].failures.recent()
    assert "cancelled at shutdown" in row["error"] and row["raw"]["Content"] == "at shutdown"
