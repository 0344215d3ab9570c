"""A real `wxhook serve` against hostile HTTP and floods of bad requests, over raw sockets.

What an attacker can send must be refused or timed out by aiohttp, must not slow down a genuine
push on another connection, must be counted in full, and must not flood the log: no traceback,
no ERROR line, at most a few lines a second per kind, and a summary of what was held back.
"""

from __future__ import annotations

import http.client
import re
import signal
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import free_port, start_serve
from prometheus_client.parser import text_string_to_metric_families

from wxhook.core import AccountKeys
from wxhook.simulator import message, open_reply, push

TOKEN = "hostile-token"
KEYS = AccountKeys.create(token=TOKEN)
PLUGIN = """
from wxhook import Router

router = Router()

@router.message("text")
async def echo(message):
    return "echo: " + message.content
"""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    ops: int
    log: Path

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.ops, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def count(self, name: str, **labels: str) -> float:
        return sum(
            value
            for (sample, have), value in self.metrics().items()
            if sample == name and all(dict(have).get(k) == v for k, v in labels.items())
        )


def start(tmp: Path) -> Server:
    port = free_port()
    (tmp / "hostileplugin.py").write_text(PLUGIN)
    (tmp / "config.toml").write_text(
        textwrap.dedent(
            f"""
            [server]
            host = "127.0.0.1"
            port = {port}
            read_timeout = 2.0
            [plugins]
            modules = ["hostileplugin"]
            [[accounts]]
            name = "main"
            path = "/wechat"
            token = "{TOKEN}"
            """
        )
    )
    proc = start_serve(tmp, port)
    return Server(proc, port, proc.ops_port, tmp / "server.log")  # type: ignore[attr-defined]


def stop(server: Server) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        raise


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start(tmp_path_factory.mktemp("hostile"))
    yield running
    if running.proc.poll() is None:
        stop(running)


