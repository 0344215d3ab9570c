"""Real Redis topologies for the tests: a Sentinel setup and a Redis Cluster, on 127.0.0.1.

Every process is started here with its own pid kept, and stopped by that pid (`stop()`), on
ports picked free in 7100-7399 (a cluster node's bus port, port + 10000, free too).
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

_taken: set[int] = set()


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def topology_port(bus: bool = False) -> int:
    """A free port in 7100-7399 not handed out before in this run (and its bus port)."""
    candidates = [p for p in range(7100, 7400) if p not in _taken]
    random.shuffle(candidates)
    for port in candidates:
        if _bindable(port) and (not bus or _bindable(port + 10000)):
            _taken.add(port)
            return port
    raise RuntimeError("no free port in 7100-7399")


def _binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run scripts/test.sh (it installs it)")
    return binary


def wait_for(what: str, check, timeout: float = 20.0, every: float = 0.1):
    """Poll `check()` until it returns something true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (redis.RedisError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:g}s (last: {last!r})")


class Node:
    """One redis-server (or sentinel) process."""

    def __init__(self, port: int, args: list[str], directory: Path, name: str) -> None:
        self.port = port
        self.args = args
        self.dir = directory
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.dir / f"{self.name}.log"
        self.proc = subprocess.Popen(
            [_binary(), *self.args, "--logfile", str(log)],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(f"{self.name} on {self.port}", lambda: self.client().ping(), timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1)

    def kill(self) -> None:
        """SIGKILL by pid, as a crash: no shutdown, no last save."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None


def _server_args(port: int, directory: Path) -> list[str]:
    return ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory)]  # fmt: skip


def replicated(primary: Node, timeout_ms: int = 5000) -> None:
    """Every write the primary took so far is on a replica: a marker written, then WAIT (which
    counts the acknowledgements of this connection's writes, the marker's and all before)."""
    client = redis.Redis(port=primary.port, single_connection_client=True, socket_timeout=10)
    try:
        client.set("{wxhook:failures:stream}replicated", "1")
        assert client.execute_command("WAIT", 1, timeout_ms) >= 1, "no replica acknowledged"
    finally:
        client.close()


class SentinelSetup:
    """A primary, its replica and three sentinels (quorum 2), failing over within seconds."""

    service = "mymaster"

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        p, r = topology_port(), topology_port()
        self.primary = Node(p, _server_args(p, directory), directory, f"primary-{p}")
        replica_args = [*_server_args(r, directory), "--replicaof", "127.0.0.1", str(p)]
        self.replica = Node(r, replica_args, directory, f"replica-{r}")
        self.sentinels: list[Node] = []
        for _ in range(3):
            port = topology_port()
            conf = directory / f"sentinel-{port}.conf"  # sentinel rewrites it: its own file
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {self.service} 127.0.0.1 {p} 2\n"
                f"sentinel down-after-milliseconds {self.service} 1000\n"
                f"sentinel failover-timeout {self.service} 4000\n"
                f"sentinel parallel-syncs {self.service} 1\n"
            )
            self.sentinels.append(Node(port, [str(conf), "--sentinel"], directory, f"s-{port}"))

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{s.port}" for s in self.sentinels]

    def start(self) -> None:
        self.primary.start()
        self.replica.start()
        wait_for(
            "the replica in sync",
            lambda: self.replica.client().info("replication")["master_link_status"] == "up",
        )
        for s in self.sentinels:
            s.start()
        # Each sentinel must know the replica and the two other sentinels before a failover
        # can be agreed on (they find each other through the primary within a few seconds).
        for s in self.sentinels:
            wait_for(
                f"sentinel {s.port} sees the replica and 2 other sentinels",
                lambda s=s: (
                    (m := s.client().sentinel_master(self.service))["num-slaves"] >= 1
                    and m["num-other-sentinels"] >= 2
                ),
                timeout=30,
            )

    def master_port(self) -> int:
        _host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(self.service)
        return int(port)

    def stop(self) -> None:
        for node in [*self.sentinels, self.replica, self.primary]:
            node.stop()


class ClusterSetup:
    """Three primaries, each with a replica; a primary's failure is noticed within a second."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.nodes: list[Node] = []
        for _ in range(6):
            port = topology_port(bus=True)
            args = [
                *_server_args(port, directory),
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", "1000",
                "--cluster-replica-validity-factor", "0",
                "--cluster-require-full-coverage", "no",
            ]  # fmt: skip
            self.nodes.append(Node(port, args, directory, f"node-{port}"))

    def url(self, avoiding: Node) -> str:
        """The URL of a node other than `avoiding` (the one a test kills): the node wxhook
        discovers the cluster from, at start and again in a later CLI run."""
        return f"redis://127.0.0.1:{next(n for n in self.nodes if n is not avoiding).port}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.fail("redis-cli is not installed: run scripts/test.sh (it installs it)")
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
             "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for node in self.nodes:
            wait_for(
                f"cluster state ok on {node.port}",
                lambda node=node: node.client().cluster("info")["cluster_state"] == "ok",
                timeout=30,
            )
        for node in self.nodes:
            info = node.client().info("replication")
            if info["role"] == "slave":
                wait_for(
                    f"replica {node.port} in sync",
                    lambda node=node: (
                        node.client().info("replication")["master_link_status"] == "up"
                    ),
                )

    def owner(self, key: str) -> Node:
        """The primary that owns `key`'s slot now."""
        live = next(n for n in self.nodes if n.proc is not None)
        client = redis.RedisCluster(host="127.0.0.1", port=live.port, socket_timeout=2)
        try:
            target = client.get_node_from_key(key)
            return next(n for n in self.nodes if n.port == target.port)
        finally:
            client.close()

    def replaced(self, dead: Node, key: str) -> bool:
        """A live node sees another, healthy primary serving `key`'s slot (dead's replica)."""
        live = next(n for n in self.nodes if n is not dead and n.proc is not None)
        slot = live.client().cluster("keyslot", key)
        text = subprocess.run(
            [shutil.which("redis-cli") or "redis-cli", "-p", str(live.port), "cluster", "nodes"],
            check=True, capture_output=True, text=True, timeout=10,
        ).stdout  # fmt: skip
        for line in text.splitlines():
            fields = line.split()
            flags, port = fields[2], int(fields[1].split("@")[0].rsplit(":", 1)[1])
            if "master" not in flags or "fail" in flags:
                continue
            for r in fields[8:]:
                low, _, high = r.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return port != dead.port
        return False

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
