"""The hot path's pipelined RESP2 client, against real Redis servers (never a mock).

The parser is also tested alone (fed byte by byte); the timeout tests use a tiny silent server
on 127.0.0.1 besides a real Redis whose reply does not come in time (BLPOP).
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from conftest import RedisProcess, free_port, self_signed_cert

from wxhook.config import StoreConfig
from wxhook.stores import Existing
from wxhook.stores.redis import RedisStore, resp_options
from wxhook.stores.resp import (
    INCOMPLETE,
    AuthenticationError,
    NoScriptError,
    Options,
    ProtocolError,
    RespClient,
    RespConnectionError,
    RespError,
    RespTimeoutError,
    Script,
    _Connection,
    pack,
    parse,
    set_command,
)


def key() -> str:
    return "test|resp|" + uuid.uuid4().hex


def client_for(url: str, **kwargs) -> RespClient:
    """The client RedisStore would build for this URL (options parsed by redis-py)."""
    return RespClient(resp_options(aioredis.Redis.from_url(url, **kwargs)))


@pytest.fixture
async def client(redis_url):
    c = client_for(redis_url, socket_timeout=2, socket_connect_timeout=2)
    yield c
    await c.aclose()


@pytest.fixture
async def redispy(redis_url):
    c = aioredis.Redis.from_url(redis_url, socket_timeout=2)
    yield c
    await c.aclose()


# The parser alone ---------------------------------------------------------------------------

REPLIES = [
    (b"+OK\r\n", b"OK"),
    (b"+\r\n", b""),
    (b":0\r\n", 0),
    (b":-42\r\n", -42),
    (b":9223372036854775807\r\n", 2**63 - 1),
    (b"$5\r\nhello\r\n", b"hello"),
    (b"$0\r\n\r\n", b""),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),  # a bulk string may hold CRLF
    (b"$-1\r\n", None),
    (b"*0\r\n", []),
    (b"*-1\r\n", None),
    (b"*3\r\n:1\r\n$1\r\nx\r\n$-1\r\n", [1, b"x", None]),
    (b"*2\r\n*2\r\n:1\r\n*1\r\n+deep\r\n*0\r\n", [[1, [b"deep"]], []]),
]


@pytest.mark.parametrize(("wire", "value"), REPLIES)
def test_parse_every_reply_type(wire, value):
    assert parse(wire, 0) == (value, len(wire))
    assert parse(bytearray(b"xx" + wire), 2) == (value, len(wire) + 2)


def test_parse_error_replies_are_values():
    value, end = parse(b"-WRONGTYPE Operation against a key\r\n")
    assert isinstance(value, RespError) and not isinstance(value, NoScriptError)
    assert value.code == "WRONGTYPE" and str(value) == "WRONGTYPE Operation against a key"
    assert end == 36
    noscript, _ = parse(b"-NOSCRIPT No matching script.\r\n")
    assert isinstance(noscript, NoScriptError)
    nested, _ = parse(b"*2\r\n:1\r\n-ERR inner\r\n")
    assert nested[0] == 1 and isinstance(nested[1], RespError) and str(nested[1]) == "ERR inner"


def test_parser_fed_byte_by_byte():
    stream = b"".join(wire for wire, _ in REPLIES) + b"-ERR x\r\n"
    buf = bytearray()
    values = []
    for byte in stream:
        buf.append(byte)
        value, end = parse(buf, 0)
        if value is INCOMPLETE:
            assert end == 0
            continue
        values.append(value)
        del buf[:end]
    assert not buf
    assert values[:-1] == [value for _, value in REPLIES]
    assert isinstance(values[-1], RespError)


@pytest.mark.parametrize("wire", [b"?what\r\n", b"$x\r\n", b":1.5\r\n", b"*two\r\n"])
def test_parse_refuses_what_is_not_resp(wire):
    with pytest.raises(ProtocolError):
        parse(wire)


async def test_connection_resolves_futures_in_order_from_any_fragments():
    loop = asyncio.get_running_loop()
    conn = _Connection(RespClient(Options()), loop)
    futures = [loop.create_future() for _ in REPLIES]
    conn.waiting.extend((f, b"", False) for f in futures)
    error = loop.create_future()
    conn.waiting.append((error, b"", False))
    for byte in b"".join(wire for wire, _ in REPLIES) + b"-ERR mine only\r\n":
        conn.data_received(bytes([byte]))
    assert [f.result() for f in futures] == [value for _, value in REPLIES]
    with pytest.raises(RespError, match="mine only"):
        error.result()
    assert not conn.waiting


def test_pack():
    assert pack(["SET", b"k", 60, "é"]) == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n60\r\n$2\r\n\xc3\xa9\r\n"
    )
    assert pack([b"GET", ""]) == b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n"


def test_the_module_does_not_import_redis():
    code = "import sys, wxhook.stores.resp; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# Against the test Redis -------------------------------------------------------------------


async def test_concurrent_commands_go_out_as_one_write(client, redispy):
    await client.execute("PING")  # connected
    writes = client.writes
    keys = [key() for _ in range(50)]
    first = await asyncio.gather(
        *(client.execute("SET", k, b"P" + k.encode(), "NX", "GET", "EX", 60) for k in keys)
    )
    assert client.writes == writes + 1
    again = await asyncio.gather(
        *(client.execute("SET", k, b"Q", "NX", "GET", "EX", 60) for k in keys)
    )
    assert client.writes == writes + 2
    assert first == [None] * 50  # claimed: nothing was there
    assert again == [b"P" + k.encode() for k in keys]  # each caller its own value
    assert await redispy.get(keys[7]) == b"P" + keys[7].encode()
    assert await redispy.ttl(keys[0]) > 50


async def test_every_reply_type_from_redis(client):
    k, lst = key(), key()
    assert await client.execute("PING") == b"PONG"
    assert await client.execute("SET", k, b"v\r\n\x00", "EX", 60) == b"OK"
    assert await client.execute("GET", k) == b"v\r\n\x00"
    assert await client.execute("GET", key()) is None
    assert await client.execute("APPEND", k, "") == 4
    assert await client.execute("RPUSH", lst, "a", "b") == 2
    assert await client.execute("LRANGE", lst, 0, -1) == [b"a", b"b"]
    assert await client.execute("LRANGE", key(), 0, -1) == []
    assert await client.execute("BLPOP", key(), "0.01") is None  # nil array (*-1)
    nested = "return {1, {2, 'x', {}}, 'y', redis.error_reply('inner')}"
    reply = await client.execute("EVAL", nested, 0)
    assert reply[:3] == [1, [2, b"x", []], b"y"]
    assert isinstance(reply[3], RespError) and str(reply[3]).endswith("inner")
    await client.execute("DEL", k, lst)


async def test_an_error_fails_its_own_command_only(client):
    k = key()
    await client.execute("RPUSH", k, "a list")
    ok, wrong, absent, arity = await asyncio.gather(
        client.execute("SET", key(), b"v", "EX", 60),
        client.execute("INCR", k),
        client.execute("GET", key()),
        client.execute("GET"),
        return_exceptions=True,
    )
    assert ok == b"OK" and absent is None
    assert isinstance(wrong, RespError) and wrong.code == "WRONGTYPE"
    assert isinstance(arity, RespError) and "wrong number of arguments" in str(arity)
    assert await client.execute("PING") == b"PONG"  # the connection is fine
    await client.execute("DEL", k)


async def test_noscript_loads_the_script_and_retries(client, redispy):
    script = Script(f"return {{KEYS[1], ARGV[1], '{uuid.uuid4().hex}'}}")  # new to this Redis
    assert await redispy.script_exists(script.sha) == [False]
    with pytest.raises(NoScriptError):
        await client.execute("EVALSHA", script.sha, 1, "k", "a")
    k = key()
    replies = await asyncio.gather(*(client.eval_script(script, [k], [i]) for i in range(5)))
    assert [r[:2] for r in replies] == [[k.encode(), str(i).encode()] for i in range(5)]
    assert await redispy.script_exists(script.sha) == [True]
    assert await client.eval_script(script, [k], ["x"]) == [k.encode(), b"x", replies[0][2]]


async def test_send_needs_no_task_once_connected(client, redispy):
    await client.execute("PING")
    k = key()
    tasks = len(asyncio.all_tasks())
    future = client.send("SET", k, b"R", "EX", 60)
    assert len(asyncio.all_tasks()) == tasks
    assert await future == b"OK"
    assert await redispy.get(k) == b"R"


async def test_one_timer_for_many_commands(client, monkeypatch):
    await client.execute("PING")
    loop = asyncio.get_running_loop()
    timers = 0
    call_at = loop.call_at

    def counting(*args, **kwargs):
        nonlocal timers
        timers += 1
        return call_at(*args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting)
    for _ in range(5):
        await asyncio.gather(*(client.send("SET", key(), 1, "EX", 10) for _ in range(100)))
    assert timers <= 1  # the socket_timeout check: one timer, kept while commands flow


async def test_a_cancelled_caller_does_not_break_the_others(client):
    k1, k2 = key(), key()
    t1 = asyncio.ensure_future(client.execute("SET", k1, 1, "EX", 60))
    t2 = asyncio.ensure_future(client.execute("SET", k2, 2, "EX", 60))
    await asyncio.sleep(0)
    t1.cancel()
    assert await t2 == b"OK"
    with pytest.raises(asyncio.CancelledError):
        await t1
    assert await client.execute("MGET", k1, k2) == [None, b"2"]  # t1 never went out


async def test_store_claims_through_the_client(redis_url):
    store = RedisStore.from_config(StoreConfig(url=redis_url))
    k = key()
    assert await store.claim(k, 60) is None
    assert await store.claim(k, 60) == Existing(done=False)
    failed: list = []
    store.complete_soon(k, b"<xml/>", 60, failed.append)
    assert await store.claim(k, 60) == Existing(done=True, reply=b"<xml/>")
    assert store._resp.writes >= 3 and not failed
    await store.close()


# Connection options -----------------------------------------------------------------------


async def test_options_come_from_the_redis_py_client():
    opts = resp_options(
        aioredis.Redis.from_url(
            "redis://user:pw@10.1.2.3:6380/4?client_name=me",
            socket_timeout=0.5,
            socket_connect_timeout=0.25,
        )
    )
    assert (opts.host, opts.port, opts.path, opts.ssl) == ("10.1.2.3", 6380, None, None)
    assert (opts.username, opts.password, opts.db, opts.client_name) == ("user", "pw", 4, "me")
    assert (opts.socket_timeout, opts.connect_timeout) == (0.5, 0.25)
    kwarg = resp_options(aioredis.Redis.from_url("unix:///run/r.sock?db=2", password="s"))
    assert (kwarg.path, kwarg.db, kwarg.password, kwarg.username) == ("/run/r.sock", 2, "s", None)
    tls = resp_options(aioredis.Redis.from_url("rediss://h:1/0?ssl_cert_reqs=none")).ssl
    assert callable(tls) and tls().verify_mode == ssl.CERT_NONE
    strict = resp_options(aioredis.Redis.from_url("rediss://h:1/0")).ssl
    assert callable(strict) and strict().verify_mode == ssl.CERT_REQUIRED
    assert strict().check_hostname
    # A CA file that is not there fails the connections (the store fails open), not the start.
    missing = client_for("rediss://127.0.0.1:1/0?ssl_ca_certs=/nonexistent/ca.pem")
    with pytest.raises(RespConnectionError, match="No such file"):
        await missing.execute("PING")


async def test_password_right_and_wrong():
    server = RedisProcess(free_port(), password="s3cret")
    server.start()
    try:
        good = client_for(server.url, password="s3cret", socket_connect_timeout=2)
        assert await good.execute("PING") == b"PONG"
        await good.aclose()
        in_url = client_for(server.url.replace("://", "://:s3cret@"))
        assert await in_url.execute("PING") == b"PONG"
        await in_url.aclose()
        wrong = client_for(server.url, password="nope", socket_connect_timeout=2)
        results = await asyncio.gather(
            wrong.execute("PING"), wrong.execute("GET", "x"), return_exceptions=True
        )
        assert all(isinstance(r, AuthenticationError) for r in results), results
        assert isinstance(results[0], ConnectionError)  # what the store counts as unavailable
        await wrong.aclose()
        none = client_for(server.url)
        with pytest.raises(RespError, match="NOAUTH"):
            await none.execute("PING")
        await none.aclose()
    finally:
        server.stop()


async def test_db_selection(own_redis):
    url = own_redis.url.rsplit("/", 1)[0] + "/3"
    c = client_for(url)
    k = key()
    assert await c.execute("SET", k, b"in db 3") == b"OK"
    db3 = aioredis.Redis.from_url(url)
    db0 = aioredis.Redis.from_url(own_redis.url)
    assert await db3.get(k) == b"in db 3"
    assert await db0.get(k) is None
    await asyncio.gather(c.aclose(), db3.aclose(), db0.aclose())


async def test_tls_with_ca_certs_and_password(tmp_path):
    server = RedisProcess(free_port(), password="pw", tls_dir=self_signed_cert(tmp_path))
    server.start()
    try:
        assert server.url.startswith("rediss://") and "ssl_ca_certs=" in server.url
        c = client_for(server.url, password="pw")
        assert await c.execute("PING") == b"PONG"
        assert c._conn is not None and c._conn.transport is not None
        assert c._conn.transport.get_extra_info("ssl_object") is not None
        await c.aclose()
        store = RedisStore.from_config(StoreConfig(url=server.url, password="pw"))
        k = key()
        assert await store.claim(k, 60) is None
        assert await store.claim(k, 60) == Existing(done=False)
        await store.close()
        untrusted = client_for(server.url.split("?")[0], password="pw")  # no CA: refused
        with pytest.raises(RespConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await untrusted.execute("PING")
        await untrusted.aclose()
    finally:
        server.stop()


async def test_unix_socket():
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        path = Path(directory) / "r.sock"
        server = RedisProcess(free_port(), unix_socket=path)
        server.start()
        try:
            c = client_for(f"unix://{path}?db=2")
            k = key()
            assert await c.execute("SET", k, b"over unix") == b"OK"
            tcp = aioredis.Redis.from_url(server.url.rsplit("/", 1)[0] + "/2")
            assert await tcp.get(k) == b"over unix"
            store = RedisStore.from_config(StoreConfig(url=f"unix://{path}?db=2"))
            assert await store.claim(k, 60) is None
            assert await store.claim(k, 60) == Existing(done=False)
            await store.ping()  # redis-py, same socket
            await asyncio.gather(c.aclose(), tcp.aclose(), store.close())
        finally:
            server.stop()


# Failures -----------------------------------------------------------------------------------


async def test_redis_killed_and_restarted(own_redis):
    c = client_for(own_redis.url, socket_timeout=5, socket_connect_timeout=1)
    assert await c.execute("PING") == b"PONG"
    in_flight = c.send("BLPOP", key(), 5)  # outstanding when Redis dies
    await asyncio.sleep(0.1)
    own_redis.kill()
    # Retried once on a fresh connection, which is refused: a connection error.
    with pytest.raises(RespConnectionError):
        await in_flight
    results = await asyncio.gather(
        *(c.execute("GET", key()) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RespConnectionError) for r in results), results
    own_redis.start()  # same port
    assert await c.execute("PING") == b"PONG"  # reconnects by itself
    await c.aclose()


async def test_a_command_whose_connection_dies_is_retried_once(own_redis):
    name = "resp-" + uuid.uuid4().hex
    c = client_for(own_redis.url + "?client_name=" + name, socket_timeout=5)
    admin = aioredis.Redis.from_url(own_redis.url)

    killed: set[str] = set()

    async def kill_ours() -> None:
        """Kill the client's connection, once it has a new one (it reconnects by itself)."""
        for _ in range(100):
            ids = [row["id"] for row in await admin.client_list() if row["name"] == name]
            if ids and ids[0] not in killed:
                break
            await asyncio.sleep(0.05)
        [ours] = ids
        killed.add(ours)
        assert await admin.client_kill_filter(_id=ours) == 1

    lst = key()
    assert await c.execute("PING") == b"PONG"
    waiting = c.send("BLPOP", lst, 5)  # blocks: outstanding on its connection
    await asyncio.sleep(0.1)
    await kill_ours()
    await asyncio.sleep(0.1)  # the BLPOP goes out again, on a new connection
    await admin.rpush(lst, "v")
    assert await waiting == [lst.encode(), b"v"]

    again = c.send("BLPOP", lst, 5)
    await asyncio.sleep(0.1)
    await kill_ours()
    await kill_ours()  # its second connection dies too: no third try
    assert len(killed) == 3
    with pytest.raises(RespConnectionError):
        await again
    assert await c.execute("PING") == b"PONG"
    await asyncio.gather(c.aclose(), admin.aclose())


