"""Builders shared by the HTTP tests: configs, accounts, apps and signed pushes."""

from __future__ import annotations

import uuid
from typing import Any

from wxhook.config import parse_config
from wxhook.core import AccountKeys
from wxhook.router import Router
from wxhook.server import create_app
from wxhook.simulator import open_reply, push

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
KEY2 = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdefg"
APPID = "wx2c2769f8efd9abc2"

ACCOUNTS = {
    "plain": {"name": "plainacct", "path": "/plain", "token": "tok-plain", "mode": "plain"},
    "compatible": {
        "name": "compatacct",
        "path": "/compat",
        "token": "tok-compat",
        "app_id": APPID,
        "encoding_aes_key": KEY,
        "mode": "compatible",
    },
    "safe": {
        "name": "safeacct",
        "path": "/safe",
        "token": "tok-safe",
        "app_id": "wxsafe000000000001",
        "encoding_aes_key": KEY2,
        "mode": "safe",
    },
}


def config(store_url: str = "memory://", **sections: dict[str, Any]):
    data: dict[str, Any] = {
        "store": {"url": store_url, **sections.pop("store", {})},
        "accounts": list(ACCOUNTS.values()),
        **sections,
    }
    return parse_config(data, env={})


def keys(mode: str) -> AccountKeys:
    a = ACCOUNTS[mode]
    return AccountKeys.create(
        token=a["token"],
        app_id=a.get("app_id", ""),
        encoding_aes_key=a.get("encoding_aes_key", ""),
        mode=a["mode"],
    )


def uid() -> str:
    return "o" + uuid.uuid4().hex[:20]


def msgid() -> str:
    return str(uuid.uuid4().int >> 65)


async def post(client, mode: str, document: bytes, **kw):
    """POST a push as WeChat would for the account of `mode`; returns (status, reply dict, raw)."""
    query, body = push(keys(mode), document, **kw)
    resp = await client.post(ACCOUNTS[mode]["path"], params=query, data=body)
    raw = await resp.read()
    return resp.status, (open_reply(keys(mode), raw) if resp.status == 200 else {}), raw


def app(router: Router, store_url: str = "memory://", **sections: dict[str, Any]):
    """The callback app with the ops routes (/readyz, /metrics) on it too, for one client."""
    return create_app(config(store_url, **sections), router=router, ops_routes=True)


async def failures_of(store, count: int = 1, within: float = 10.0) -> list[dict[str, Any]]:
    """The store's failure records once there are `count` of them (records are written just
    after the response); fails after `within` seconds."""
    import asyncio
    import time

    end = time.monotonic() + within
    while True:
        rows = await store.failures.recent()
        if len(rows) >= count or time.monotonic() > end:
            assert len(rows) >= count, rows
            return rows
        await asyncio.sleep(0.02)
