"""The console's parts without a browser: the live ring, masking, who may use the page, its
settings, and the feed the endpoint fills (only when the console is on)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import ACCOUNTS, config, post, uid

from wxhook.config import ConfigError, parse_config
from wxhook.console.access import check, host_of, refusal
from wxhook.console.live import LiveFeed
from wxhook.console.masking import HIDDEN, is_loopback, mask_document, mask_record
from wxhook.router import Router
from wxhook.server import create_app
from wxhook.server.app import ENDPOINTS, LIVE, create_ops_app
from wxhook.simulator import event, message


def settings(ops_host: str = "127.0.0.1", **console: Any):
    return config(ops={"host": ops_host}, console={"enabled": True, **console})


def rejected(feed: LiveFeed, n: int) -> None:
    for i in range(n):
        feed.refused("main", "signature", 403, f"bad signature {i}")


# The ring -----------------------------------------------------------------------------------


def test_the_ring_keeps_the_last_n_with_growing_ids():
    feed = LiveFeed(3, show_contents=True)
    rejected(feed, 5)
    entries = feed.entries()
    assert [e["id"] for e in entries] == [3, 4, 5]
    assert [e["error"] for e in entries] == [
        "bad signature 2",
        "bad signature 3",
        "bad signature 4",
    ]
    assert feed.get(1) is None and feed.get(5)["reason"] == "signature"
    assert feed.last_id == 5 and len(feed) == 3


async def test_followers_get_each_push_and_a_stop_mark():
    feed = LiveFeed(10, show_contents=True)
    queue = feed.follow()
    rejected(feed, 2)
    assert [(await queue.get())["id"] for _ in range(2)] == [1, 2]
    feed.close()
    assert await queue.get() is None


async def test_a_follower_that_falls_behind_is_dropped_not_waited_for():
    feed = LiveFeed(10, show_contents=True)
    queue = feed.follow()
    rejected(feed, queue.maxsize + 5)  # never blocks the endpoint
    items = [queue.get_nowait() for _ in range(queue.qsize())]
    assert items[-1] is None  # told to reconnect
    rejected(feed, 1)
    assert queue.empty()


# Masking ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback_means_the_configured_address_is_loopback(host: str, loopback: bool):
    assert is_loopback(host) is loopback


def test_masking_keeps_what_a_push_is_and_hides_what_it_holds():
    doc = {
        "MsgType": "text",
        "CreateTime": "1",
        "FromUserName": "oUser",
        "Content": "my phone number",
        "Nested": {"Event": "x", "Key": "secret"},
        "Items": ["a", {"Title": "b"}],
    }
    masked = mask_document(doc, show=False)
    assert masked == {
        "MsgType": "text",
        "CreateTime": "1",
        "FromUserName": HIDDEN,
        "Content": HIDDEN,
        "Nested": {"Event": "x", "Key": HIDDEN},
        "Items": [HIDDEN, {"Title": HIDDEN}],
    }
    assert mask_document(doc, show=True) is doc


def test_failure_records_lose_their_contents_and_traceback_off_loopback():
    record = {"id": "1-0", "error": "RuntimeError: x", "raw": {"Content": "hi"}, "traceback": "T"}
    assert mask_record(record, show=False)["raw"] == {"Content": HIDDEN}
    assert mask_record(record, show=False)["traceback"] == ""
    assert mask_record(record, show=True) == record


# Who may use it -----------------------------------------------------------------------------


def verdict(cfg, host="127.0.0.1", header=None, query=None, cookie=None):
    return check(cfg, host=host, header=header, query=query, cookie=cookie)


def test_on_loopback_no_token_is_needed_but_only_loopback_names_are_served():
    cfg = settings()
    assert verdict(cfg).status == 0
    assert verdict(cfg, host="localhost").status == 0
    assert verdict(cfg, host="attacker.example").status == 403  # DNS rebinding


def test_without_an_ops_listener_nothing_is_kept_for_a_console():
    cfg = config(ops={"port": 0}, console={"enabled": True})
    assert "no ops listener" in refusal(cfg)
    assert LIVE not in create_app(cfg, router=Router())


def test_off_loopback_without_a_token_the_console_is_refused():
    cfg = settings("0.0.0.0")
    assert "not loopback" in refusal(cfg)
    assert verdict(cfg).status == 403
    assert verdict(cfg, header="anything").status == 403


def test_off_loopback_the_token_comes_by_header_query_or_cookie():
    cfg = settings("0.0.0.0", token="t0ken")
    assert verdict(cfg).status == 401
    assert verdict(cfg, header="t0ken").status == 0
    assert verdict(cfg, cookie="t0ken").status == 0
    assert verdict(cfg, query="t0ken").set_cookie  # then the cookie carries it
    assert verdict(cfg, header="wrong").status == 403
    assert verdict(cfg, query="t0ke").status == 403


def test_host_header_without_its_port():
    assert host_of({"Host": "127.0.0.1:9108"}) == "127.0.0.1"
    assert host_of({"Host": "[::1]:9108"}) == "[::1]"
    assert host_of({"Host": "localhost"}) == "localhost"


# Settings -----------------------------------------------------------------------------------


def test_console_settings_and_the_token_from_the_environment():
    data = {"console": {"enabled": True, "history": 20}, "accounts": [ACCOUNTS["plain"]]}
    cfg = parse_config(data, env={"WXHOOK_CONSOLE_TOKEN": "from-env"})
    assert (cfg.console.enabled, cfg.console.history, cfg.console.token) == (True, 20, "from-env")
    assert parse_config({"accounts": [ACCOUNTS["plain"]]}, env={}).console.enabled is False
    with pytest.raises(ConfigError, match=r"console\.history"):
        parse_config({"console": {"history": 0}, "accounts": [ACCOUNTS["plain"]]}, env={})


# The feed the endpoint fills ----------------------------------------------------------------


def welcome_router() -> Router:
    router = Router()

    @router.event("subscribe")
    async def welcome(msg):
        return "welcome"

    return router


async def test_with_the_console_off_no_push_builds_anything_for_it():
    app = create_app(config(), router=welcome_router())
    assert LIVE not in app
    assert all(e.watcher is None for e in app[ENDPOINTS].values())
    assert not any(
        r.resource and "/console" in r.resource.canonical
        for r in create_ops_app(app).router.routes()
    )


async def test_the_live_view_shows_pushes_handlers_duplicates_and_refusals(aiohttp_client):
    app = create_app(settings(), router=welcome_router())
    client = await aiohttp_client(app)
    ops = await aiohttp_client(create_ops_app(app))
    push = event("subscribe", FromUserName=uid(), CreateTime="1700000000")
    for _ in range(2):
        status, reply, _ = await post(client, "plain", push)
        assert (status, reply["Content"]) == (200, "welcome")
    refused = await client.post(ACCOUNTS["plain"]["path"], params={"signature": "x"}, data=b"")
    assert refused.status == 403
    live = await (await ops.get("/console/api/live")).json()
    refusal_, duplicate, first = live["entries"]
    assert (refusal_["outcome"], refusal_["reason"]) == ("rejected", "signature")
    assert duplicate["outcome"] == "duplicate" and duplicate["handlers"] == []
    assert first["outcome"] == "replied" and first["reply"]["Content"] == "welcome"
    assert [h["name"].rsplit(".", 1)[-1] for h in first["handlers"]] == ["welcome"]
    info = await (await ops.get("/console/api/info")).json()
    assert "text" in {t["name"] for t in info["types"]}
    assert "tok-plain" not in str(info) and "token" not in info["accounts"][0]
    form = await ops.post("/console/api/send", data={"account": "plainacct"})
    assert form.status == 415  # a form of another site cannot post to the console


async def test_off_loopback_the_live_view_masks_message_contents(aiohttp_client):
    app = create_app(settings("0.0.0.0", token="t0ken"), router=welcome_router())
    client = await aiohttp_client(app)
    ops = await aiohttp_client(create_ops_app(app))
    await post(
        client, "plain", message("text", Content="my address", MsgId="1", FromUserName=uid())
    )
    assert (await ops.get("/console/api/live")).status == 401
    live = await (
        await ops.get("/console/api/live", headers={"X-Wxhook-Console-Token": "t0ken"})
    ).json()
    entry = live["entries"][0]
    assert entry["message"]["Content"] == HIDDEN and entry["message"]["MsgType"] == "text"
