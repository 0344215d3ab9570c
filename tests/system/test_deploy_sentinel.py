"""deploy/docker-compose.sentinel.yml and deploy/config.sentinel.toml agree with each other and
with the rest of the deployment (docs/topologies.md). Docker itself is not run here."""

from __future__ import annotations

import tomllib
from typing import Any

import yaml
from test_deploy import PROJECT, fake_secrets, seconds

from wxhook.config import SECRET_FIELDS, load_config

COMPOSE = PROJECT / "deploy" / "docker-compose.sentinel.yml"
CONFIG = PROJECT / "deploy" / "config.sentinel.toml"


def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def sentinel_conf(svc: dict[str, Any]) -> list[str]:
    script = svc["command"][-1]
    return [line.strip() for line in script.splitlines()]


def test_one_primary_one_replica_three_sentinels_two_wxhooks():
    s = services()
    assert sorted(s) == sorted(
        ["redis-primary", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3",
         "wxhook-a", "wxhook-b"]
    )  # fmt: skip
    replica = s["redis-replica"]["command"]
    at = replica.index("--replicaof")
    assert replica[at + 1 : at + 3] == ["redis-primary", "6379"]
    for name in ("redis-primary", "redis-replica"):  # the failure records survive restarts
        assert "--appendonly" in s[name]["command"] and s[name]["volumes"]


def test_sentinels_monitor_the_primary_with_a_majority_quorum():
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        conf = sentinel_conf(services()[name])
        assert "port 26379" in conf
        assert "sentinel monitor mymaster redis-primary 6379 2" in conf  # 2 of 3
        assert "sentinel resolve-hostnames yes" in conf  # compose service names, not IPs
        assert services()[name]["command"][-1].rstrip().endswith("--sentinel")


def test_config_names_the_sentinels_of_the_compose_file():
    config = load_config(CONFIG, env=fake_secrets(tomllib.loads(CONFIG.read_text())))
    st = config.store
    assert st.topology == "sentinel" and st.sentinel_service == "mymaster"
    assert sorted(st.sentinels) == [f"sentinel-{i}:26379" for i in (1, 2, 3)]
    raw = tomllib.loads(CONFIG.read_text())
    for account in raw["accounts"]:
        assert not any(account.get(k) for k in SECRET_FIELDS)


def test_both_wxhook_replicas_read_that_config_and_outlast_their_grace():
    grace = load_config(
        CONFIG, env=fake_secrets(tomllib.loads(CONFIG.read_text()))
    ).server.shutdown_grace
    for name in ("wxhook-a", "wxhook-b"):
        svc = services()[name]
        assert svc["build"] == ".."
        assert "./config.sentinel.toml:/etc/wxhook/config.toml:ro" in svc["volumes"]
        assert svc["env_file"] == "../.env"
        assert "WXHOOK_STORE_URL" not in (svc.get("environment") or {})
        assert set(svc["depends_on"]) == {"sentinel-1", "sentinel-2", "sentinel-3"}
        assert seconds(svc["stop_grace_period"]) > grace + 5


def test_paths_named_in_the_compose_file_exist():
    base = COMPOSE.parent
    assert (base / "config.sentinel.toml").is_file()
    assert (base / ".." / "Dockerfile").is_file()
    assert (base / ".." / ".env.example").is_file()
