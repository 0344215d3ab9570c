"""wxhook's own HTTP/1.1 layer (wxhook.httpserver), over raw sockets: what a client sees."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest
from conftest import WxhookTestServer
from helpers import ACCOUNTS, app, keys, msgid, uid

from wxhook import Router, TextMessage
from wxhook.httpserver import parse_query
from wxhook.simulator import message, open_reply, push, verification


def echo() -> Router:
    router = Router()

    @router.message("text")
    async def text(msg: TextMessage) -> str:
        if msg.content.startswith("slow"):
            await asyncio.sleep(0.3)
        return f"echo: {msg.content}"

    return router


@pytest.fixture
async def server():
    srv = WxhookTestServer(app(echo()))
    await srv.start_server()
    yield srv
    await srv.close()


def post_bytes(content: str, *, close: bool = False, version: str = "1.1") -> bytes:
    query, body = push(keys("plain"), message("text", user=uid(), Content=content, MsgId=msgid()))
    head = (
        f"POST {ACCOUNTS['plain']['path']}?{urlencode(query)} HTTP/{version}\r\n"
        f"Host: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: {len(body)}\r\n"
    )
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def reply_text(body: bytes) -> str:
    return open_reply(keys("plain"), body)["Content"]


async def test_keep_alive_serves_many_requests_on_one_connection(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    for i in range(5):
        writer.write(post_bytes(f"hello {i}"))
        status, headers, body = await read_response(reader)
        assert status == 200 and headers["content-type"].startswith("application/xml")
        assert "date" in headers and "server" not in headers
        assert reply_text(body) == f"echo: hello {i}"
    writer.close()


async def test_pipelined_requests_are_answered_in_order(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    # The first is slow: a later quick one must not overtake it on the connection.
    writer.write(b"".join(post_bytes(t) for t in ("slow one", "two", "three", "slow four")))
    got = [reply_text((await read_response(reader))[2]) for _ in range(4)]
    assert got == ["echo: slow one", "echo: two", "echo: three", "echo: slow four"]
    writer.close()


async def test_connection_close_and_http_1_0_close_after_the_answer(server):
    for raw in (post_bytes("bye", close=True), post_bytes("old", version="1.0")):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(raw)
        status, headers, _ = await read_response(reader)
        assert status == 200 and headers["connection"] == "close"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        writer.close()


async def test_a_body_sent_in_small_pieces_is_put_together(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    raw = post_bytes("piece by piece")
    for i in range(0, len(raw), 7):
        writer.write(raw[i : i + 7])
        await writer.drain()
        await asyncio.sleep(0)
    status, _, body = await read_response(reader)
    assert status == 200 and reply_text(body) == "echo: piece by piece"
    writer.close()


async def test_chunked_body_is_accepted(server):
    raw = post_bytes("chunky")
    head, _, body = raw.partition(b"\r\n\r\n")
    head = b"\r\n".join(h for h in head.split(b"\r\n") if not h.startswith(b"Content-Length"))
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 50]), body[i : i + 50]) for i in range(0, len(body), 50)
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    status, _, body = await read_response(reader)
    assert status == 200 and reply_text(body) == "echo: chunky"
    writer.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"POST /plain HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /plain HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
    ],
)
async def test_malformed_http_is_400_and_the_connection_closes(server, raw):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(raw)
    status, headers, body = await read_response(reader)
    assert status == 400 and headers["connection"] == "close"
    assert b"Traceback" not in body
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_huge_headers_are_431(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\n" + b"X-Junk: " + b"a" * 40_000 + b"\r\n\r\n")
    status, _, _ = await read_response(reader)
    assert status == 431
    writer.close()


async def test_routes_methods_and_expect_continue(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)

    async def ask(raw: bytes) -> tuple[int, dict[str, str], bytes]:
        writer.write(raw)
        return await read_response(reader)

    assert (await ask(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))[::2] == (200, b"ok\n")
    assert (await ask(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"))[::2] == (200, b"ready\n")
    status, headers, body = await ask(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200 and b"wxhook_requests_total" in body
    assert (await ask(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"))[0] == 404
    status, headers, _ = await ask(b"DELETE /plain HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 405 and headers["allow"] == "GET, POST"
    status, headers, _ = await ask(
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    assert status == 405 and headers["allow"] == "GET"
    assert (await ask(b"HEAD /plain HTTP/1.1\r\nHost: x\r\n\r\n"))[0] == 405
    # GET verification with a percent-encoded path and query.
    query = urlencode(verification(keys("plain"), echostr="a b+c"))
    path = ACCOUNTS["plain"]["path"].replace("p", "%70")
    status, _, body = await ask(f"GET {path}?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert (status, body) == (200, b"a b+c")
    # Expect: 100-continue (curl sends it for bodies over 1 KB) gets the interim answer.
    raw = post_bytes("continue")
    head, _, body = raw.partition(b"\r\n\r\n")
    writer.write(head + b"\r\nExpect: 100-continue\r\n\r\n")
    assert (
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    writer.write(body)
    status, _, body = await read_response(reader)
    assert status == 200 and reply_text(body) == "echo: continue"
    writer.close()


async def test_stop_answers_the_request_in_progress_then_closes():
    srv = WxhookTestServer(app(echo()))
    await srv.start_server()
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", srv.port)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(post_bytes("slow but answered"))
    await asyncio.sleep(0.1)  # the handler is running
    closing = asyncio.create_task(srv.close())
    status, headers, body = await read_response(reader)
    assert status == 200 and headers["connection"] == "close"
    assert reply_text(body) == "echo: slow but answered"
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # the idle one was closed
    await closing
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", srv.port)
    writer.close()
    idle_writer.close()


def test_parse_query_decodes_only_what_is_escaped_and_keeps_the_first_value():
    assert parse_query("a=1&b=x%20y&c=p+q&a=2&&d") == {"a": "1", "b": "x y", "c": "p q", "d": ""}
    assert parse_query("") == {}
    assert parse_query("signature=abc&timestamp=1&nonce=n") == {
        "signature": "abc",
        "timestamp": "1",
        "nonce": "n",
    }
