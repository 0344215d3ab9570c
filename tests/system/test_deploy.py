"""The container deployment: Dockerfile, docker-compose.yml, deploy/config.toml, .env.example.

No Docker engine is needed. The files are checked against each other, and the Dockerfile is
replayed: its `pip install` steps run in a fresh virtual environment, in a directory holding only
what the Dockerfile has copied so far, then its CMD starts the server and its HEALTHCHECK probes it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from wxhook.config import SECRET_FIELDS, ConfigError, env_name, load_config

PROJECT = Path(__file__).resolve().parents[2]
DOCKERFILE = PROJECT / "Dockerfile"
DOCKERIGNORE = PROJECT / ".dockerignore"
COMPOSE = PROJECT / "docker-compose.yml"
DEPLOY_CONFIG = PROJECT / "deploy" / "config.toml"
ENV_EXAMPLE = PROJECT / ".env.example"

SOURCE = "wxhook"  # the package directory the image is built from
SECRET_NAME = re.compile(r"TOKEN|APP_?ID|AES_?KEY|PASSWORD|SECRET", re.IGNORECASE)

# Bounds on every wait in the replay.
VENV_TIMEOUT = 120
PIP_TIMEOUT = 600
START_TIMEOUT = 60


# Reading the files --------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, args = (current + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return instructions


def stages() -> list[tuple[str, list[Instruction]]]:
    """(name, instructions from its FROM on) for each stage; the last one is the image."""
    found: list[tuple[str, list[Instruction]]] = []
    for ins in dockerfile():
        if ins.keyword == "FROM":
            words = ins.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            found.append((name, []))
        assert found, "the Dockerfile must start with FROM"
        found[-1][1].append(ins)
    return found


def image_stage() -> list[Instruction]:
    return stages()[-1][1]


def only(keyword: str) -> Instruction:
    found = [i for i in image_stage() if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the Dockerfile, found {len(found)}"
    return found[0]


def env_instructions() -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in image_stage():
        if ins.keyword == "ENV":
            for pair in shlex.split(ins.args):
                key, sep, value = pair.partition("=")
                assert sep, f"write ENV as KEY=VALUE: {pair!r}"
                env[key] = value
    return env


def copy_args(ins: Instruction) -> tuple[list[str], str]:
    """COPY's sources and destination (flags such as --chown dropped)."""
    words = [w for w in shlex.split(ins.args) if not w.startswith("--")]
    return words[:-1], words[-1]


def copy_from(ins: Instruction) -> str:
    """The stage a COPY takes its files from (--from=...), or "" for the build context."""
    flags = [w for w in shlex.split(ins.args) if w.startswith("--from=")]
    return flags[0].removeprefix("--from=") if flags else ""


def cmd() -> list[str]:
    argv = json.loads(only("CMD").args)  # exec form is a JSON array; shell form fails here
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    return argv


def config_path_in_image() -> str:
    argv = cmd()
    return argv[argv.index("--config") + 1]


def healthcheck() -> tuple[dict[str, str], list[str]]:
    """HEALTHCHECK's options (--timeout=5s → {"timeout": "5s"}) and its exec-form command."""
    match = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(.+)", only("HEALTHCHECK").args)
    assert match, "HEALTHCHECK must be `HEALTHCHECK [options] CMD [...]`"
    options = dict(o[2:].split("=", 1) for o in match.group(1).split())
    argv = json.loads(match.group(2))
    return options, argv


def exposed_port() -> int:
    return int(only("EXPOSE").args.split("/")[0])


def seconds(duration: str) -> float:
    """A Docker/Compose duration: "30s", "1m30s", "1.5s", "500ms"."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def environment(svc: dict[str, Any]) -> dict[str, str | None]:
    """A service's `environment`, in either of its two spellings."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return {k: (v if sep else None) for k, sep, v in (e.partition("=") for e in env)}
    return {k: None if v is None else str(v) for k, v in env.items()}