async def test_a_reply_that_does_not_come_in_time(redis_url):
    c = client_for(redis_url, socket_timeout=0.3)
    assert await c.execute("PING") == b"PONG"
    first = c._conn
    started = time.monotonic()
    slow = c.send("BLPOP", key(), 3)
    fast = c.send("PING")  # answered behind the BLPOP, so it times out with it
    results = await asyncio.gather(slow, fast, return_exceptions=True)
    assert all(isinstance(r, RespTimeoutError) for r in results), results
    assert isinstance(results[0], TimeoutError)  # what the store counts as unavailable
    assert 0.25 < time.monotonic() - started < 1.5
    assert await c.execute("PING") == b"PONG"
    assert c._conn is not first  # a fresh connection
    await c.aclose()


async def test_replies_that_keep_coming_do_not_time_out(redis_url):
    c = client_for(redis_url, socket_timeout=0.2)
    started = time.monotonic()
    while time.monotonic() - started < 0.6:  # longer than socket_timeout, each reply quick
        assert await c.execute("PING") == b"PONG"
        await asyncio.sleep(0.01)
    await c.aclose()


@pytest.fixture
async def silent_server():
    """Accepts connections on 127.0.0.1, reads, never answers."""
    connections: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while await reader.read(4096):
            pass

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    server.connections = connections  # type: ignore[attr-defined]
    yield server
    for writer in connections:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_server_that_never_answers(silent_server):
    port = silent_server.sockets[0].getsockname()[1]
    c = RespClient(Options(port=port, socket_timeout=0.2, connect_timeout=0.2))
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(RespTimeoutError):
            await c.execute("PING")
        assert time.monotonic() - started < 1
    assert len(silent_server.connections) == 2  # one per try: the timed-out one is dropped
    await c.aclose()
    # AUTH that is never answered: connect_timeout, not retried.
    auth = RespClient(Options(port=port, password="x", connect_timeout=0.2, socket_timeout=5))
    with pytest.raises(RespTimeoutError, match="no connection"):
        await auth.execute("PING")
    assert len(silent_server.connections) == 3
    await auth.aclose()