def genuine_push(port: int, text: str) -> str:
    """A signed push on a connection of its own; its reply's text."""
    query, body = push(
        KEYS, message("text", user="oGENUINE", Content=text, MsgId=str(time.time_ns()))
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", f"/wechat?{urlencode(query)}", body=body)
        resp = conn.getresponse()
        assert resp.status == 200
        return str(open_reply(KEYS, resp.read())["Content"])
    finally:
        conn.close()


def read_all(sock: socket.socket, wait: float) -> bytes:
    return read_until_closed(sock, wait)[0]


def read_until_closed(sock: socket.socket, wait: float) -> tuple[bytes, bool]:
    """What the server sent, and whether it closed the connection within `wait` seconds."""
    sock.settimeout(wait)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except TimeoutError:
        return out, False
    except ConnectionResetError:
        pass
    return out, True


SIGNED = urlencode({"signature": "0" * 40, "timestamp": "1", "nonce": "1"})


def unfinished_trailer(sock: socket.socket) -> None:
    # A chunked body whose trailer never ends: 12 MB without a line end.
    sock.sendall(f"POST /wechat?{SIGNED} HTTP/1.1\r\nHost: x\r\n".encode())
    sock.sendall(b"Transfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: ")
    try:
        for _ in range(12 * 16):
            sock.sendall(b"a" * 65536)
    except OSError:
        pass  # refused before the 12 MB were in: the server hung up


def crlf_drip(sock: socket.socket) -> None:
    for _ in range(10):  # an empty line now and then, never a request
        sock.sendall(b"\r\n")
        time.sleep(0.2)


def slow_headers(sock: socket.socket) -> None:
    for byte in b"POST /wechat HTTP/1.1\r\nHost: x\r\nX-Slow: ":
        sock.sendall(bytes([byte]))
        time.sleep(0.05)


CASES = {
    "unfinished chunked trailer": (unfinished_trailer, (400, 408, None)),  # 8 KB, or too slow
    "CRLF drip": (crlf_drip, None),
    "slow headers": (slow_headers, None),
    "HTTP/1.0 with Expect": (
        lambda s: s.sendall(
            f"POST /wechat?{SIGNED} HTTP/1.0\r\nExpect: 100-continue\r\n"
            "Content-Length: 20\r\n\r\n".encode()
        ),
        None,
    ),
    "missing Host": (lambda s: s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n"), (400,)),
    "Content-Length with Transfer-Encoding": (
        lambda s: s.sendall(
            f"POST /wechat?{SIGNED} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        ),
        (400,),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_hostile_http_is_refused_and_a_genuine_push_still_answers(server: Server, case: str):
    attack, expected = CASES[case]
    before = len(server.lines())
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        attacker = threading.Thread(target=attack, args=(sock,))
        attacker.start()
        time.sleep(0.1)  # the attack is under way on its connection
        assert genuine_push(server.port, case) == f"echo: {case}"
        attacker.join(30)
        answer, closed = read_until_closed(sock, 5.0)  # server.read_timeout is 2 s
    if expected is not None and answer:
        assert int(answer.split(b"\r\n")[0].split(b" ")[1]) in expected, answer[:200]
    elif expected is not None:
        # A server that refuses while the client is still sending may reset the connection,
        # and TCP then drops the answer it had sent: refused all the same.
        assert None in expected and closed, "neither answered nor closed"
    # Never "100 Continue" to an HTTP/1.0 client, never a smuggled second request answered.
    assert b"100 Continue" not in answer and answer.count(b"HTTP/1.") <= 1, answer[:400]
    new = server.lines()[before:]
    assert not [line for line in new if "Traceback" in line or " ERROR " in line], new


def test_a_client_gone_mid_body_is_one_info_line_and_counted(server: Server):
    before = len(server.lines())
    aborted = server.count("wxhook_requests_total", outcome="aborted")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            f"POST /wechat?{SIGNED} HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n<xml>".encode()
        )
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while server.count("wxhook_requests_total", outcome="aborted") == aborted:
        assert time.monotonic() < deadline, "the aborted request was not counted"
        time.sleep(0.05)
    time.sleep(0.3)  # the log is written in batches
    new = server.lines()[before:]
    assert [line for line in new if "aborted before its body was read" in line and " INFO " in line]
    assert not [line for line in new if "Traceback" in line or " ERROR " in line], new


def test_metrics_and_readiness_live_on_the_ops_port_only(server: Server):
    def get(port: int, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return status

    assert [get(server.port, p) for p in ("/metrics", "/readyz", "/healthz")] == [404, 404, 200]
    assert [get(server.ops, p) for p in ("/metrics", "/readyz", "/healthz")] == [200, 200, 200]


def test_a_flood_of_bad_requests_is_counted_whole_and_logged_in_a_few_lines(tmp_path: Path):
    server = start(tmp_path)  # a server of its own: its log holds only this flood
    bad_signatures, malformed, broken_http = 1000, 500, 500
    signed_xml = push(KEYS, b"<xml><MsgType>text</MsgType>")  # signed, but not a document

    def posts(count: int, query: str, body: bytes) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for _ in range(count):
            conn.request("POST", f"/wechat?{query}", body=body)
            conn.getresponse().read()
        conn.close()

    def garbage(count: int) -> None:
        for i in range(count):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                if i % 2:
                    sock.sendall(b"\x16\x03\x01\x02\x00 not HTTP at all\r\n\r\n")
                else:
                    sock.sendall(
                        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    )
                read_all(sock, 5.0)

    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        jobs = [pool.submit(posts, bad_signatures // 2, SIGNED, b"<xml/>") for _ in range(2)]
        jobs += [
            pool.submit(posts, malformed // 2, urlencode(signed_xml[0]), signed_xml[1])
            for _ in range(2)
        ]
        jobs += [pool.submit(garbage, broken_http // 2) for _ in range(2)]
        for job in jobs:
            job.result()
    elapsed = time.monotonic() - started

    # The metrics count every one.
    assert server.count("wxhook_requests_total", reason="signature") == bad_signatures
    assert server.count("wxhook_requests_total", reason="malformed") == malformed
    assert server.count("wxhook_http_errors_total") == broken_http
    assert genuine_push(server.port, "still here") == "echo: still here"
    stop(server)  # the shutdown writes the last summaries

    lines = server.lines()
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line]
    refusals = [line for line in lines if "rejected" in line or "malformed HTTP" in line]
    kinds = 4  # rejected:signature, rejected:malformed, two kinds of broken HTTP
    # Five at once per kind, then two a second, over the flood and the summaries' interval.
    assert len(refusals) <= kinds * (5 + 2 * (elapsed + 1)), (len(refusals), elapsed)
    assert len(refusals) < (bad_signatures + malformed + broken_http) / 10
    # What was held back is said in summaries: logged plus suppressed is every request.
    held: dict[str, int] = {}
    for line in lines:
        if found := re.search(r"suppressed (\d+) log lines of kind (\S+)", line):
            held[found[2]] = held.get(found[2], 0) + int(found[1])
    logged_signature = sum(1 for line in lines if "reason=signature" in line)
    assert logged_signature + held["rejected:signature"] == bad_signatures
    logged_malformed = sum(1 for line in lines if "reason=malformed" in line)
    assert logged_malformed + held["rejected:malformed"] == malformed