def deploy_config() -> dict[str, Any]:
    return tomllib.loads(DEPLOY_CONFIG.read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=VALUE: {line!r}"
            pairs[key.strip()] = value.strip()
    return pairs


def required_secrets(config: dict[str, Any]) -> list[str]:
    """The env vars the config's accounts need: the token, and in safe/compatible mode the rest."""
    names = []
    for account in config["accounts"]:
        needed = ("token",) if account.get("mode", "plain") == "plain" else SECRET_FIELDS[:3]
        names += [env_name(account["name"], key) for key in needed if not account.get(key)]
    return names


def fake_secrets(config: dict[str, Any]) -> dict[str, str]:
    """Well-formed secrets for every account, as the environment would hold them."""
    env = {}
    for account in config["accounts"]:
        name = account["name"]
        env[env_name(name, "token")] = "t" + secrets.token_hex(8)
        env[env_name(name, "app_id")] = "wx" + secrets.token_hex(8)
        alphabet = string.ascii_letters + string.digits  # what the MP console generates
        key = "".join(secrets.choice(alphabet) for _ in range(43))
        env[env_name(name, "encoding_aes_key")] = key
    return env


# Dockerfile -------------------------------------------------------------------------------------


def test_dockerfile_base_is_a_pinned_python_slim_image():
    for _, (base, *_) in stages():
        image = base.args.split()[0]
        assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image


def test_the_image_is_one_stage_without_a_compiler():
    """wxhook is pure Python: nothing is compiled, so no build stage and no compiler."""
    assert len(stages()) == 1
    runs = " ".join(i.args for i in image_stage() if i.keyword == "RUN")
    assert not re.search(r"\b(gcc|cc|clang|build-essential|libc6-dev)\b", runs), runs


def test_dockerfile_sets_python_environment():
    env = env_instructions()
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"


def test_dockerfile_installs_dependencies_before_copying_the_package():
    steps = image_stage()
    copies = [(n, *copy_args(i)) for n, i in enumerate(steps) if i.keyword == "COPY"]
    first_copy, first_sources, _ = copies[0]
    assert "pyproject.toml" in first_sources
    assert set(first_sources) <= {"pyproject.toml", "README.md"}, first_sources

    package_copy = next(
        n
        for n, i in enumerate(steps)
        if i.keyword == "COPY" and SOURCE in {s.rstrip("/") for s in copy_args(i)[0]}
    )
    installs = [n for n, i in enumerate(steps) if i.keyword == "RUN" and "pip install" in i.args]
    assert any(first_copy < n < package_copy for n in installs), "no dependency layer"
    package = [steps[n].args for n in installs if n > package_copy]
    assert package and "--no-deps" in package[0], "install the package itself with --no-deps"


def test_dockerfile_runs_as_a_non_root_user():
    steps = image_stage()
    users = [n for n, i in enumerate(steps) if i.keyword == "USER"]
    assert users, "no USER: the server would run as root"
    user = steps[users[-1]].args.split(":")[0]
    assert user not in ("root", "0")
    if user.isdigit():
        assert int(user) >= 1000
    cmd_at = next(n for n, i in enumerate(steps) if i.keyword == "CMD")
    assert users[-1] < cmd_at


def test_dockerfile_healthcheck_uses_python_not_curl():
    options, argv = healthcheck()
    command = " ".join(argv)
    assert not re.search(r"\b(curl|wget)\b", command)
    assert "urllib" in command
    assert f"127.0.0.1:{exposed_port()}/healthz" in command
    assert seconds(options["timeout"]) > 0


def test_dockerfile_cmd_is_exec_form_wxhook_serve():
    argv = cmd()
    assert argv[:3] == ["wxhook", "serve", "--config"]
    assert len(argv) == 4 and argv[3].startswith("/")


def test_dockerfile_exposes_the_configured_port_and_stops_with_sigterm():
    assert exposed_port() == deploy_config()["server"]["port"]
    assert only("STOPSIGNAL").args == "SIGTERM"


def test_dockerignore_keeps_secrets_and_clutter_out_but_not_the_sources():
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for excluded in (".git", ".venv", ".env", "tests", "bench"):
        assert excluded in patterns, f"{excluded} is not in .dockerignore"
    copied = {
        s.rstrip("/")
        for i in dockerfile()
        if i.keyword == "COPY" and not copy_from(i)
        for s in copy_args(i)[0]
    }
    assert not copied & patterns, "a file the Dockerfile copies is ignored"


# docker-compose.yml -----------------------------------------------------------------------------


def test_redis_is_the_official_image():
    assert service("redis")["image"].startswith("redis:")


def test_redis_keeps_failure_records_across_restarts():
    redis = service("redis")
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in compose()["volumes"]


def test_redis_has_a_healthcheck():
    test = service("redis")["healthcheck"]["test"]
    command = test if isinstance(test, str) else " ".join(test)
    assert "redis-cli ping" in command


def test_wxhook_is_built_here_and_waits_for_healthy_redis():
    wxhook = service("wxhook")
    assert wxhook["build"] in (".", {"context": "."})
    assert wxhook["depends_on"]["redis"]["condition"] == "service_healthy"


def test_config_is_mounted_read_only_where_the_cmd_reads_it():
    mounts = {}
    for volume in service("wxhook")["volumes"]:
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            mounts[target] = (source, "ro" in mode)
        else:
            mounts[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
    source, read_only = mounts[config_path_in_image()]
    assert (PROJECT / source).resolve() == DEPLOY_CONFIG
    assert read_only


def test_services_restart():
    for name in ("wxhook", "redis"):
        assert service(name).get("restart") in ("always", "unless-stopped", "on-failure")


def test_stop_grace_period_outlasts_shutdown_grace():
    # On SIGTERM, requests in flight get up to the deadline (+0.5 s), then background handlers
    # get shutdown_grace: Docker must not SIGKILL before both have run out.
    grace = seconds(service("wxhook")["stop_grace_period"])
    config = deploy_config()
    assert grace > config["dispatch"]["deadline"] + 0.5 + config["server"]["shutdown_grace"]


def test_store_url_points_at_the_redis_service():
    url = urlsplit(environment(service("wxhook"))["WXHOOK_STORE_URL"])
    assert url.scheme == "redis"
    assert url.hostname == "redis"
    assert url.password is None, "the Redis password belongs in .env (WXHOOK_STORE_PASSWORD)"


def test_ports_allow_scaling_wxhook():
    # `--scale wxhook=3` cannot publish one fixed host port three times.
    for port in service("wxhook").get("ports", []):
        if isinstance(port, dict):
            published = port.get("published")
        else:
            parts = str(port).split(":")  # [[ip:]published:]target
            published = parts[-2] if len(parts) > 1 else ""
        assert not published, f"{port!r} publishes a fixed host port"


def test_compose_holds_no_secrets():
    for name, svc in compose()["services"].items():
        for key, value in environment(svc).items():
            assert not SECRET_NAME.search(key), f"{name}: {key} belongs in .env"
            assert value is None or "@" not in value, f"{name}: {key} has credentials in it"
    text = COMPOSE.read_text(encoding="utf-8")
    for key in env_example():
        assert not re.search(rf"^\s*-?\s*{key}\s*[:=]", text, re.MULTILINE), key


def test_secrets_come_from_env_file_described_by_env_example():
    assert service("wxhook")["env_file"] in (".env", [".env"])
    assert ENV_EXAMPLE.exists()
    missing = set(required_secrets(deploy_config())) - set(env_example())
    assert not missing, f".env.example does not name {sorted(missing)}"


# deploy/config.toml ----------------------------------------------------------------------------


def test_deploy_config_holds_no_secrets():
    for account in deploy_config()["accounts"]:
        for key in SECRET_FIELDS:
            assert not account.get(key), f"{account['name']}.{key}: put it in .env instead"


def test_deploy_config_validates_with_secrets_from_the_environment():
    config = load_config(DEPLOY_CONFIG, env=fake_secrets(deploy_config()))
    assert config.store.url == "redis://redis:6379/0"
    assert config.log.format == "json"
    assert config.plugins.modules == ()
    assert [(a.name, a.path, a.mode) for a in config.accounts] == [("main", "/wechat", "safe")]


def test_env_example_placeholders_do_not_start_a_server():
    # A copy of .env.example that nobody filled in must stop the start, not serve fake secrets.
    with pytest.raises(ConfigError, match="encoding_aes_key must be 43"):
        load_config(DEPLOY_CONFIG, env=env_example())


# Replaying the Dockerfile -----------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """The Dockerfile's build, replayed: a venv for /usr/local, directories for WORKDIRs."""

    venv: Path
    workdir: Path  # the last WORKDIR: where the CMD runs
    env: dict[str, str]  # the process environment inside the "container"

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def base_env(venv: Path) -> dict[str, str]:
    """This machine's environment (for pip's index settings), without wxhook's variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WXHOOK_", "PROMETHEUS_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env.update(env_instructions())
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def replay_copy(sources: list[str], dest: Path, into_dir: bool, origin: Path = PROJECT) -> None:
    """COPY from the project (or from an earlier stage's files, `origin`): directories by their
    contents, files into or onto `dest`."""
    into_dir = into_dir or len(sources) > 1 or dest.is_dir()
    for name in sources:
        src = origin / name.lstrip("/")
        if src.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.egg-info")
            shutil.copytree(src, dest, dirs_exist_ok=True, ignore=ignore)
        else:
            target = dest / src.name if into_dir else dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    root = tmp_path_factory.mktemp("image")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=VENV_TIMEOUT)
    env = base_env(venv)
    # Each stage's container paths map to fs-<n>/<path>; its pip steps run in the one venv.
    # apt-get steps are Docker's alone.
    filesystems: dict[str, Path] = {}
    for n, (name, steps) in enumerate(stages()):
        fs = filesystems[name or str(n)] = root / f"fs-{n}"
        workdir = fs
        for ins in steps:
            workdir = replay(ins, fs, workdir, env, filesystems)
    return Image(venv=venv, workdir=workdir, env=env)


def replay(
    ins: Instruction, fs: Path, workdir: Path, env: dict[str, str], stage_fs: dict[str, Path]
) -> Path:
    """One instruction of a stage replayed; the working directory after it."""
    if ins.keyword == "WORKDIR":
        workdir = fs / ins.args.lstrip("/") if ins.args.startswith("/") else workdir / ins.args
        workdir.mkdir(parents=True, exist_ok=True)
    elif ins.keyword == "COPY":
        sources, dest = copy_args(ins)
        target = fs / dest.lstrip("/") if dest.startswith("/") else workdir / dest
        origin = stage_fs[copy_from(ins)] if copy_from(ins) else PROJECT
        replay_copy(sources, target, dest.endswith(("/", "/.", ".")), origin)
    elif ins.keyword == "RUN" and ("pip install" in ins.args or "pip wheel" in ins.args):
        run = subprocess.run(
            ["/bin/sh", "-c", ins.args],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
        )
        assert run.returncode == 0, f"RUN {ins.args}\n{run.stdout[-3000:]}{run.stderr[-3000:]}"
    return workdir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def to_toml(data: dict[str, Any]) -> str:
    """Enough TOML for a wxhook config: tables and arrays of tables of scalars and string lists."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} as TOML")

    lines = []
    for name, section in data.items():
        tables = [(f"[[{name}]]", t) for t in section] if isinstance(section, list) else []
        for header, table in tables or [(f"[{name}]", section)]:
            lines += [header, *(f"{k} = {value(v)}" for k, v in table.items()), ""]
    text = "\n".join(lines)
    assert tomllib.loads(text) == data
    return text


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    secrets: dict[str, str]


def wait_healthy(server: Server) -> None:
    url = f"http://127.0.0.1:{server.port}/healthz"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"wxhook exited with {server.proc.returncode}:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer 200 within {START_TIMEOUT} s:\n{server.log.read_text()}")


@pytest.fixture
def server(image: Image, tmp_path: Path) -> Iterator[Server]:
    """The image's CMD, run with deploy/config.toml on memory:// and a free loopback port."""
    config = deploy_config()
    port = free_port()
    config["server"].update(host="127.0.0.1", port=port)
    config["ops"].update(host="127.0.0.1", port=free_port())  # its own, on loopback only
    config["store"]["url"] = "memory://"
    config_file = tmp_path / "config.toml"
    config_file.write_text(to_toml(config), encoding="utf-8")

    argv = cmd()
    argv[0] = image.bin(argv[0])
    argv[argv.index("--config") + 1] = str(config_file)
    fake = fake_secrets(config)
    log = tmp_path / "wxhook.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=image.workdir, env={**image.env, **fake}, stdout=out, stderr=out
        )
    running = Server(proc, port, log, fake)
    try:
        wait_healthy(running)
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()  # only the process this fixture started
        proc.wait(timeout=10)