async def test_close_waits_briefly_for_commands_in_flight(client):
    k = key()
    quick = client.send("SET", k, b"x", "EX", 60)
    stuck = client.send("BLPOP", key(), 5)
    started = time.monotonic()
    await client.aclose(grace=0.2)
    assert time.monotonic() - started < 1
    assert await quick == b"OK"
    with pytest.raises(RespConnectionError, match="closed"):
        await stuck
    assert client._conn is None
    assert await client.execute("GET", k) == b"x"  # a later command reconnects


async def test_store_fails_open_when_redis_is_down(own_redis):
    from wxhook.stores import StoreUnavailable

    store = RedisStore.from_config(StoreConfig(url=own_redis.url))
    assert await store.claim(key(), 60) is None
    own_redis.stop()
    with pytest.raises(StoreUnavailable):
        await store.claim(key(), 60)
    failed: list = []
    store.complete_soon(key(), b"", 60, failed.append)
    await asyncio.sleep(0.2)
    assert len(failed) == 1 and isinstance(failed[0], StoreUnavailable)
    own_redis.start()
    assert await store.claim(key(), 60) is None
    await store.close()


# Commands nobody awaits (the stored reply of every push) ------------------------------------


async def test_quiet_commands_land_and_report_only_their_errors(client, redispy):
    errors: list[BaseException] = []
    k, s = key(), key()
    await redispy.set(s, b"text")
    for i in range(50):
        client.send_quiet(errors.append, pack(["RPUSH", k, i]))
    client.send_quiet(errors.append, pack(["INCR", s]))  # not a number: an error reply
    client.send_quiet(errors.append, pack(["RPUSH", k, 50]))  # its neighbour is not affected
    assert await client.execute("PING") == b"PONG"  # after the quiet ones, on the same line
    assert await redispy.llen(k) == 51
    assert len(errors) == 1 and isinstance(errors[0], RespError)


