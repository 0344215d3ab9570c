"""Redis beyond one node: real `wxhook serve` processes on a Redis Cluster and on Sentinel.

Each test starts its own redis-server processes on 127.0.0.1 (tests/topologies.py), kills a
primary by its pid under a bounded load, and stops everything it started. What is shown:
every request is answered 200, every push is handled at least once, dedup works across two
servers and again by itself once a replica is promoted, and failure records written (and
replicated) before the failover are still listed after it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import free_port, start_serve, wait_until_answers
from test_fault import KEYS, PLUGIN, handled
from topologies import ClusterSetup, SentinelSetup, replicated, topology_port, wait_for

from wxhook.simulator import message, push


class Server:
    """`wxhook serve` with the given [store] lines; every server of a test shares one log of
    handled pushes."""

    def __init__(self, tmp: Path, store: str, handled_log: Path) -> None:
        self.tmp = tmp
        tmp.mkdir()
        self.port = free_port()
        (tmp / "faultplugin.py").write_text(PLUGIN)
        (tmp / "config.toml").write_text(
            textwrap.dedent(
                f"""
                [server]
                host = "127.0.0.1"
                port = {self.port}
                [dispatch]
                deadline = 2.0
                [store]
                socket_timeout = 1.0
                connect_timeout = 0.5
                """
            )
            + store
            + textwrap.dedent(
                """
                [plugins]
                modules = ["faultplugin"]
                [[accounts]]
                name = "main"
                path = "/wechat"
                token = "fault-token"
                """
            )
        )
        self.proc = start_serve(tmp, self.port, {"WXHOOK_TEST_HANDLED": str(handled_log)})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def failures(self) -> Counter[str]:
        listed = subprocess.run(
            [sys.executable, "-m", "wxhook", "failures", "list", "--limit", "500",
             "--config", "config.toml"],
            cwd=self.tmp, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        return Counter(json.loads(line)["raw"]["Content"] for line in listed.stdout.splitlines())


class SpreadLoad:
    """Each push is delivered, then retried with the same query and body (WeChat's way), the
    two going to different servers when there are two."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.requests: dict[str, tuple[str, bytes]] = {}
        self.statuses: list[int] = []
        self.replies: dict[str, list[bytes]] = {}
        self.lock = threading.Lock()

    def deliver(self, content: str) -> None:
        if content not in self.requests:
            msg_id = str(abs(hash(("topology", content, time.time()))) % 10**18)
            query, body = push(KEYS, message("text", user="oTOPO", Content=content, MsgId=msg_id))
            self.requests[content] = ("/wechat?" + "&".join(f"{k}={v}" for k, v in query.items()),
                                      body)  # fmt: skip
        path, body = self.requests[content]
        first = hash(content) % len(self.ports)
        for attempt in range(2):
            port = self.ports[(first + attempt) % len(self.ports)]
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body)
            reply = b""
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    status, reply = r.status, r.read()
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = -1  # no answer at all
            with self.lock:
                self.statuses.append(status)
                self.replies.setdefault(content, []).append(reply)

    def run(self, contents: list[str], pool: ThreadPoolExecutor) -> None:
        list(pool.map(self.deliver, contents))


def dedup_is_back(load: SpreadLoad, handled_log: Path, tag: str, pool: ThreadPoolExecutor) -> None:
    """Rounds of 16 probe pushes (each with its retry), spread over the slots, until a whole
    round runs its handlers once each: every server uses the new primary (fails after 20 s)."""
    rounds = iter(range(100))

    def probe() -> bool:
        contents = [f"probe-{tag}-{next(rounds)}-{i}" for i in range(16)]
        load.run(contents, pool)
        runs = handled(handled_log.parent)
        return all(runs[c] == 1 for c in contents)

    wait_for("dedup working again after the failover", probe, timeout=20, every=0.2)


class Noise:
    """Traffic that never pauses across the failover (bounded in count and time)."""

    def __init__(self, load: SpreadLoad, limit: int = 300) -> None:
        self.load = load
        self.sent: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(limit,))

    def _run(self, limit: int) -> None:
        while not self.stop.is_set() and len(self.sent) < limit:
            self.sent.append(f"noise-{len(self.sent)}")
            self.load.deliver(self.sent[-1])
            time.sleep(0.02)

    def __enter__(self) -> Noise:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def assert_once_each(runs: Counter[str], contents: list[str], load: SpreadLoad) -> None:
    twice = {c: runs[c] for c in contents if runs[c] != 1}
    assert not twice, twice
    differ = [c for c in contents if len(set(load.replies[c])) != 1]
    assert not differ, {c: load.replies[c] for c in differ[:3]}  # every retry: the first reply