def run_healthcheck(image: Image, port: int) -> subprocess.CompletedProcess[bytes]:
    """The Dockerfile's HEALTHCHECK command, with the image's python, against `port`."""
    options, argv = healthcheck()
    exposed = f"127.0.0.1:{exposed_port()}"
    adapted = [arg.replace(exposed, f"127.0.0.1:{port}") for arg in argv]
    assert adapted != argv, f"the HEALTHCHECK does not probe {exposed}"
    adapted[0] = image.bin(adapted[0])
    return subprocess.run(
        adapted, env=image.env, capture_output=True, timeout=seconds(options["timeout"])
    )


def test_replayed_image_holds_pure_python_and_reads_xml_through_defusedxml(image: Image):
    """The installed package (not this checkout) has no compiled extension, and decoding a push
    goes through defusedxml."""
    probe = (
        "import sys, pathlib, wxhook; from wxhook.core import parse_xml; "
        "assert parse_xml(b'<xml><A>1</A></xml>') == {'A': '1'}; "
        "assert 'defusedxml' in sys.modules; "
        "root = pathlib.Path(wxhook.__file__).parent; "
        "print(root); print(*(p for p in root.rglob('*') if p.suffix in ('.so', '.pyd', '.c')))"
    )
    run = subprocess.run(
        [image.bin("python"), "-c", probe],
        cwd=image.workdir,
        env=image.env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert run.returncode == 0, run.stderr
    installed, compiled = run.stdout.splitlines()
    assert installed.startswith(str(image.venv))  # the installed wheel, not this checkout
    assert compiled == ""


def test_replayed_image_passes_its_healthcheck(image: Image, server: Server):
    check = run_healthcheck(image, server.port)
    assert check.returncode == 0, check.stderr.decode()


def test_replayed_healthcheck_fails_when_nothing_listens(image: Image):
    assert run_healthcheck(image, free_port()).returncode != 0


def test_replayed_image_stops_on_its_stopsignal_within_shutdown_grace(server: Server):
    grace = deploy_config()["server"]["shutdown_grace"]
    stop = signal.Signals[only("STOPSIGNAL").args]
    started = time.monotonic()
    os.kill(server.proc.pid, stop)
    try:
        code = server.proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pytest.fail(f"wxhook still runs {grace} s after {stop.name}")
    assert code == 0, server.log.read_text()
    assert time.monotonic() - started < grace


def test_replayed_image_logs_json_lines_without_secrets(server: Server):
    text = server.log.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any("serving" in r["msg"] for r in records), text
    for secret in server.secrets.values():
        assert secret not in text
