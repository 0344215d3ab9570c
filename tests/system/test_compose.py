"""docker-compose.yml and docker-compose.sentinel.yml, run with a real Docker engine.

Each test works on a fresh clone (the repository's files without anything git ignores: no .env)
and talks to the containers only through ports published on 127.0.0.1. The README's deployment
steps run as written with Compose v2 (`docker compose`); the rest runs with Debian's Compose v1
(`docker-compose`), so both read the files. tests/dockerharness.py prepares the engine and the
base images (stand-ins where Docker Hub cannot be reached).
"""

from __future__ import annotations

import dataclasses
import re
import socket
import subprocess
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from conftest import free_port
from dockerharness import PROJECT, Engine, Project, engine_session, fresh_clone, healthz, leftovers

from wxhook import sender
from wxhook.core import AccountKeys, dedup_key, parse_message, parse_xml

README = PROJECT / "README.md"
UP_WITHIN = 60.0  # seconds from `up` to healthy, images built


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from engine_session()


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fresh_clone(tmp_path_factory.mktemp("clone"))


@pytest.fixture
def project(engine: Engine, clone: Path) -> Iterator[list[Project]]:
    """Projects a test starts; each is taken down, and nothing of it may stay."""
    started: list[Project] = []
    yield started
    for each in started:
        each.down()
        assert leftovers(engine, each.name) == []


def demo_keys(compose_file: Path, service: str = "wxhook") -> AccountKeys:
    """The demo account's keys: the defaults the compose file gives its secrets."""
    services = yaml.safe_load(compose_file.read_text())["services"]
    environment = services[service]["environment"]

    def default(name: str) -> str:
        match = re.fullmatch(r"\$\{" + name + r":-(.*)\}", environment[name])
        assert match, f"{name} has no default in {compose_file.name}"
        return match.group(1)

    return AccountKeys.create(
        token=default("WXHOOK_MAIN_TOKEN"),
        app_id=default("WXHOOK_MAIN_APP_ID"),
        encoding_aes_key=default("WXHOOK_MAIN_ENCODING_AES_KEY"),
        mode="safe",
    )


def text_push(keys: AccountKeys, port: int, content: str) -> sender.Push:
    # A user of its own per push: the dedup key is FromUserName + CreateTime.
    user = f"o{uuid.uuid4().hex[:27]}"
    url = f"http://127.0.0.1:{port}/wechat"
    return sender.build(keys, url, "text", user=user, fields={"Content": content})


