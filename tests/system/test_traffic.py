"""WeChat's traffic against two real `wxhook serve` processes sharing one real Redis.

Many users send in bursts; some distinct pushes share a (timestamp, nonce) on purpose (in plain
mode: one signed URL for several bodies); about half are retried about 5, 10 and 15 s after the
original, as WeChat does, to either process, some with the same query and body, some signed
afresh (which WeChat sends is not documented). The schedule is WeChat's own: the retries wait
the real 5/10/15 s, concurrently, so the test takes about 20 s.

Every distinct push is handled exactly once, none is refused, and every retry is answered with
the first delivery's reply (byte for byte, after decryption in safe mode).
"""

from __future__ import annotations

import asyncio
import os
import random
import textwrap
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from conftest import RedisProcess, free_port, start_serve

from wxhook.core import AccountKeys
from wxhook.simulator import event, message, push, reply_plaintext

PLAIN = AccountKeys.create(token="traffic-plain")
SAFE = AccountKeys.create(
    token="traffic-safe",
    app_id="wxtraffic00000001",
    encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    mode="safe",
)
PATHS = {"plain": "/plain", "safe": "/safe"}
KEYS = {"plain": PLAIN, "safe": SAFE}

PLUGIN = textwrap.dedent(
    """
    import asyncio
    import os
    import random
    import uuid

    import wxhook

    router = wxhook.Router()
    LOG = os.environ["WXHOOK_TEST_HANDLED"]


    async def run(tag):
        # One short line per run, appended: lines from both processes never interleave.
        fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, (tag + "\\n").encode())
        finally:
            os.close(fd)
        await asyncio.sleep(random.random() * 0.05)
        return tag + " " + uuid.uuid4().hex  # a second run would answer differently


    @router.message("text")
    async def text(message):
        return await run(message.content)


    @router.event("click")
    async def click(event):
        return await run(event.key)


    @router.event("subscribe")
    async def subscribe(event):
        return await run("sub-" + event.source)
    """
)

CONFIG = """
[server]
host = "127.0.0.1"
port = {port}
[store]
url = "{redis}"
# Roomy: on a busy 2-core machine a short reply timeout is sometimes missed, and a missed claim
# fails open (a retry could then run twice), which is not what this test is about.
socket_timeout = 2.0
connect_timeout = 1.0
[plugins]
modules = ["trafficplugin"]
[[accounts]]
name = "plain"
path = "/plain"
token = "traffic-plain"
[[accounts]]
name = "safe"
path = "/safe"
token = "traffic-safe"
app_id = "wxtraffic00000001"
encoding_aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
mode = "safe"
"""

USERS = [f"o{uuid.uuid4().hex[:20]}" for _ in range(150)]
BURSTS, BURST_SIZE, BURST_GAP = 8, 50, 0.4
RETRY_AFTER = (5.0, 10.0, 15.0)  # WeChat retries about 5, 10 and 15 s after the original


@dataclass
class Push:
    """One distinct push and every delivery of it."""

    tag: str
    mode: str
    document: bytes
    query: dict[str, str]
    body: bytes
    retries: list[bool]  # per retry: True to re-sign it (fresh timestamp and nonce)
    answers: list[tuple[int, bytes]] = field(default_factory=list)


def documents(rng: random.Random) -> list[tuple[str, bytes]]:
    """(tag, document) for the distinct pushes of one burst: texts, clicks, follows."""
    now = int(time.time())
    out: list[tuple[str, bytes]] = []
    while len(out) < BURST_SIZE:
        tag = "t" + uuid.uuid4().hex[:16]
        kind = rng.random()
        user = rng.choice(USERS)
        if kind < 0.6:
            doc = message("text", user=user, Content=tag, MsgId=str(rng.getrandbits(62)))
            out.append((tag, doc))
        elif kind < 0.85:
            # Two menu clicks by one user in one second: distinct pushes, not a retry.
            for _ in range(2):
                tag = "c" + uuid.uuid4().hex[:16]
                doc = event("CLICK", user=user, EventKey=tag, CreateTime=str(now))
                out.append((tag, doc))
        else:
            follower = f"o{uuid.uuid4().hex[:20]}"  # a new user follows the account
            out.append((f"sub-{follower}", event("subscribe", user=follower, EventKey="")))
    return out[:BURST_SIZE]


