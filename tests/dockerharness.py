"""A real Docker engine for the compose tests: Debian's docker.io and docker-compose (Compose
v1), Compose v2 from Debian's next release, the two base images (pulled, or built as stand-ins
by deploy/standins/build.sh where the registry cannot be reached), and a compose project run
from a copy of the repository as `git clone` would give it.

Everything is set up once per test session. A dockerd started here is stopped by its own pid at
the end; one that already ran is left alone. Each project removes its containers, networks and
volumes (`down -v`) and the image it built.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
BASE_IMAGES = ("python:3.12-slim-bookworm", "redis:7-alpine")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wxhook-tests"

# Bounds on every wait, so a broken engine fails the test instead of hanging CI.
APT_TIMEOUT = 900
ENGINE_START = 60
PULL_TIMEOUT = 600  # a real pull of a base image; an unreachable registry fails at once
STANDIN_TIMEOUT = 1200
COMPOSE_TIMEOUT = 600


def run(
    args: Sequence[str | Path],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, output captured; with `check`, fail the test with its output."""
    try:
        done = subprocess.run(
            [str(a) for a in args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(map(str, args))}: no end within {timeout} s\n{exc.output}")
    if check and done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {done.returncode}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done


def apt_install(*packages: str) -> None:
    """Debian packages, as the test command installs what it needs."""
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    run([*sudo, "apt-get", "update", "-qq"], timeout=APT_TIMEOUT, env=env)
    run([*sudo, "apt-get", "install", "-y", "-qq", *packages], timeout=APT_TIMEOUT, env=env)


def engine_answers() -> bool:
    return run(["docker", "info"], timeout=30, check=False).returncode == 0


@dataclass
class Engine:
    """The Docker engine and both Compose versions, ready to use."""

    v1: list[str]  # docker-compose, Debian's Compose v1
    v2: list[str]  # docker compose, the plugin found through `docker_config`
    docker_config: Path  # DOCKER_CONFIG holding cli-plugins/docker-compose
    started: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for docker and Compose: this process's, minus Compose variables a
        developer may have set, plus `extra`."""
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("COMPOSE_", "WXHOOK_")) and k != "DOCKER_CONFIG"
        }
        return base | {"DOCKER_CONFIG": str(self.docker_config)} | extra

    def stop(self) -> None:
        """Stop the dockerd started here, by its pid; one that already ran stays."""
        if self.started is not None and self.started.poll() is None:
            self.started.send_signal(signal.SIGTERM)
            try:
                self.started.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.started.kill()
                self.started.wait(timeout=10)


def start_engine() -> tuple[subprocess.Popen[bytes] | None, Path | None]:
    """dockerd, installed and started if none answers."""
    if engine_answers():
        return None, None
    if shutil.which("dockerd") is None:
        apt_install("docker.io")
    log = Path(tempfile.mkdtemp(prefix="wxhook-dockerd-")) / "dockerd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + ENGINE_START
    while not engine_answers():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"dockerd did not start within {ENGINE_START} s:\n{log.read_text()}")
        time.sleep(0.5)
    return proc, log


def compose_v2_plugin() -> Path:
    """Compose v2, from Debian's next release (Debian 12 packages only v1): its package is
    downloaded once into the cache and unpacked there; nothing is installed on the system."""
    unpacked = CACHE / "compose-v2"
    plugin = unpacked / "usr" / "libexec" / "docker" / "cli-plugins" / "docker-compose"
    if plugin.exists():
        return plugin
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="compose-v2-download-", dir=CACHE))
    try:
        (work / "lists" / "partial").mkdir(parents=True)
        (work / "sources.list").write_text("deb http://deb.debian.org/debian trixie main\n")
        options = [
            "-o",
            f"Dir::Etc::sourcelist={work / 'sources.list'}",
            "-o",
            "Dir::Etc::sourceparts=-",
            "-o",
            f"Dir::State::Lists={work / 'lists'}",
            "-o",
            "APT::Sandbox::User=root",
        ]
        run(["apt-get", *options, "update", "-qq"], timeout=APT_TIMEOUT)
        run(["apt-get", *options, "download", "docker-compose"], timeout=APT_TIMEOUT, cwd=work)
        (deb,) = work.glob("docker-compose_2.*.deb")
        # Unpacked beside the cache, then moved in: a half-unpacked package is never used.
        run(["dpkg-deb", "-x", deb, work / "unpacked"], timeout=120)
        shutil.rmtree(unpacked, ignore_errors=True)
        (work / "unpacked").rename(unpacked)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return plugin


def prepare_engine() -> Engine:
    """The engine, Compose v1 and v2, and the base images."""
    if shutil.which("docker-compose") is None or shutil.which("docker") is None:
        apt_install("docker.io", "docker-compose")
    started, log = start_engine()
    config = Path(tempfile.mkdtemp(prefix="wxhook-docker-config-"))
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(compose_v2_plugin())
    engine = Engine(["docker-compose"], ["docker", "compose"], config, started, log)
    base_images(engine)
    return engine


def base_images(engine: Engine) -> None:
    """The images the Dockerfile and the compose files start FROM: the registry's when it
    answers, else stand-ins built from Debian packages (kept current by the build script)."""
    missing = [
        image
        for image in BASE_IMAGES
        if run(["docker", "image", "inspect", image], timeout=30, check=False).returncode != 0
    ]
    for image in list(missing):
        pulled = run(["docker", "pull", image], timeout=PULL_TIMEOUT, check=False)
        if pulled.returncode == 0:
            missing.remove(image)
    if shutil.which("debootstrap") is None:
        apt_install("debootstrap")
    # --if-missing leaves a pulled image alone and rebuilds a stand-in only when its recipe
    # changed, so this is quick once the stand-ins exist.
    run(
        ["bash", PROJECT / "deploy" / "standins" / "build.sh", "--if-missing"],
        timeout=STANDIN_TIMEOUT,
        env=engine.env(),
    )


def fresh_clone(into: Path) -> Path:
    """The repository's files as a clone has them: tracked and new files, nothing ignored (no
    .env, no virtual environments), so uncommitted work is tested too."""
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        timeout=60,
        cwd=PROJECT,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = PROJECT / name
        if not source.is_file():  # deleted in the work tree, not yet in the index
            continue
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return into


@dataclass
class Project:
    """One compose project: a name of its own, the files of a fresh clone, one Compose."""

    engine: Engine
    directory: Path
    compose: list[str]
    files: tuple[str, ...] = ()
    env_extra: dict[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"wxhooktest{uuid.uuid4().hex[:8]}")

    def __post_init__(self) -> None:
        # The image it builds gets a name of its own too, removed with the project.
        self.env_extra.setdefault("WXHOOK_IMAGE", f"wxhook-test:{self.name}")

    def env(self, **extra: str) -> dict[str, str]:
        return self.engine.env(COMPOSE_PROJECT_NAME=self.name, **(self.env_extra | extra))

    def __call__(
        self, *args: str, timeout: float = COMPOSE_TIMEOUT, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        files = [x for f in self.files for x in ("-f", f)]
        return run(
            [*self.compose, *files, *args],
            timeout=timeout,
            env=self.env(**env),
            cwd=self.directory,
            check=check,
        )

    def containers(self, service: str) -> list[str]:
        return self("ps", "-q", service).stdout.split()

    def inspect(self, container: str) -> dict[str, object]:
        out = run(["docker", "inspect", container], timeout=30, env=self.engine.env()).stdout
        state: dict[str, object] = json.loads(out)[0]
        return state

    def health(self, container: str) -> str:
        state = self.inspect(container)["State"]
        assert isinstance(state, dict)
        return str(state.get("Health", {}).get("Status", "none"))

    def wait_healthy(self, service: str, *, count: int = 1, within: float = 60.0) -> list[str]:
        """The service's containers once `count` of them report healthy; fail with the logs."""
        deadline = time.monotonic() + within
        while True:
            containers = self.containers(service)
            if len(containers) >= count and all(self.health(c) == "healthy" for c in containers):
                return containers
            if time.monotonic() > deadline:
                logs = self("logs", "--no-color", check=False).stdout
                pytest.fail(f"{service} not healthy within {within} s:\n{logs[-6000:]}")
            time.sleep(0.5)

    def published(self, service: str, port: int = 8080) -> list[tuple[str, int]]:
        """The host addresses of `port` of each of the service's containers."""
        found = []
        for container in self.containers(service):
            ports = self.inspect(container)["NetworkSettings"]
            assert isinstance(ports, dict)
            for binding in ports["Ports"].get(f"{port}/tcp") or []:
                found.append((binding["HostIp"], int(binding["HostPort"])))
        return found

    def logs(self, service: str) -> str:
        return self("logs", "--no-color", service).stdout

    def down(self) -> None:
        """Containers, networks, volumes and the built image, gone."""
        self("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
        image = self.env_extra["WXHOOK_IMAGE"]
        run(["docker", "image", "rm", "-f", image], timeout=60, env=self.engine.env(), check=False)


def healthz(port: int, timeout: float = 5.0) -> int:
    """GET /healthz on 127.0.0.1:port: its status."""
    url = f"http://127.0.0.1:{port}/healthz"
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return int(answer.status)


def leftovers(engine: Engine, name: str) -> list[str]:
    """Containers, networks and volumes of project `name` still there."""
    label = f"label=com.docker.compose.project={name}"
    found = []
    for kind in ("container", "network", "volume"):
        listed = run(
            ["docker", kind, "ls", "-q", *(["-a"] if kind == "container" else []), "-f", label],
            timeout=30,
            env=engine.env(),
        )
        found += [f"{kind} {x}" for x in listed.stdout.split()]
    return found


def engine_session() -> Iterator[Engine]:
    """For a session fixture: the engine ready, then the dockerd started here stopped."""
    engine = prepare_engine()
    try:
        yield engine
    finally:
        engine.stop()
        shutil.rmtree(engine.docker_config, ignore_errors=True)
