"""wxhook's own HTTP/1.1 layer (wxhook.httpserver), over raw sockets: what a client sees."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest
from conftest import WxhookTestServer
from helpers import ACCOUNTS, app, keys, msgid, uid

from wxhook import Router, TextMessage
from wxhook.httpserver import FEED_QUEUED, MAX_QUEUED, parse_query
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


async def read_response(
    reader: asyncio.StreamReader, *, head: bool = False
) -> tuple[int, dict[str, str], bytes]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = raw.decode().split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if head:  # an answer to HEAD has no body, whatever its Content-Length says
        return status, headers, b""
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
    for target in (b"/plain", b"/healthz", b"/nowhere"):  # HEAD: no body, the line stays in step
        writer.write(b"HEAD " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = await read_response(reader, head=True)
        assert status in (404, 405) and int(headers["content-length"]) > 0
    assert (await ask(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))[::2] == (200, b"ok\n")
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


# Limits and flow control ----------------------------------------------------------------------


def counting(seen: list[str], delay: float) -> Router:
    router = Router()

    @router.message("text")
    async def text(msg: TextMessage) -> str:
        seen.append(msg.content)
        await asyncio.sleep(delay)
        return f"echo: {msg.content}"

    return router


async def serve_app(application) -> WxhookTestServer:
    srv = WxhookTestServer(application)
    await srv.start_server()
    return srv


async def test_a_header_that_never_ends_is_431_before_it_grows(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nX-Endless: ")
    for _ in range(64):  # 64 KB with no line end: the parser holds it, we count it
        writer.write(b"a" * 1024)
        await writer.drain()
        if reader.at_eof() or reader._buffer:  # the answer came: stop sending
            break
    status, headers, _ = await read_response(reader)
    assert status == 431 and headers["connection"] == "close"
    assert [c for c in server._http.connections if c.head_fed > 64 * 1024] == []
    writer.close()


async def test_a_refused_body_is_drained_so_the_client_sees_413_not_a_reset(server):
    body = b"x" * (2 * 1024 * 1024)
    query, _ = push(keys("plain"), message("text", Content="big", MsgId=msgid()))
    head = (
        f"POST {ACCOUNTS['plain']['path']}?{urlencode(query)} HTTP/1.1\r\n"
        f"Host: x\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head + body)  # all of it, as clients do without Expect
        await writer.drain()
        status, headers, _ = await read_response(reader)
        assert status == 413 and headers["connection"] == "close"
        writer.close()


async def test_refusals_and_interim_answers_wait_for_the_answers_owed_before_them(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        post_bytes("slow first") + b"POST /plain HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"
    )
    first = await read_response(reader)
    second = await read_response(reader)
    assert first[0] == 200 and reply_text(first[2]) == "echo: slow first"
    assert second[0] == 413
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    raw = post_bytes("continue")
    head, _, body = raw.partition(b"\r\n\r\n")
    writer.write(post_bytes("slow before") + head + b"\r\nExpect: 100-continue\r\n\r\n")
    status, _, got = await read_response(reader)  # not a 100 first: the 200 it owes
    assert status == 200 and reply_text(got) == "echo: slow before"
    writer.write(body)
    status, _, got = await read_response(reader)
    assert status == 200 and reply_text(got) == "echo: continue"
    writer.close()


async def test_a_client_that_never_reads_cannot_fill_memory_or_stall_others(server):
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    burst = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 3000  # answers it never reads
    writer.write(burst)
    other_reader, other_writer = await asyncio.open_connection("127.0.0.1", server.port)
    for _ in range(20):
        other_writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_response(other_reader))[::2] == (200, b"ok\n")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    flood = [c for c in server._http.connections if c.transport.get_write_buffer_size() > 0]
    assert flood, "the flooding connection should have answers waiting"
    for c in server._http.connections:
        assert c.transport.get_write_buffer_size() < 1024 * 1024  # paused, not buffering on
        assert len(c.queue) <= MAX_QUEUED + FEED_QUEUED // 16  # a request is over 16 bytes
    writer.transport.abort()
    other_writer.close()


async def test_the_read_timeout_does_not_run_while_the_server_holds_requests_back():
    seen: list[str] = []
    srv = await serve_app(app(counting(seen, 0.1), server={"read_timeout": 0.5}))
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"".join(post_bytes(f"m{i}") for i in range(24)))  # 2.4 s of work queued
    got = [reply_text((await read_response(reader))[2]) for _ in range(24)]
    assert got == [f"echo: m{i}" for i in range(24)]
    writer.close()
    await srv.close()


async def test_requests_queued_behind_a_client_that_left_are_not_handled():
    seen: list[str] = []
    srv = await serve_app(app(counting(seen, 0.2)))
    _reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"".join(post_bytes(f"q{i}") for i in range(10)))
    await asyncio.sleep(0.1)
    writer.transport.abort()  # gone while the first is being handled
    await asyncio.sleep(0.6)
    assert 1 <= len(seen) <= 2, seen
    await srv.close()


async def test_http_1_0_keep_alive_and_upgrade_requests(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    status, headers, _ = await read_response(reader)
    assert status == 200 and headers["connection"] == "keep-alive"
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    status, _, body = await read_response(reader)  # answered as a plain request, then closed
    assert (status, body) == (200, b"ok\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET http://127.0.0.1/healthz#frag HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(reader))[::2] == (200, b"ok\n")  # absolute form
    writer.close()


# After the second review --------------------------------------------------------------------


async def test_a_refusal_behind_held_back_requests_still_reaches_the_client(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    gets = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 400  # over one read slice: held back
    writer.write(gets + b"POST /plain HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n" + b"x" * 5000)
    statuses = [(await read_response(reader))[0] for _ in range(401)]
    assert statuses == [200] * 400 + [413]
    assert await asyncio.wait_for(reader.read(), 5) == b""  # a close, not a reset
    writer.close()


async def test_a_client_that_stops_reading_is_cut_off(server, monkeypatch):
    import wxhook.httpserver as httpserver

    monkeypatch.setattr(httpserver, "KEEPALIVE", 0.5)
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 3000)  # and never reads
    for _ in range(100):
        if not server._http.connections:
            break
        await asyncio.sleep(0.05)
    assert not server._http.connections
    writer.close()


def test_a_pipelined_burst_is_not_answered_inside_one_read():
    from wxhook.httpserver import Connection

    class Transport:
        def __init__(self) -> None:
            self.written: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.written.append(data)

        def is_closing(self) -> bool:
            return False

        def pause_reading(self) -> None: ...

        def resume_reading(self) -> None: ...

        def close(self) -> None: ...

        def abort(self) -> None: ...

    async def run() -> tuple[int, int]:
        srv = WxhookTestServer(app(echo()))
        await srv.start_server()
        conn = Connection(srv._http)
        transport = Transport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        conn.data_received(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
        during = len(transport.written)  # at most the first (started eagerly on 3.12)
        for _ in range(1000):
            if len(transport.written) == 200:
                break
            await asyncio.sleep(0)
        conn.connection_lost(None)
        await srv.close()
        return during, len(transport.written)

    during, after = asyncio.run(run())
    assert during <= 1 and after == 200


async def test_stop_answers_every_request_received_and_cuts_what_outlives_the_grace():
    seen: list[str] = []
    srv = await serve_app(app(counting(seen, 0.2)))
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"".join(post_bytes(f"s{i}") for i in range(3)))
    await asyncio.sleep(0.05)
    closing = asyncio.create_task(srv.close())  # grace 1 s: enough for the three
    answers = [await read_response(reader) for _ in range(3)]
    assert [reply_text(a[2]) for a in answers] == ["echo: s0", "echo: s1", "echo: s2"]
    assert "connection" not in answers[0][1] and answers[2][1]["connection"] == "close"
    await closing
    writer.close()

    from wxhook.server import STORE

    stuck = Router()

    @stuck.message("text")
    async def forever(msg: TextMessage) -> str:
        await asyncio.sleep(30)
        return "never"

    application = app(
        stuck, dispatch={"deadline": 4.5, "background_timeout": 60}, server={"shutdown_grace": 0.5}
    )
    srv = await serve_app(application)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(post_bytes("stuck"))
    await asyncio.sleep(0.1)
    await asyncio.wait_for(srv._http.stop(0.2), 5)  # the grace ends long before the deadline
    await srv.runner.cleanup()  # the app's cleanup drains (and records) what was cut
    records = await application[STORE].failures()
    assert [r["handler"].rsplit(".", 1)[-1] for r in records] == ["forever"]
    writer.close()


async def test_a_client_that_half_closes_still_gets_its_answer(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(post_bytes("then EOF"))
    writer.write_eof()  # shutdown(SHUT_WR), as `nc -N` and some proxies do
    status, _, body = await read_response(reader)
    assert status == 200 and reply_text(body) == "echo: then EOF"
    # (answered before the EOF was read, it may not say "close"; the close follows all the same)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