def plan(rng: random.Random) -> list[Push]:
    """Every burst's pushes, signed; groups of 2 to 4 share one (timestamp, nonce)."""
    pushes: list[Push] = []
    for _ in range(BURSTS):
        docs = documents(rng)
        i = 0
        while i < len(docs):
            mode = "plain" if rng.random() < 0.7 else "safe"
            group = docs[i : i + (rng.randint(2, 4) if rng.random() < 0.3 else 1)]
            i += len(group)
            stamp = {"timestamp": str(int(time.time())), "nonce": str(rng.getrandbits(31))}
            for tag, doc in group:
                query, body = push(KEYS[mode], doc, **stamp)
                retries = [rng.random() < 0.5 for _ in range(rng.choice((0, 0, 1, 2, 3)))]
                pushes.append(Push(tag, mode, doc, query, body, retries))
    return pushes


async def deliver(
    session: aiohttp.ClientSession, ports: list[int], p: Push, query: dict[str, str], body: bytes
) -> None:
    port = random.choice(ports)  # WeChat reaches either replica
    url = f"http://127.0.0.1:{port}{PATHS[p.mode]}"
    async with session.post(url, params=query, data=body) as resp:
        p.answers.append((resp.status, await resp.read()))


async def send(
    session: aiohttp.ClientSession, ports: list[int], p: Push, started: float, at: float
) -> None:
    await asyncio.sleep(max(0.0, started + at - time.monotonic()))
    sent = time.monotonic()
    await deliver(session, ports, p, p.query, p.body)
    for after, fresh in zip(RETRY_AFTER, p.retries, strict=False):
        await asyncio.sleep(max(0.0, sent + after - time.monotonic()))
        if fresh:
            query, body = push(
                KEYS[p.mode],
                p.document,
                timestamp=str(int(time.time())),
                nonce=str(random.getrandbits(31)),
            )
        else:
            query, body = p.query, p.body  # the very same request
        await deliver(session, ports, p, query, body)


def metric_sum(texts: list[str], name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for text in texts
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


async def test_wechat_traffic_on_two_processes_and_one_redis(tmp_path: Path):
    redis = RedisProcess(free_port())
    redis.start()
    handled = tmp_path / "handled.txt"
    servers, ports = [], []
    try:
        for name in ("a", "b"):
            cwd = tmp_path / name
            cwd.mkdir()
            port = free_port()
            (cwd / "trafficplugin.py").write_text(PLUGIN)
            (cwd / "config.toml").write_text(CONFIG.format(port=port, redis=redis.url))
            servers.append(start_serve(cwd, port, {"WXHOOK_TEST_HANDLED": str(handled)}))
            ports.append(port)

        rng = random.Random(int.from_bytes(os.urandom(4), "big"))
        pushes = plan(rng)
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(
                *(
                    send(session, ports, p, started, (i // BURST_SIZE) * BURST_GAP)
                    for i, p in enumerate(pushes)
                )
            )
            metrics = [
                await (await session.get(f"http://127.0.0.1:{proc.ops_port}/metrics")).text()
                for proc in servers
            ]

        retried = [p for p in pushes if p.retries]
        shared_urls = Counter(
            (p.query["timestamp"], p.query["nonce"]) for p in pushes if p.mode == "plain"
        )
        assert any(n > 1 for n in shared_urls.values())  # the case this test is about
        assert retried and any(all(p.retries) for p in retried)
        assert any(not any(p.retries) for p in retried)

        # No push refused, every one answered with a reply.
        statuses = Counter(status for p in pushes for status, _ in p.answers)
        assert statuses == Counter({200: sum(1 + len(p.retries) for p in pushes)}), statuses
        # Every distinct push handled exactly once, across both processes.
        runs = Counter(handled.read_text().split("\n")[:-1])
        assert runs == Counter({p.tag: 1 for p in pushes}), {
            t: n for t, n in runs.items() if n != 1
        } or {p.tag for p in pushes} - set(runs)
        # Every retry answered with the first reply (decrypted in safe mode).
        for p in pushes:
            first, *again = (reply_plaintext(KEYS[p.mode], body) for _, body in p.answers)
            assert first.startswith(b"<xml>") and p.tag.encode() in first, (p.tag, first)
            assert all(a == first for a in again), (p.tag, first, again)

        assert metric_sum(metrics, "wxhook_url_reuse_total") >= 1
        assert metric_sum(metrics, "wxhook_fail_open_total") == 0
        for name in ("a", "b"):
            log = (tmp_path / name / "server.log").read_text()
            assert "ERROR" not in log and "Traceback" not in log, log[-3000:]
    finally:
        for proc in servers:
            proc.terminate()
        for proc in servers:
            proc.wait(timeout=30)
        redis.stop()