async def test_close_waits_for_quiet_commands_and_a_lost_connection_reports_them(redis_url):
    c = client_for(redis_url, socket_timeout=2)
    k = key()
    errors: list[BaseException] = []
    c.send_quiet(errors.append, set_command(k.encode(), b"stored", 60))
    await c.aclose()  # waits for the reply nobody awaited
    check = aioredis.Redis.from_url(redis_url)
    assert await check.get(k) == b"stored" and errors == []
    await check.aclose()

    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    c = RespClient(Options(host="127.0.0.1", port=port, socket_timeout=0.2, connect_timeout=1))
    c.send_quiet(errors.append, pack(["SET", k, b"never"]))
    for _ in range(100):
        if errors:
            break
        await asyncio.sleep(0.02)
    assert len(errors) == 1 and isinstance(errors[0], RespTimeoutError)
    await c.aclose()
    silent.close()


@pytest.mark.parametrize("ttl", [1, 60, 86400, 123456789])
@pytest.mark.parametrize("nx_get", [True, False])
def test_the_packed_set_of_every_push_is_what_pack_makes(ttl, nx_get):
    key, value = "wxhook:dedup:e:ab\u00e9".encode(), b"R<xml>\r\n$3\r\n</xml>"
    words = ["SET", key, value, *(["NX", "GET"] if nx_get else []), "EX", ttl]
    assert set_command(key, value, ttl, nx_get=nx_get) == pack(words)
