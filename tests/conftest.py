"""Shared fixtures: the official vectors and small builders for signed requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT / "samples"
VECTORS_FILE = ROOT / "vectors.json"


def load_vectors() -> dict[str, Any]:
    """The official signature and AES vectors (copied from shared/protocol/vectors.json)."""
    return json.loads(VECTORS_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return load_vectors()


# Redis ---------------------------------------------------------------------------------------
# Tests about Redis use a real server, never a mock. `.ci/run` makes sure one listens; a missing
# server is a failure, not a skip.

import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

REDIS_URL = os.environ.get("WXHOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _redis_answers(REDIS_URL):
        pytest.fail(
            f"no Redis answers at {REDIS_URL}: run the README's test command (it starts one) "
            "or set WXHOOK_TEST_REDIS_URL"
        )
    return REDIS_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """A redis-server this test starts on a spare port and stops by its own pid."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run the README's test command")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _redis_answers(self.url):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start within 10 s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def own_redis():
    server = RedisProcess(free_port())
    server.start()
    yield server
    server.stop()
