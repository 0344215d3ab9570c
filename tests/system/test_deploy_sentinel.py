"""docker-compose.sentinel.yml and deploy/config.sentinel.toml describe one Sentinel setup
(docs/topologies.md). What both compose files share is checked in test_deploy.py, and
test_compose.py runs this one with a Docker engine."""

from __future__ import annotations

from typing import Any

import yaml
from test_deploy import PROJECT, defaults

from wxhook.config import load_config

COMPOSE = PROJECT / "docker-compose.sentinel.yml"
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
         "check", "wxhook-a", "wxhook-b"]
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
    config = load_config(CONFIG, env=defaults(COMPOSE))
    st = config.store
    assert st.topology == "sentinel" and st.sentinel_service == "mymaster"
    assert sorted(st.sentinels) == [f"sentinel-{i}:26379" for i in (1, 2, 3)]
    for name in ("check", "wxhook-a", "wxhook-b"):
        svc = services()[name]
        assert "./deploy/config.sentinel.toml:/etc/wxhook/config.toml:ro" in svc["volumes"]
        assert "WXHOOK_STORE_URL" not in svc["environment"]  # the sentinels say where
        assert {"sentinel-1", "sentinel-2", "sentinel-3"} <= set(svc["depends_on"])
