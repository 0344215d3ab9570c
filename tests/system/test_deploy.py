"""The deployment files agree with each other: Dockerfile, the locks, .dockerignore, both compose
files, their configs and .env.example. These checks need no Docker engine and fail in a second;
tests/system/test_compose.py builds the image and runs the compose files for real.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from wxhook.config import DEMO_TOKEN, SECRET_FIELDS, ConfigError, load_config

PROJECT = Path(__file__).resolve().parents[2]
DOCKERFILE = PROJECT / "Dockerfile"
DOCKERIGNORE = PROJECT / ".dockerignore"
ENV_EXAMPLE = PROJECT / ".env.example"
LOCK = PROJECT / "deploy" / "requirements.lock"
BUILD_LOCK = PROJECT / "deploy" / "build.lock"
COMPOSE_FILES = {
    PROJECT / "docker-compose.yml": PROJECT / "deploy" / "config.toml",
    PROJECT / "docker-compose.sentinel.yml": PROJECT / "deploy" / "config.sentinel.toml",
}
# Only what WeChat needs goes on the host, and on its loopback unless the operator says so.
PUBLISHED = re.compile(r"\$\{WXHOOK_PUBLISH(_B)?:-127\.0\.0\.1:\d+\}:8080")
INTERPOLATED = re.compile(r"\$\{([A-Z0-9_]+)(:-[^}]*)?\}")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def stages() -> list[list[Instruction]]:
    """The Dockerfile's stages, each the instructions from its FROM on (continued lines joined,
    comments dropped); the last is the image."""
    found: list[list[Instruction]] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, args = (current + line).partition(" ")
        current = ""
        if keyword.upper() == "FROM":
            found.append([])
        assert found, "the Dockerfile must start with FROM"
        found[-1].append(Instruction(keyword.upper(), args.strip()))
    return found


def image() -> list[Instruction]:
    return stages()[-1]


def only(keyword: str) -> Instruction:
    found = [i for i in image() if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the image stage, found {len(found)}"
    return found[0]


def env_instructions() -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in image():
        if ins.keyword == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(ins.args))
    return env


def seconds(duration: str) -> float:
    """A Docker/Compose duration: "30s", "1m30s", "1.5s", "500ms"."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def services(compose_file: Path) -> dict[str, Any]:
    return yaml.safe_load(compose_file.read_text(encoding="utf-8"))["services"]


def wxhook_services(compose_file: Path) -> dict[str, Any]:
    """The services that run the wxhook image (the one-shot check and the servers)."""
    return {
        name: svc
        for name, svc in services(compose_file).items()
        if str(svc.get("image", "")).startswith("${WXHOOK_IMAGE")
    }


def servers(compose_file: Path) -> dict[str, Any]:
    return {k: v for k, v in wxhook_services(compose_file).items() if k != "check"}


def defaults(compose_file: Path) -> dict[str, str]:
    """What the compose file's environment gives wxhook when neither .env nor the shell sets
    a variable."""
    env: dict[str, str] = {}
    for name, value in wxhook_services(compose_file)["check"]["environment"].items():
        match = INTERPOLATED.fullmatch(value)
        assert match and match.group(1) == name, f"{name}: write it as ${{{name}:-default}}"
        env[name] = (match.group(2) or ":-")[2:]
    return env


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip().removeprefix("# ")
        if re.fullmatch(r"[A-Z0-9_]+=.*", line):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def config_of(compose_file: Path, env: dict[str, str]):
    return load_config(COMPOSE_FILES[compose_file], env=env)


# The image ------------------------------------------------------------------------------------