def test_cluster_two_servers_share_dedup_and_survive_a_primary_killed(tmp_path: Path):
    cluster = ClusterSetup(tmp_path)
    handled_log = tmp_path / "handled.txt"
    servers: list[Server] = []
    try:
        cluster.start()
        # The failure records' primary is the one killed; its replica has them all.
        owner = cluster.owner("wxhook:failures:stream")
        store = f'url = "{cluster.url(avoiding=owner)}"\ncluster = true\n'
        servers = [Server(tmp_path / name, store, handled_log) for name in ("a", "b")]
        load = SpreadLoad([s.port for s in servers])
        with ThreadPoolExecutor(8) as pool:
            before = [f"fail-a{i}" if i % 15 == 0 else f"a{i}" for i in range(90)]
            load.run(before, pool)
            assert_once_each(handled(tmp_path), before, load)
            wait_for(
                "failure records written",
                lambda: sum(servers[0].failures().values()) >= 6,
                timeout=10,
            )
            replicated(owner)

            with Noise(load) as noise:
                owner.kill()
                during = [f"b{i}" for i in range(60)]
                load.run(during, pool)
                wait_for(
                    "a replica promoted",
                    lambda: cluster.replaced(owner, "wxhook:failures:stream"),
                    timeout=20,
                )
                dedup_is_back(load, handled_log, "cluster", pool)
                after = [f"c{i}" for i in range(60)]
                load.run(after, pool)

        runs = handled(tmp_path)
        assert set(load.statuses) == {200}, Counter(load.statuses)
        everything = before + during + after + noise.sent
        assert all(runs[c] >= 1 for c in everything), [c for c in everything if not runs[c]]
        assert_once_each(runs, after, load)
        for server in servers:  # ready again: every primary (the promoted one too) answers
            wait_until_answers(
                server.proc,
                f"http://127.0.0.1:{server.proc.ops_port}/readyz",
                server.tmp / "server.log",
            )
        expected = {c for c in before if c.startswith("fail")}
        found = servers[1].failures()
        assert expected <= set(found), sorted(expected - set(found))
    finally:
        for server in servers:
            server.stop()
        cluster.stop()


def test_sentinel_failover_under_load_then_dedup_again_without_restart(tmp_path: Path):
    setup = SentinelSetup(tmp_path)
    handled_log = tmp_path / "handled.txt"
    server: Server | None = None
    try:
        setup.start()
        sentinels = ", ".join(f'"{a}"' for a in setup.addresses)
        store = f'url = "redis:///0"\nsentinels = [{sentinels}]\nsentinel_service = "mymaster"\n'
        server = Server(tmp_path / "server", store, handled_log)
        load = SpreadLoad([server.port])
        with ThreadPoolExecutor(8) as pool:
            before = [f"fail-a{i}" if i % 15 == 0 else f"a{i}" for i in range(60)]
            load.run(before, pool)
            assert_once_each(handled(tmp_path), before, load)
            wait_for("failure records written", lambda: sum(server.failures().values()) >= 4, 10)
            replicated(setup.primary)

            with Noise(load) as noise:
                setup.primary.kill()
                during = [f"b{i}" for i in range(40)]
                load.run(during, pool)
                wait_for(
                    "the sentinels promote the replica",
                    lambda: setup.master_port() == setup.replica.port,
                    timeout=30,
                )
                dedup_is_back(load, handled_log, "sentinel", pool)
                after = [f"c{i}" for i in range(60)]
                load.run(after, pool)

        runs = handled(tmp_path)
        assert set(load.statuses) == {200}, Counter(load.statuses)
        everything = before + during + after + noise.sent
        assert all(runs[c] >= 1 for c in everything), [c for c in everything if not runs[c]]
        assert_once_each(runs, after, load)  # the same process: no restart
        expected = {c for c in before if c.startswith("fail")}
        found = server.failures()
        assert expected <= set(found), sorted(expected - set(found))
        assert server.proc.poll() is None
    finally:
        if server is not None:
            server.stop()
        setup.stop()


def test_serve_against_unreachable_sentinels_names_the_nodes_tried(tmp_path: Path):
    ports = [topology_port(), topology_port()]  # nothing listens there
    sentinels = ", ".join(f'"127.0.0.1:{p}"' for p in ports)
    store = f'sentinels = [{sentinels}]\nsentinel_service = "mymaster"\n'
    server = Server(tmp_path / "server", store, tmp_path / "handled.txt")
    try:
        log = (tmp_path / "server" / "server.log").read_text()
        line = next((x for x in log.splitlines() if "store unreachable at start" in x), "")
        assert all(f"127.0.0.1:{p}" in line for p in ports), log
        assert "mymaster" in line
    finally:
        server.stop()


def test_serve_against_an_unreachable_cluster_names_the_node_tried(tmp_path: Path):
    port = topology_port(bus=True)
    store = f'url = "redis://127.0.0.1:{port}"\ncluster = true\n'
    server = Server(tmp_path / "server", store, tmp_path / "handled.txt")
    try:
        log = (tmp_path / "server" / "server.log").read_text()
        line = next((x for x in log.splitlines() if "store unreachable at start" in x), "")
        assert f"127.0.0.1:{port}" in line, log
    finally:
        server.stop()
