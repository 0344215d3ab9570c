"""Configuration: every problem stops the start with one line naming the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from wxhook.config import ConfigError, env_name, load_config, parse_config

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def base(**account):
    return {"accounts": [{"name": "main", "path": "/wechat", "token": "t", **account}]}


def test_defaults():
    c = parse_config(base(), env={})
    assert c.server.port == 8080 and c.dispatch.deadline == 4.5 and c.store.url == "memory://"
    assert c.accounts[0].mode == "plain"
    assert (c.ops.host, c.ops.port) == ("127.0.0.1", 9108)  # the ops listener: loopback only


def test_the_ops_listener_address_comes_from_the_environment():
    env = {"WXHOOK_OPS_HOST": "0.0.0.0", "WXHOOK_OPS_PORT": "9200"}
    c = parse_config({**base(), "ops": {"port": 9300}}, env=env)
    assert (c.ops.host, c.ops.port) == ("0.0.0.0", 9200)
    with pytest.raises(ConfigError, match="WXHOOK_OPS_PORT must be a port number"):
        parse_config(base(), env={"WXHOOK_OPS_PORT": "nine"})


@pytest.mark.parametrize(
    "data,needle",
    [
        (base(token=""), "accounts[0] (main).token is missing"),
        (base(encoding_aes_key="short", app_id="wx1", mode="safe"), "encoding_aes_key must be 43"),
        (base(mode="safe"), "encoding_aes_key is missing"),
        (base(encoding_aes_key=KEY), "app_id is missing"),
        (base(mode="secret"), "mode must be one of plain, compatible, safe"),
        (base(path="wechat"), "must start with '/'"),
        (
            {
                "accounts": [
                    {"name": "a", "path": "/w", "token": "t"},
                    {"name": "b", "path": "/w", "token": "t"},
                ]
            },
            "already used by account 'a'",
        ),
        ({"accounts": []}, "accounts: none configured"),
        ({**base(), "server": {"prot": 1}}, "did you mean 'port'"),
        ({**base(), "servr": {}}, "did you mean 'server'"),
        ({**base(), "dispatch": {"deadline": 6}}, "WeChat waits 5"),
        ({**base(), "store": {"url": "mysql://x"}}, "store.url must start with"),
        ({**base(), "server": {"port": "80"}}, "server.port must be int"),
        ({**base(), "plugins": {"modules": "a.b"}}, "list of strings"),
        ({**base(), "server": {"workers": 2}}, "needs a store the workers share"),
        ({**base(), "server": {"http": "wxhook"}}, "server.http was removed: aiohttp is the only"),
        ({**base(), "ops": {"port": 8080}}, "ops.port 8080 is server.port"),
        ({**base(), "ops": {"port": 70000}}, "ops.port must be 1..65535, or 0"),
    ],
)
def test_validation_names_key_and_fix(data, needle):
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_environment_overrides_secrets():
    env = {
        env_name("main", "token"): "from-env",
        env_name("main", "app_id"): "wxenv",
        env_name("main", "encoding_aes_key"): KEY,
        "WXHOOK_STORE_URL": "redis://127.0.0.1:6379/3",
    }
    c = parse_config(base(token="", mode="safe"), env=env)
    a = c.accounts[0]
    assert (a.token, a.app_id, a.encoding_aes_key) == ("from-env", "wxenv", KEY)
    assert c.store.url == "redis://127.0.0.1:6379/3"
    assert env_name("my-shop", "token") == "WXHOOK_MY_SHOP_TOKEN"


def test_load_config_reports_file_problems(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_store_urls_are_logged_without_credentials():
    from wxhook.cli import redacted

    assert redacted("memory://") == "memory://"
    assert redacted("redis://:s3cret@redis:6379/0") == "redis://redis:6379/0"
    assert redacted("rediss://u:pw@h:6380/1?password=x&ssl_ca_certs=/ca.pem") == (
        "rediss://h:6380/1?ssl_ca_certs=/ca.pem"
    )


def test_event_loop_setting_is_checked():
    from wxhook.config import ConfigError, parse_config

    base = {"accounts": [{"name": "m", "path": "/w", "token": "t"}]}
    assert parse_config(base, env={}).server.event_loop == "auto"
    with pytest.raises(ConfigError, match=r"server\.event_loop must be"):
        parse_config({**base, "server": {"event_loop": "trio"}}, env={})


SENTINELS = ["127.0.0.1:26379", "127.0.0.1:26380"]


@pytest.mark.parametrize(
    "store,needle",
    [
        (
            {"url": "redis://h:6379", "cluster": True, "sentinels": SENTINELS},
            "store.cluster and store.sentinels are both set",
        ),
        ({"sentinels": SENTINELS}, "store.sentinel_service is missing"),
        (
            {"sentinels": ["127.0.0.1"], "sentinel_service": "mymaster"},
            'store.sentinels[0] must be "host:port"',
        ),
        ({"sentinel_service": "mymaster"}, "store.sentinel_service is set but store.sentinels"),
        ({"sentinels": "127.0.0.1:26379"}, "store.sentinels must be a list of strings"),
        (
            {"sentinels": SENTINELS, "sentinel_service": "m", "url": "unix:///r.sock"},
            "store.url: with sentinels",
        ),
        ({"cluster": True}, "store.url must name one node of the cluster"),
        ({"cluster": True, "url": "redis://h:7000/2"}, "a Redis Cluster has only database 0"),
    ],
)
def test_store_topology_is_checked(store, needle):
    with pytest.raises(ConfigError) as info:
        parse_config({**base(), "store": store}, env={})
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_store_topologies_accepted():
    sentinel = parse_config(
        {**base(), "store": {"sentinels": SENTINELS, "sentinel_service": "mymaster"}}, env={}
    ).store
    assert sentinel.topology == "sentinel" and sentinel.sentinels == tuple(SENTINELS)
    cluster = parse_config({**base(), "store": {"url": "redis://h:7000", "cluster": True}}, env={})
    assert cluster.store.topology == "cluster"
    assert parse_config(base(), env={}).store.topology == "memory"
    workers = {"server": {"workers": 2}}  # sentinels are shared by the workers: no memory://
    assert (
        parse_config(
            {**base(), **workers, "store": {"sentinels": SENTINELS, "sentinel_service": "m"}},
            env={},
        ).server.workers
        == 2
    )
