"""Settings shared by the benchmark's servers and its load generator."""

from __future__ import annotations

import asyncio
import os

TOKEN = "benchtoken"
APP_ID = "wxbench0000000001"
ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
PATH = "/wechat"
WELCOME = "欢迎关注！"
DEDUP_TTL = 300


def use_loop(name: str) -> None:
    """Select the event loop every server of a run uses, so the comparison stays fair."""
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    elif name != "asyncio":
        raise SystemExit(f"unknown loop {name!r}")


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)
