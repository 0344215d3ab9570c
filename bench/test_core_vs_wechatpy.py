"""The protocol core beside wechatpy's counterparts, on the same pushes (pytest-benchmark).

Run by bench/core.py (bench/run.sh); not part of the test suite. Each round handles the
benchmark's mix of ten pushes (4 text, 3 LOCATION, 2 CLICK, 1 subscribe), signed by the same
token; wechatpy runs the calls a hand-written server makes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pool import keys, pushes
from servers.common import APP_ID, ENCODING_AES_KEY, TOKEN, WELCOME
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from wxhook.core import decode, encode

NOW = 1_700_000_000
PLAIN, SAFE = keys("plain"), keys("safe")
CRYPTO = WeChatCrypto(TOKEN, ENCODING_AES_KEY, APP_ID)


def _requests(mode: str) -> list[tuple[dict[str, str], bytes]]:
    from urllib.parse import parse_qsl, urlsplit

    out = []
    for _, target, body in pushes(mode, 10, salt="micro"):
        out.append((dict(parse_qsl(urlsplit(target).query)), body))
    return out


PLAIN_REQS, SAFE_REQS = _requests("plain"), _requests("safe")


def wechatpy_decode_plain() -> list[Any]:
    out = []
    for q, body in PLAIN_REQS:
        check_signature(TOKEN, q["signature"], q["timestamp"], q["nonce"])
        out.append(parse_message(body))
    return out


def wechatpy_decode_safe() -> list[Any]:
    return [
        parse_message(CRYPTO.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"]))
        for q, body in SAFE_REQS
    ]


def wxhook_decode_plain() -> list[Any]:
    return [decode(PLAIN, q, body) for q, body in PLAIN_REQS]


def wxhook_decode_safe() -> list[Any]:
    return [decode(SAFE, q, body) for q, body in SAFE_REQS]


W_MESSAGES = wechatpy_decode_plain()
X_PLAIN, X_SAFE = wxhook_decode_plain(), wxhook_decode_safe()


def wechatpy_encode_plain() -> list[Any]:
    return [create_reply(WELCOME, m).render() for m in W_MESSAGES]


def wechatpy_encode_safe() -> list[Any]:
    return [
        CRYPTO.encrypt_message(create_reply(WELCOME, m).render(), q["nonce"], NOW)
        for m, (q, _) in zip(W_MESSAGES, SAFE_REQS, strict=True)
    ]


def wxhook_encode_plain() -> list[Any]:
    return [encode(PLAIN, WELCOME, d, now=NOW) for d in X_PLAIN]


def wxhook_encode_safe() -> list[Any]:
    return [encode(SAFE, WELCOME, d, now=NOW) for d in X_SAFE]


CASES = {
    "decode plain": (wechatpy_decode_plain, wxhook_decode_plain),
    "decode safe": (wechatpy_decode_safe, wxhook_decode_safe),
    "encode plain": (wechatpy_encode_plain, wxhook_encode_plain),
    "encode safe": (wechatpy_encode_safe, wxhook_encode_safe),
}


@pytest.mark.parametrize("library", ["wechatpy", "wxhook"])
@pytest.mark.parametrize("case", list(CASES))
def test_core(benchmark: Any, case: str, library: str) -> None:
    benchmark.group = case
    benchmark.extra_info["pushes"] = 10
    fn = CASES[case][0 if library == "wechatpy" else 1]
    assert len(benchmark(fn)) == 10


def test_both_sides_agree() -> None:
    """Same pushes, same reading: the comparison is like for like."""
    for w, x in zip(wechatpy_decode_safe(), X_SAFE, strict=True):
        assert (w.source, w.target, w.type) == (x.message.source, x.message.target, x.message.type)
        assert int(w.create_time.timestamp()) == x.message.create_time
    assert all(b"<Content><![CDATA[" + WELCOME.encode() in r for r in wxhook_encode_plain())
