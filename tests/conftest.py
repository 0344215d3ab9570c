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
    """The official signature and AES test vectors (tests/vectors.json)."""
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
from pathlib import Path  # noqa: E402

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

    def __init__(
        self,
        port: int,
        *,
        password: str = "",
        tls_dir: Path | None = None,
        data_dir: Path | None = None,
        unix_socket: Path | None = None,
    ) -> None:
        self.port = port
        self.password = password
        self.tls_dir = tls_dir
        self.data_dir = data_dir  # set: an append-only file there, fsynced on every write
        self.unix_socket = unix_socket  # set: it listens there too (and on the port)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL without credentials (wxhook takes the password from store.password)."""
        if self.tls_dir is None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls_dir / 'cert.pem'}"

    def _probe_url(self) -> str:
        return self.url.replace("://", f"://:{self.password}@", 1) if self.password else self.url

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run the README's test command")
        args = [binary, "--bind", "127.0.0.1", "--save", ""]
        if self.data_dir is None:
            args += ["--appendonly", "no"]
        else:
            args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.data_dir)]
        if self.password:
            args += ["--requirepass", self.password]
        if self.unix_socket is not None:
            args += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "700"]
        if self.tls_dir is None:
            args += ["--port", str(self.port)]
        else:
            cert, key = self.tls_dir / "cert.pem", self.tls_dir / "key.pem"
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert)]
            args += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(cert)]
            args += ["--tls-auth-clients", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _redis_answers(self._probe_url()):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start within 10 s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no last save."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def own_redis():
    server = RedisProcess(free_port())
    server.start()
    yield server
    server.stop()


def self_signed_cert(directory: Path) -> Path:
    """cert.pem and key.pem for 127.0.0.1 in `directory`, made with the cryptography package."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return directory


# A real `wxhook serve` ---------------------------------------------------------------------


def wait_until_answers(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 30):
    """Wait until GET `url` answers 2xx; fail with the server's log if it died or timed out."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:  # refused, or an HTTP error status (not ready yet)
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"{url} never answered:\n{log.read_text()}") from None
            time.sleep(0.1)


def start_serve(
    cwd: Path, port: int, env: dict[str, str] | None = None, *, ready: str = "/healthz"
) -> subprocess.Popen[bytes]:
    """`wxhook serve --config config.toml` in `cwd` (stderr to cwd/server.log), once `ready`
    answers on 127.0.0.1:`port` (/readyz and /metrics: on its ops port, `proc.ops_port`).
    The environment is the test's, without WXHOOK_* and PROMETHEUS_* variables, plus `env`."""
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("WXHOOK_", "PROMETHEUS_"))}
    # Each server gets an ops listener of its own (several may run at once).
    base["WXHOOK_OPS_PORT"] = str(free_port())
    env = {**base, **(env or {})}
    ops_port = int(env["WXHOOK_OPS_PORT"])
    log = cwd / "server.log"
    with log.open("wb") as stderr:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "wxhook", "serve", "--config", "config.toml"],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    if ready in ("/readyz", "/metrics"):
        port = ops_port
    wait_until_answers(proc, f"http://127.0.0.1:{port}{ready}", log)
    proc.ops_port = ops_port  # type: ignore[attr-defined]
    return proc
