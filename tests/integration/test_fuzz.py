"""Fuzzing the running server over real HTTP with mutated real requests (bounded by hypothesis).

Whatever arrives: never a 500, never an unhandled exception, and never a handler run for a
request whose signature does not verify.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import free_port
from helpers import ACCOUNTS, config, keys
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wxhook import BaseMessage, Router
from wxhook.server import create_app
from wxhook.simulator import push

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "samples").glob("*.xml"))
C0 = bytes(c for c in range(32) if c not in (9, 10, 13))
ALLOWED = {200, 400, 403, 404, 405, 408, 413}


@dataclass
class Running:
    port: int
    handled: list[str] = field(default_factory=list)
    errors: list[logging.LogRecord] = field(default_factory=list)

    def send(self, path: str, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", f"{path}?{urlencode(query)}", body=body)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        # Handler failures are expected (none here); anything else at ERROR is a bug.
        if record.name != "wxhook.handler":
            self.into.append(record)


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    """The server on a real port."""
    state = Running(free_port())
    router = Router()

    @router.on()  # every message and event
    async def everything(message: BaseMessage) -> str:
        state.handled.append(str(message.raw.get("FuzzId", "")))
        return "ok"

    collector = _Collect(state.errors)
    for name in ("wxhook", "aiohttp"):
        logging.getLogger(name).addHandler(collector)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = loop.create_future()

    async def serve() -> None:
        from aiohttp import web

        application = create_app(config(), router=router)
        runner = web.AppRunner(application)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", state.port).start()
        started.set()
        try:
            await stop
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10)
    yield state
    loop.call_soon_threadsafe(stop.set_result, None)
    thread.join(10)
    loop.close()
    for name in ("wxhook", "aiohttp"):
        logging.getLogger(name).removeHandler(collector)


def real_request(mode: str, sample: Path) -> tuple[str, dict[str, str], bytes, str]:
    """A correctly signed (and per the mode encrypted) request for a real sample push."""
    fuzz_id = uuid.uuid4().hex
    document = tagged(sample, fuzz_id)
    query, body = push(keys(mode), document)
    return ACCOUNTS[mode]["path"], query, body, fuzz_id


def tagged(sample: Path, fuzz_id: str) -> bytes:
    """The sample with a FuzzId field (so a handler run can be traced to its request)."""
    data = sample.read_bytes()
    at = data.index(b"<xml>") + len(b"<xml>")
    return data[:at] + f"<FuzzId>{fuzz_id}</FuzzId>".encode() + data[at:]


def mutate_bytes(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for op, at, chunk in edits:
        i = at % (len(out) + 1)
        if op == "insert":
            out[i:i] = chunk
        elif op == "delete":
            del out[i : i + max(len(chunk), 1)]
        elif op == "flip" and out:
            j = min(i, len(out) - 1)
            out[j] ^= (chunk[0] if chunk else 1) or 1
        elif op == "truncate":
            del out[i:]
    return bytes(out)


edits = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "flip", "truncate"]),
        st.integers(0, 1 << 16),
        st.binary(max_size=16),
    ),
    min_size=1,
    max_size=4,
)
modes = st.sampled_from(["plain", "compatible", "safe"])
samples = st.sampled_from(SAMPLES)
FUZZ = settings(
    max_examples=int(os.environ.get("WXHOOK_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check_answer(running: Running, status: int, body: bytes) -> None:
    assert status in ALLOWED, (status, body[:200])
    assert b"Traceback" not in body
    assert not running.errors, [r.getMessage() for r in running.errors]


@FUZZ
@given(
    mode=modes,
    sample=samples,
    name=st.sampled_from(["signature", "timestamp", "nonce", "msg_signature"]),
    value=st.one_of(st.text(max_size=48), st.binary(max_size=24).map(bytes.hex)),
)
def test_bad_signature_fields_never_run_a_handler(running, mode, sample, name, value):
    path, query, body, fuzz_id = real_request(mode, sample)
    if mode == "plain" and name == "msg_signature":
        name = "signature"  # plain mode has no msg_signature
    if query.get(name) == value:
        return
    query = {**query, name: value}
    status, answer = running.send(path, query, body)
    check_answer(running, status, answer)
    assert status != 200 or (name == "timestamp" and _same_signature(mode, query))
    assert fuzz_id not in running.handled


def _same_signature(mode: str, query: dict[str, str]) -> bool:
    from wxhook.core import compute_signature

    token = ACCOUNTS[mode]["token"]
    return compute_signature(token, query["timestamp"], query["nonce"]) == query["signature"]


@FUZZ
@given(mode=modes, sample=samples, edits=edits)
def test_mutated_bodies_get_a_clean_answer(running, mode, sample, edits):
    path, query, body, fuzz_id = real_request(mode, sample)
    mutated = mutate_bytes(body, edits)
    status, answer = running.send(path, query, mutated)
    check_answer(running, status, answer)
    if mode != "plain" and status == 200 and fuzz_id in running.handled:
        # Only the signed ciphertext is read: a handler ran, so the Encrypt text was intact
        # (but for C0 controls, which the parser drops before anything else looks).
        assert _encrypt_of(mutated).translate(None, C0) == _encrypt_of(body)


def _encrypt_of(body: bytes) -> bytes:
    start = body.find(b"<Encrypt><![CDATA[")
    return body[start : body.find(b"]]></Encrypt>", start)] if start >= 0 else b""


@FUZZ
@given(mode=modes, sample=samples, edits=edits)
def test_mutated_documents_signed_and_encrypted_get_a_clean_answer(running, mode, sample, edits):
    """What decrypts fine may still be hostile inside: 200 or 400, nothing else."""
    fuzz_id = uuid.uuid4().hex
    query, body = push(keys(mode), mutate_bytes(tagged(sample, fuzz_id), edits))
    status, answer = running.send(ACCOUNTS[mode]["path"], query, body)
    check_answer(running, status, answer)
    assert status in (200, 400)


@FUZZ
@given(
    mode=modes,
    sample=samples,
    extra=st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=3),
    drop=st.sets(st.sampled_from(["signature", "timestamp", "nonce", "encrypt_type"])),
)
def test_odd_queries_get_a_clean_answer(running, mode, sample, extra, drop):
    path, query, body, fuzz_id = real_request(mode, sample)
    odd = {k: v for k, v in {**extra, **query}.items() if k not in drop}
    status, answer = running.send(path, odd, body)
    check_answer(running, status, answer)
    if {"signature", "timestamp", "nonce"} & drop:
        assert status == 403 and fuzz_id not in running.handled
