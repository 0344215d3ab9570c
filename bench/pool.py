"""Distinct, correctly signed (and in safe mode encrypted) pushes for the load generator.

A realistic mix: 40 % text, 30 % LOCATION (reported on every chat entry), 20 % CLICK and 10 %
subscribe, each from its own user with its own MsgId / CreateTime and nonce, so no dedup store
ever sees a push twice. One line per push: "<path and query>\t<body>" (bench/requests.lua).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

from servers.common import APP_ID, ENCODING_AES_KEY, PATH, TOKEN

from wxhook.core import AccountKeys
from wxhook.simulator import message, push

KINDS = ("subscribe", "click", "click", "location", "location", "location") + ("text",) * 4


def keys(mode: str) -> AccountKeys:
    if mode == "plain":
        return AccountKeys.create(token=TOKEN)
    return AccountKeys.create(
        token=TOKEN, app_id=APP_ID, encoding_aes_key=ENCODING_AES_KEY, mode="safe"
    )


def document(i: int, kind: str, *, salt: str, now: int) -> bytes:
    user = "o" + hashlib.blake2b(f"{salt}:{i}".encode(), digest_size=14).hexdigest()[:27]
    common = {"user": user, "account": "gh_bench0000001", "create_time": now}
    if kind == "subscribe":
        return message("event", Event="subscribe", EventKey="", **common)  # type: ignore[arg-type]
    if kind == "click":
        return message("event", Event="CLICK", EventKey="MENU_HELP", **common)  # type: ignore[arg-type]
    if kind == "location":
        return message(
            "event",
            Event="LOCATION",
            Latitude=f"{23 + i % 1000 / 1000:.6f}",
            Longitude=f"{113 + i % 997 / 1000:.6f}",
            Precision="65.000000",
            **common,  # type: ignore[arg-type]
        )
    return message(
        "text",
        Content=f"天气 北京 {i}",
        MsgId=str(24000000000000000 + i),
        **common,  # type: ignore[arg-type]
    )


def pushes(mode: str, count: int, *, salt: str) -> Iterator[tuple[str, str, bytes]]:
    """(kind, path with query, body) for `count` distinct pushes."""
    account = keys(mode)
    now = int(time.time())
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        doc = document(i, kind, salt=salt, now=now)
        query, body = push(account, doc, nonce=f"{salt}{i}", timestamp=str(now))
        yield kind, f"{PATH}?{urlencode(query)}", body


def write_pool(path: Path, mode: str, count: int, *, salt: str) -> Path:
    with path.open("wb") as out:
        for _, target, body in pushes(mode, count, salt=salt):
            assert b"\t" not in body and b"\n" not in body
            out.write(target.encode() + b"\t" + body + b"\n")
    return path