def to_port(push: sender.Push, port: int) -> sender.Push:
    """The same request, byte for byte, to another published port (another replica)."""
    return dataclasses.replace(push, url=f"http://127.0.0.1:{port}/wechat")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def readme_deploy_steps() -> list[str]:
    """The commands of the README's `## Deploy` block, one per line, comments dropped."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Deploy", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README's Deploy section has no sh block"
    return [
        line.split("  #", 1)[0].strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def assert_loopback_only(project: Project, service: str, count: int = 1) -> list[int]:
    """The callback port is published on 127.0.0.1 only, the ops port not at all; the host
    ports."""
    published = project.published(service, 8080)
    assert len(published) == count, published
    assert {ip for ip, _ in published} == {"127.0.0.1"}, published
    assert project.published(service, 9108) == []
    return [port for _, port in published]


# The README, as written ---------------------------------------------------------------------


def test_readme_deploy_steps_serve_the_demo_on_a_fresh_clone(
    engine: Engine, clone: Path, project: list[Project]
):
    steps = readme_deploy_steps()
    assert steps[0] == "docker compose up -d", steps
    assert not (clone / ".env").exists()
    # The README's steps run as a user types them; only the project and image names are the
    # test's own, and the host port if something else holds 8080 here.
    demo = Project(engine, clone, engine.v2)
    project.append(demo)
    port = 8080 if port_free(8080) else free_port()
    if port != 8080:
        demo.env_extra["WXHOOK_PUBLISH"] = f"127.0.0.1:{port}"
    *serving, last = [step.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for step in steps]
    assert last == "docker compose down", steps

    def type_in(step: str) -> str:
        done = subprocess.run(
            ["bash", "-c", step],
            cwd=clone,
            env=demo.env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"{step}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    started = time.monotonic()
    outputs = []
    for step in serving:
        outputs.append(type_in(step))
        if step == steps[0]:
            demo.wait_healthy("wxhook", within=UP_WITHIN - (time.monotonic() - started))
    assert '"Content": "hello"' in outputs[-1], outputs  # the example plugin echoed it
    assert "uses the demo secrets of docker-compose.yml" in demo.logs("wxhook")
    assert assert_loopback_only(demo, "wxhook") == [port]
    # A signed and encrypted push from this host, through the published port, and its retry.
    push = text_push(demo_keys(clone / "docker-compose.yml"), port, "你好")
    first = sender.post(push)
    assert first.status == 200 and first.reply["Content"] == "你好"
    assert sender.post(push).reply == first.reply
    # The last step takes it all down (the fixture then drops the Redis volume too).
    type_in(last)
    assert demo("ps", "-a", "-q").stdout.split() == []
    with pytest.raises(OSError):
        healthz(port, timeout=2)


# Compose v1, with a probe plugin that logs each run -------------------------------------------

PROBE = textwrap.dedent(
    """
    import asyncio

    import wxhook

    router = wxhook.Router("probe")


    @router.message("text")
    async def answer(message: wxhook.TextMessage, ctx: wxhook.Context) -> str:
        if message.content.startswith("slow"):
            await asyncio.sleep(3)  # still within the 4.5 s deadline
        ctx.logger.info("probe ran for %s", message.content)
        return "probe: " + message.content
    """
)


def probe_setup(clone: Path) -> dict[str, str]:
    """deploy/config.toml with the probe plugin instead of the example; the variables that
    point the compose file at them."""
    plugins = clone / "probe-plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "probe.py").write_text(PROBE)
    config = (clone / "deploy" / "config.toml").read_text()
    assert 'modules = ["plugins.hello"]' in config
    (clone / "probe-config.toml").write_text(
        config.replace('modules = ["plugins.hello"]', 'modules = ["plugins.probe"]')
    )
    return {
        "WXHOOK_CONFIG_FILE": "./probe-config.toml",
        "WXHOOK_PLUGINS_DIR": "./probe-plugins",
        "WXHOOK_PUBLISH": "127.0.0.1:",  # a port Docker picks, one per replica
    }


def running(project: Project, service: str) -> bool:
    states = [
        project.inspect(c)["State"] for c in project("ps", "-a", "-q", service).stdout.split()
    ]
    return any(isinstance(s, dict) and s["Running"] for s in states)


def runs(project: Project, content: str, *services: str) -> int:
    """How many times the probe ran for `content`, over every replica's log. wxhook writes its
    log lines in batches, at most 0.25 s late: wait for the first, then a second for more."""

    def count() -> int:
        logs = "".join(project.logs(service) for service in services or ("wxhook",))
        return logs.count(f"probe ran for {content}")

    deadline = time.monotonic() + 5
    while count() == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    return count()


def test_compose_v1_serves_dedups_across_replicas_and_drains_on_stop(
    engine: Engine, clone: Path, project: list[Project]
):
    stack = Project(engine, clone, engine.v1, env_extra=probe_setup(clone))
    project.append(stack)
    keys = demo_keys(clone / "docker-compose.yml")

    started = time.monotonic()
    stack("up", "-d")
    stack.wait_healthy("wxhook", within=UP_WITHIN - (time.monotonic() - started))
    (port,) = assert_loopback_only(stack, "wxhook")
    assert healthz(port) == 200

    # A push, then WeChat's retry of it: the same reply, from Redis, and one run.
    push = text_push(keys, port, "one")
    first = sender.post(push)
    assert first.reply["Content"] == "probe: one"
    assert sender.post(push).reply == first.reply
    assert runs(stack, "one") == 1
    # The push's claim, with its stored reply, is in the compose Redis.
    key = "wxhook:dedup:" + dedup_key(parse_message(parse_xml(push.document)), "main")
    assert stack("exec", "-T", "redis", "redis-cli", "exists", key).stdout.strip() == "1"

    # The image: the locked dependencies exactly, wxhook's wheel, no build folders, not root.
    def normal(pin: str) -> str:  # PEP 503 names: typing_extensions == typing-extensions
        name, _, release = pin.partition("==")
        return re.sub(r"[-_.]+", "-", name).lower() + "==" + release

    frozen = stack("exec", "-T", "wxhook", "pip", "freeze", "--all").stdout.splitlines()
    lock = (clone / "deploy" / "requirements.lock").read_text()
    locked = re.findall(r"^([a-z0-9][a-z0-9._-]*==\S+)", lock, re.MULTILINE)
    # wxhook itself shows as "wxhook @ file:///dist/wxhook-….whl": the wheel built from here.
    (own,) = [f for f in frozen if f.startswith("wxhook")]
    assert own.startswith(f"wxhook @ file:///dist/wxhook-{version('wxhook')}-py3-none-any.whl")
    installed = [normal(f) for f in frozen if not f.startswith(("wxhook", "pip=="))]
    assert sorted(installed) == sorted(map(normal, locked))
    leftover = stack("exec", "-T", "wxhook", "ls", "-d", "/src", "/dist", "/opt/build", check=False)
    assert leftover.returncode != 0 and leftover.stdout == ""
    assert stack("exec", "-T", "wxhook", "id", "-u").stdout.strip() == "10001"

    # The one-shot check ran before the server, said ok, and has ended.
    assert not running(stack, "check")
    assert "ok (live)" in stack.logs("check")

    # Two replicas: a retry that lands on the other one is a duplicate there.
    stack("up", "-d", "--scale", "wxhook=2")
    stack.wait_healthy("wxhook", count=2)
    a, b = assert_loopback_only(stack, "wxhook", count=2)
    push = text_push(keys, a, "two")
    first = sender.post(push)
    assert first.reply["Content"] == "probe: two"
    assert sender.post(to_port(push, b)).reply == first.reply
    assert runs(stack, "two") == 1

    # `stop` while a handler is running: its reply still goes out, then every replica exits 0.
    slow = text_push(keys, a, "slow drain")
    answers: list[sender.SendResult] = []
    sending = threading.Thread(target=lambda: answers.append(sender.post(slow)))
    sending.start()
    time.sleep(1.0)  # the handler sleeps 3 s: the request is in flight when SIGTERM comes
    containers = stack.containers("wxhook")
    stack("stop", "wxhook")
    sending.join(timeout=30)
    assert answers and answers[0].reply["Content"] == "probe: slow drain"
    for container in containers:
        state = stack.inspect(container)["State"]
        assert isinstance(state, dict)
        assert state["Running"] is False and state["ExitCode"] == 0, state


@pytest.mark.parametrize("compose", ["v1", "v2"])
def test_a_config_error_fails_up_and_says_why(
    engine: Engine, clone: Path, project: list[Project], compose: str
):
    stack = Project(
        engine,
        clone,
        engine.v1 if compose == "v1" else engine.v2,
        env_extra={"WXHOOK_MAIN_ENCODING_AES_KEY": "too-short", "WXHOOK_PUBLISH": "127.0.0.1:"},
    )
    project.append(stack)
    up = stack("up", "-d", check=False)
    assert up.returncode != 0, up.stdout + up.stderr
    # `up` names the check and its exit code (v2: didn't complete successfully: exit 2; v1:
    # exited with code 2); the check's log says why.
    assert re.search(r"exit(ed with code)?:? 2", up.stdout + up.stderr), up.stdout + up.stderr
    said = stack.logs("check")
    assert "encoding_aes_key must be 43 characters" in said, said
    # The server was never started: nothing restarts in a loop, nothing looks "up".
    for container in stack("ps", "-a", "-q", "wxhook").stdout.split():
        state = stack.inspect(container)["State"]
        assert isinstance(state, dict)
        assert state["Running"] is False and state["Restarting"] is False, state


def test_check_config_live_fails_when_the_store_is_unreachable(
    engine: Engine, clone: Path, project: list[Project]
):
    stack = Project(
        engine,
        clone,
        engine.v1,
        env_extra={"WXHOOK_STORE_URL": "redis://nowhere:6379/0", "WXHOOK_PUBLISH": "127.0.0.1:"},
    )
    project.append(stack)
    up = stack("up", "-d", check=False)
    assert up.returncode != 0
    assert "store unreachable" in stack.logs("check")


# Sentinel ----------------------------------------------------------------------------------


def test_sentinel_compose_dedups_across_its_replicas_and_follows_a_failover(
    engine: Engine, clone: Path, project: list[Project]
):
    # The probe plugin under the name the Sentinel config lists, so each run is logged.
    plugins = clone / "sentinel-plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "hello.py").write_text(PROBE)
    stack = Project(
        engine,
        clone,
        engine.v2,
        files=("docker-compose.sentinel.yml",),
        env_extra={
            "WXHOOK_PLUGINS_DIR": "./sentinel-plugins",
            "WXHOOK_PUBLISH": "127.0.0.1:",
            "WXHOOK_PUBLISH_B": "127.0.0.1:",
        },
    )
    project.append(stack)
    started = time.monotonic()
    stack("up", "-d")
    for service in ("wxhook-a", "wxhook-b"):
        stack.wait_healthy(service, within=UP_WITHIN - (time.monotonic() - started))
    (a,) = assert_loopback_only(stack, "wxhook-a")
    (b,) = assert_loopback_only(stack, "wxhook-b")
    keys = demo_keys(clone / "docker-compose.sentinel.yml", "wxhook-a")

    def deduplicated(content: str) -> bool:
        push = text_push(keys, a, content)
        first = sender.post(push)
        retry = sender.post(to_port(push, b))
        assert first.reply["Content"] == retry.reply["Content"] == f"probe: {content}"
        return runs(stack, content, "wxhook-a", "wxhook-b") == 1

    assert deduplicated("before")

    # The primary dies: the sentinels promote the replica and wxhook follows by itself (pushes
    # are answered all along; until it has followed, a retry may run again).
    stack("kill", "redis-primary")
    deadline = time.monotonic() + 60
    attempt = 0
    while not deduplicated(f"after {attempt}"):
        attempt += 1
        assert time.monotonic() < deadline, "no dedup 60 s after the primary was killed"
        time.sleep(1)