def test_both_stages_start_from_the_python_slim_image():
    for stage in stages():
        base = stage[0].args.split()[0]
        assert re.fullmatch(r"python:3\.12-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base


def test_dependencies_come_from_the_hashed_lock_only():
    runs = " ".join(i.args for stage in stages() for i in stage if i.keyword == "RUN")
    installs = re.findall(r"pip install ([^&]+)", runs)
    assert installs, "no pip install"
    for args in installs:
        # Either a lock, with every file's hash checked and nothing unlisted, or the wheel just
        # built from these sources, without its dependencies.
        if "-r " in args:
            assert "--require-hashes" in args and "--no-deps" in args, args
            assert re.search(r"-r deploy/(requirements|build)\.lock", args), args
        else:
            assert "--no-deps" in args and "/dist/" in args, args


def test_the_lock_pins_every_dependency_with_its_hashes():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["speed"]
    build = tomllib.loads((PROJECT / "pyproject.toml").read_text())["build-system"]["requires"]
    for lock, requirements in ((LOCK, wanted), (BUILD_LOCK, build)):
        text = lock.read_text()
        entries = re.split(r"\n(?=[a-z0-9][a-z0-9._-]*==)", text)[1:]
        pinned = {e.split("==", 1)[0] for e in entries}
        for requirement in requirements:
            name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower()
            assert name in pinned, f"{name} is not in {lock.name}: run bash scripts/lock.sh"
        for entry in entries:
            assert "--hash=sha256:" in entry, f"{lock.name}: no hash for {entry.split()[0]}"


def test_the_image_keeps_no_sources_build_tools_or_compiler():
    """Only the virtual environment is copied from the build stage: no /src, /dist, no
    setuptools, and no compiler was ever needed (wxhook is pure Python)."""
    copies = [i.args for i in image() if i.keyword == "COPY"]
    assert copies == ["--from=build /opt/wxhook /opt/wxhook"], copies
    runs = " ".join(i.args for stage in stages() for i in stage if i.keyword == "RUN")
    assert not re.search(r"\b(gcc|cc|clang|build-essential|libc6-dev|apt-get)\b", runs), runs


def test_the_image_runs_wxhook_as_a_non_root_user():
    user = only("USER").args.split(":")[0]
    assert user.isdigit() and int(user) >= 1000
    assert json.loads(only("CMD").args) == ["wxhook", "serve"]  # exec form: PID 1 gets SIGTERM
    assert only("STOPSIGNAL").args == "SIGTERM"
    assert env_instructions()["WXHOOK_CONFIG"] == "/etc/wxhook/config.toml"
    assert env_instructions()["PYTHONUNBUFFERED"] == "1"


def test_the_healthcheck_reads_the_port_from_the_config():
    match = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(.+)", only("HEALTHCHECK").args)
    assert match, "HEALTHCHECK must be `HEALTHCHECK [options] CMD [...]`"
    assert json.loads(match.group(2)) == ["wxhook", "healthcheck"]
    options = dict(o[2:].split("=", 1) for o in match.group(1).split())
    assert seconds(options["timeout"]) < seconds(options["interval"])
    for compose_file, config in COMPOSE_FILES.items():
        port = tomllib.loads(config.read_text())["server"]["port"]
        assert int(only("EXPOSE").args) == port
        for svc in servers(compose_file).values():
            assert str(svc["ports"][0]).endswith(f":{port}")


def test_dockerignore_keeps_secrets_out_and_the_copied_files_in():
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for excluded in (".git", ".venv", ".env", ".env.*", "tests"):
        assert excluded in lines, f"{excluded} is not in .dockerignore"
    copied = []
    for stage in stages():
        for ins in stage:
            if ins.keyword == "COPY" and "--from=" not in ins.args:
                copied += shlex.split(ins.args)[:-1]
    for name in copied:
        name = name.rstrip("/")
        # The last pattern that matches decides, as Docker reads the file.
        verdict = None
        for pattern in lines:
            negated = pattern.startswith("!")
            pattern = pattern.lstrip("!")
            if name == pattern or name.startswith(pattern + "/"):
                verdict = not negated
        assert not verdict, f"{name} is copied by the Dockerfile but ignored"


# The compose files ----------------------------------------------------------------------------


@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=lambda p: p.name)
def test_a_fresh_clone_needs_no_env_file(compose_file: Path):
    for name, svc in services(compose_file).items():
        assert "env_file" not in svc, f"{name}: env_file makes .env required"
    # The defaults make a valid config: the demo account, in safe mode, with the example plugin.
    config = config_of(compose_file, defaults(compose_file))
    # The demo token is the one `wxhook serve` recognises and warns about.
    assert config.accounts[0].token == DEMO_TOKEN
    assert config.plugins.modules == ("plugins.hello",)
    assert [(a.name, a.mode) for a in config.accounts] == [("main", "safe")]
    assert (PROJECT / "examples" / "hello.py").is_file()


@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=lambda p: p.name)
def test_only_the_callback_port_is_published_on_loopback(compose_file: Path):
    for name, svc in services(compose_file).items():
        ports = svc.get("ports", [])
        if name in servers(compose_file):
            assert len(ports) == 1 and PUBLISHED.fullmatch(ports[0]), ports
            assert [str(p) for p in svc["expose"]] == ["9108"]  # ops: the compose network only
        else:
            assert not ports, f"{name} publishes {ports}"


@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=lambda p: p.name)
def test_the_servers_start_only_after_the_live_check_succeeded(compose_file: Path):
    check = wxhook_services(compose_file)["check"]
    assert check["command"] == ["wxhook", "check-config", "--live"]
    assert check["restart"] == "no"
    for svc in servers(compose_file).values():
        assert svc["depends_on"]["check"] == {"condition": "service_completed_successfully"}
        assert svc["restart"] == "unless-stopped"
        assert svc["volumes"] == check["volumes"] and svc["environment"] == check["environment"]


@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=lambda p: p.name)
def test_stop_grace_period_outlasts_the_drain(compose_file: Path):
    # On SIGTERM, requests in flight get up to the deadline (+0.5 s), then background handlers
    # get shutdown_grace: Docker must not SIGKILL before both have run out.
    config = config_of(compose_file, defaults(compose_file))
    for svc in servers(compose_file).values():
        drain = config.dispatch.deadline + 0.5 + config.server.shutdown_grace
        assert seconds(svc["stop_grace_period"]) > drain


@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_variable_the_compose_file_reads_is_in_env_example(compose_file: Path):
    read = set(INTERPOLATED.findall(compose_file.read_text()))
    documented = set(env_example())
    missing = {name for name, _ in read} - documented
    assert not missing, f".env.example does not mention {sorted(missing)}"


@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=lambda p: p.name)
def test_the_configs_hold_no_secrets(compose_file: Path):
    raw = tomllib.loads(COMPOSE_FILES[compose_file].read_text())
    for account in raw["accounts"]:
        for key in SECRET_FIELDS:
            assert not account.get(key), f"{account['name']}.{key}: it belongs in .env"
    assert "@" not in raw["store"].get("url", ""), "the Redis password belongs in .env"


def test_redis_keeps_failure_records_across_restarts():
    redis = services(PROJECT / "docker-compose.yml")["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert redis["volumes"][0].split(":")[1] == "/data"


def test_env_example_overrides_the_demo_and_its_placeholders_do_not_start():
    """A copy of .env.example that nobody filled in stops at the check instead of serving fake
    secrets; one that was filled in replaces the demo account's."""
    compose_file = PROJECT / "docker-compose.yml"
    example = {k: v for k, v in env_example().items() if v}
    assert {"WXHOOK_MAIN_TOKEN", "WXHOOK_MAIN_ENCODING_AES_KEY"} <= set(example)
    with pytest.raises(ConfigError, match="encoding_aes_key must be 43"):
        config_of(compose_file, defaults(compose_file) | example)
