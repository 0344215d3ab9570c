"""Configuration: one TOML file, secrets from the environment, validated once at start."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .core import AccountKeys, WxhookError
from .core.errors import ProtocolError
from .core.sansio import MODES


class ConfigError(WxhookError):
    """A setting that stops the start; the message names the key and the fix."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """[server]"""

    host: str = "0.0.0.0"  # noqa: S104 - a callback server listens for WeChat by design
    port: int = 8080
    max_body_bytes: int = 256 * 1024
    workers: int = 1
    shutdown_grace: float = 20.0
    read_timeout: float = 10.0
    event_loop: str = "auto"
    keepalive_timeout: float = 75.0


@dataclass(frozen=True, slots=True)
class OpsConfig:
    """[ops]: the operators' listener (/metrics, /readyz, /healthz), off the callback port."""

    host: str = "127.0.0.1"
    port: int = 9108  # 0: no ops listener


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """[dispatch]"""

    deadline: float = 4.5
    background_timeout: float = 60.0
    max_background: int = 1000
    max_in_flight: int = 1000


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """[security]"""

    timestamp_tolerance: float = 300.0
    # Plain mode: answer 403 to a signed URL that comes again with another body. Off by default:
    # genuine pushes sometimes share a URL (docs/security.md gives the false-refusal rate).
    refuse_url_reuse: bool = False


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """[api]: the outbound WeChat API client (access tokens, customer-service messages)."""

    base_url: str = "https://api.weixin.qq.com"
    timeout: float = 5.0
    retries: int = 2
    token_refresh_margin: float = 300.0


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """[store]"""

    url: str = "memory://"
    dedup_ttl: int = 300
    password: str = ""
    socket_timeout: float = 0.5
    connect_timeout: float = 0.5
    max_connections: int = 64
    memory_max_keys: int = 100_000
    failures_max: int = 1000
    # Sentinel: the sentinels' "host:port" and the name they monitor the primary by.
    sentinels: tuple[str, ...] = ()
    sentinel_service: str = ""
    sentinel_password: str = ""
    # Cluster: url names one node; the client discovers the others.
    cluster: bool = False

    @property
    def topology(self) -> str:
        """memory, single (one Redis node), sentinel or cluster."""
        if self.cluster:
            return "cluster"
        if self.sentinels:
            return "sentinel"
        return "memory" if self.url.startswith("memory://") else "single"


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One [[accounts]] entry."""

    name: str
    path: str
    token: str = ""
    app_id: str = ""
    encoding_aes_key: str = ""
    mode: str = "plain"
    require_encryption: bool = False
    original_id: str = ""
    previous_token: str = ""
    previous_encoding_aes_key: str = ""
    previous_valid_until: float = 0.0  # epoch seconds; TOML gives a date-time with an offset
    app_secret: str = ""
    late_replies: bool = False

    def keys(self) -> AccountKeys:
        """The protocol core's view of this account (already validated by load_config)."""
        return AccountKeys.create(
            token=self.token,
            app_id=self.app_id,
            encoding_aes_key=self.encoding_aes_key,
            mode=self.mode,  # type: ignore[arg-type]
            require_encryption=self.require_encryption,
            original_id=self.original_id,
            previous_token=self.previous_token,
            previous_encoding_aes_key=self.previous_encoding_aes_key,
            previous_until=self.previous_valid_until,
        )


@dataclass(frozen=True, slots=True)
class PluginsConfig:
    """[plugins]"""

    modules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LogConfig:
    """[log]"""

    level: str = "INFO"
    format: str = "text"


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """[metrics]"""

    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    server: ServerConfig = field(default_factory=ServerConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    accounts: tuple[AccountConfig, ...] = ()
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    source: str = "<defaults>"


_SECTIONS = {
    "server": ServerConfig,
    "ops": OpsConfig,
    "dispatch": DispatchConfig,
    "store": StoreConfig,
    "security": SecurityConfig,
    "api": ApiConfig,
    "plugins": PluginsConfig,
    "log": LogConfig,
    "metrics": MetricsConfig,
}
SECRET_FIELDS = (
    "token",
    "app_id",
    "encoding_aes_key",
    "previous_token",
    "previous_encoding_aes_key",
    "app_secret",
)
# Settings that moved, and where to: named in the error instead of "not a setting".
_MOVED = {"server.max_timestamp_skew": "security.timestamp_tolerance"}
# Settings that are gone, and why: named in the error instead of "not a setting".
_REMOVED = {
    "server.http": "aiohttp is the only HTTP server now; delete the line",
}


def env_name(account: str, key: str) -> str:
    """WXHOOK_<ACCOUNT>_<KEY>: the variable that overrides one account's secret."""
    return f"WXHOOK_{re.sub(r'[^A-Za-z0-9]', '_', account).upper()}_{key.upper()}"


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"


def _coerce(where: str, value: Any, default: Any) -> Any:
    expected = type(default)
    if expected is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            example = '["10.0.0.5:26379"]' if where.endswith("sentinels") else '["myplugins.menu"]'
            raise ConfigError(f"{where} must be a list of strings, e.g. {example}")
        return tuple(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where} must be {expected.__name__}, got {value!r}")
    return value


def _section(name: str, cls: type, data: Any) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if f"{name}.{key}" in _MOVED:
            raise ConfigError(f"{name}.{key} has moved: write {_MOVED[name + '.' + key]}")
        if f"{name}.{key}" in _REMOVED:
            raise ConfigError(f"{name}.{key} was removed: {_REMOVED[name + '.' + key]}")
        if key not in known:
            raise ConfigError(f"{name}.{key} is not a setting: {_suggest(key, list(known))}")
        kwargs[key] = _coerce(f"{name}.{key}", value, getattr(cls(), key))
    return cls(**kwargs)


def _account(index: int, data: Any, env: Mapping[str, str]) -> AccountConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"accounts[{index}] must be a table ([[accounts]])")
    known = [f.name for f in fields(AccountConfig)]
    for key in data:
        if key not in known:
            raise ConfigError(f"accounts[{index}].{key} is not a setting: {_suggest(key, known)}")
    for key in ("name", "path"):
        if not isinstance(data.get(key), str) or not data[key]:
            example = {"name": '"main"', "path": '"/wechat"'}[key]
            raise ConfigError(f"accounts[{index}].{key} is missing: add {key} = {example}")
    values = dict(data)
    for key in ("token", "app_id", "encoding_aes_key", "mode", "original_id", *SECRET_FIELDS):
        if not isinstance(values.get(key, ""), str):
            raise ConfigError(f"accounts[{index}].{key} must be a string")
    for key in ("require_encryption", "late_replies"):
        if not isinstance(values.get(key, False), bool):
            raise ConfigError(f"accounts[{index}].{key} must be true or false")
    if "previous_valid_until" in values:
        values["previous_valid_until"] = _instant(
            f"accounts[{index}].previous_valid_until", values["previous_valid_until"]
        )
    name = values["name"]
    for key in SECRET_FIELDS:
        if env.get(env_name(name, key)):
            values[key] = env[env_name(name, key)]
    return AccountConfig(**values)


def _instant(where: str, value: Any) -> float:
    """A TOML date-time (or ISO 8601 string) with a UTC offset, as epoch seconds; "" is unset."""
    if value == "":
        return 0.0
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        raise ConfigError(f"{where} must be a date-time, e.g. 2026-12-01T00:00:00+08:00")
    if value.tzinfo is None:
        raise ConfigError(f"{where} needs a UTC offset, e.g. {value.isoformat()}+08:00")
    return value.timestamp()


def _check_account(a: AccountConfig, where: str) -> None:
    if not a.path.startswith("/"):
        raise ConfigError(f"{where}.path {a.path!r} must start with '/', e.g. \"/wechat\"")
    if a.mode not in MODES:
        raise ConfigError(f"{where}.mode must be one of {', '.join(MODES)}, got {a.mode!r}")
    if not a.token:
        raise ConfigError(
            f"{where}.token is missing: set it (the Token of the MP console's 服务器配置) "
            f"or the environment variable {env_name(a.name, 'token')}"
        )
    if a.encoding_aes_key and len(a.encoding_aes_key) != 43:
        raise ConfigError(
            f"{where}.encoding_aes_key must be 43 characters, got {len(a.encoding_aes_key)}: "
            f"copy the EncodingAESKey again (or set {env_name(a.name, 'encoding_aes_key')})"
        )
    if a.mode != "plain" and not a.encoding_aes_key:
        raise ConfigError(
            f"{where}.encoding_aes_key is missing: {a.mode} mode needs it "
            f'(or set {env_name(a.name, "encoding_aes_key")}, or mode = "plain")'
        )
    if a.encoding_aes_key and not a.app_id:
        raise ConfigError(
            f"{where}.app_id is missing: decrypted messages end with the AppID "
            f"(set it or {env_name(a.name, 'app_id')})"
        )
    if a.require_encryption and a.mode == "plain":
        raise ConfigError(
            f'{where}.require_encryption needs mode = "compatible" or "safe": in plain mode '
            "WeChat sends no ciphertext"
        )
    if a.original_id and not a.original_id.startswith("gh_"):
        raise ConfigError(
            f"{where}.original_id {a.original_id!r} must be the account's original id (gh_...), "
            "shown in the MP console under 设置与开发 → 账号设置"
        )
    if (a.previous_token or a.previous_encoding_aes_key) and not a.previous_valid_until:
        raise ConfigError(
            f"{where}.previous_valid_until is missing: previous keys are accepted only until a "
            "set time, e.g. previous_valid_until = 2026-12-01T00:00:00+08:00"
        )
    if a.previous_encoding_aes_key and len(a.previous_encoding_aes_key) != 43:
        raise ConfigError(
            f"{where}.previous_encoding_aes_key must be 43 characters, "
            f"got {len(a.previous_encoding_aes_key)}"
        )
    if a.late_replies and not a.app_secret:
        raise ConfigError(
            f"{where}.late_replies = true needs the account's AppSecret: set the environment "
            f"variable {env_name(a.name, 'app_secret')} (开发 → 基本配置 → AppSecret), or "
            "late_replies = false"
        )
    if a.app_secret and not a.app_id:
        raise ConfigError(
            f"{where}.app_id is missing: the AppSecret is used with the AppID to get access "
            f"tokens (set it or {env_name(a.name, 'app_id')})"
        )
    if a.previous_token and a.previous_token == a.token:
        raise ConfigError(f"{where}.previous_token is the current token: set the old one")
    if a.previous_encoding_aes_key and a.previous_encoding_aes_key == a.encoding_aes_key:
        raise ConfigError(f"{where}.previous_encoding_aes_key is the current key: set the old one")
    if a.previous_encoding_aes_key and not a.encoding_aes_key:
        raise ConfigError(f"{where}.previous_encoding_aes_key is set but encoding_aes_key is not")
    try:
        a.keys()
    except ProtocolError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _host_port(where: str, value: str) -> None:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f'{where} must be "host:port", e.g. "10.0.0.5:26379", got {value!r}')


def _check_topology(st: StoreConfig) -> None:
    """One node (url), Sentinel (sentinels + sentinel_service) or Cluster (cluster + url)."""
    if st.cluster and st.sentinels:
        raise ConfigError(
            "store.cluster and store.sentinels are both set: a Redis Cluster has no sentinels, "
            "keep one of them"
        )
    if st.sentinels:
        if not st.sentinel_service:
            raise ConfigError(
                "store.sentinel_service is missing: name the primary the sentinels monitor, "
                'e.g. sentinel_service = "mymaster"'
            )
        for i, node in enumerate(st.sentinels):
            _host_port(f"store.sentinels[{i}]", node)
        if st.url.startswith("unix://"):
            raise ConfigError(
                "store.url: with sentinels it gives only the database and credentials, "
                'e.g. "redis://:password@/0"; unix:// is not a sentinel-managed address'
            )
    elif st.sentinel_service or st.sentinel_password:
        key = "sentinel_service" if st.sentinel_service else "sentinel_password"
        raise ConfigError(
            f'store.{key} is set but store.sentinels is not: add sentinels = ["host:26379", ...]'
        )
    if st.cluster:
        if not st.url.startswith(("redis://", "rediss://")):
            raise ConfigError(
                "store.url must name one node of the cluster (redis://host:port or rediss://...) "
                f"when store.cluster = true, got {st.url!r}"
            )
        db = urlsplit(st.url).path.strip("/")
        if db not in ("", "0"):
            raise ConfigError(
                f"store.url selects database {db}: a Redis Cluster has only database 0"
            )


def _check(config: Config) -> None:
    s, d, st = config.server, config.dispatch, config.store
    if not 0 < s.port < 65536:
        raise ConfigError(f"server.port must be 1..65535, got {s.port}")
    if s.max_body_bytes < 1024:
        raise ConfigError("server.max_body_bytes must be at least 1024 (WeChat pushes are ~1 KB)")
    if s.workers < 1:
        raise ConfigError("server.workers must be at least 1")
    if s.workers > 1 and st.topology == "memory":
        raise ConfigError(
            f"server.workers = {s.workers} needs a store the workers share: memory:// lives in "
            "one process, so retries reaching another worker would run handlers twice; set "
            "store.url to redis://... (or WXHOOK_STORE_URL)"
        )
    if not 0 < d.deadline < 5:
        raise ConfigError(
            f"dispatch.deadline must be between 0 and 5 seconds (WeChat waits 5), got {d.deadline}"
        )
    if d.background_timeout < 0 or d.max_background < 0:
        raise ConfigError("dispatch.background_timeout and max_background must not be negative")
    if not st.url.startswith(("memory://", "redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"store.url must start with memory://, redis://, rediss:// or unix://, got {st.url!r}"
        )
    _check_topology(st)
    if st.dedup_ttl < 30:
        raise ConfigError("store.dedup_ttl must be at least 30 seconds (WeChat retries for ~20 s)")
    tolerance = config.security.timestamp_tolerance
    if tolerance < 0:
        raise ConfigError("security.timestamp_tolerance must be 0 (off) or a number of seconds")
    if tolerance and st.dedup_ttl < tolerance:
        raise ConfigError(
            f"store.dedup_ttl ({st.dedup_ttl}) must not be shorter than "
            f"security.timestamp_tolerance ({tolerance:g}): a replay still inside the window "
            "would run the handlers again"
        )
    if s.keepalive_timeout <= 0:
        raise ConfigError("server.keepalive_timeout must be a positive number of seconds")
    ops = config.ops
    if not 0 <= ops.port < 65536:
        raise ConfigError(f"ops.port must be 1..65535, or 0 for no ops listener, got {ops.port}")
    if ops.port and ops.port == s.port:
        raise ConfigError(
            f"ops.port {ops.port} is server.port: the ops listener needs a port of its own "
            "(or ops.port = 0 for none)"
        )
    if s.event_loop not in ("auto", "uvloop", "asyncio"):
        raise ConfigError(
            f'server.event_loop must be "auto", "uvloop" or "asyncio", got {s.event_loop!r}'
        )
    if s.read_timeout <= 0:
        raise ConfigError("server.read_timeout must be a positive number of seconds")
    if d.max_in_flight < 1:
        raise ConfigError("dispatch.max_in_flight must be at least 1")
    api = config.api
    if not api.base_url.startswith(("https://", "http://")):
        raise ConfigError(f"api.base_url must be an http(s) URL, got {api.base_url!r}")
    if not 0 <= api.token_refresh_margin < 3600:
        raise ConfigError(
            "api.token_refresh_margin must be between 0 and 3600 seconds (tokens live 7200)"
        )
    if api.timeout <= 0 or api.retries < 0:
        raise ConfigError("api.timeout must be positive and api.retries not negative")
    if config.log.format not in ("text", "json"):
        raise ConfigError(f'log.format must be "text" or "json", got {config.log.format!r}')
    if not config.accounts:
        raise ConfigError(
            "accounts: none configured: add an [[accounts]] table with name, path and token"
        )
    seen_paths: dict[str, str] = {}
    seen_names: set[str] = set()
    reserved = {"/healthz", "/readyz", "/metrics"}
    for i, a in enumerate(config.accounts):
        where = f"accounts[{i}] ({a.name})"
        _check_account(a, where)
        if a.path in reserved:
            raise ConfigError(f"{where}.path {a.path!r} is reserved for health and metrics")
        if a.path in seen_paths:
            raise ConfigError(
                f"{where}.path {a.path!r} is already used by account {seen_paths[a.path]!r}: "
                "give each account its own path"
            )
        if a.name in seen_names:
            raise ConfigError(f"{where}.name {a.name!r} is used twice: names must be unique")
        seen_paths[a.path] = a.name
        seen_names.add(a.name)


def parse_config(
    data: Mapping[str, Any], *, env: Mapping[str, str] | None = None, source: str = "<dict>"
) -> Config:
    """Build and validate a Config from parsed TOML and the environment."""
    env = os.environ if env is None else env
    known = [*_SECTIONS, "accounts"]
    kwargs: dict[str, Any] = {"source": source}
    for key, value in data.items():
        if key == "accounts":
            if not isinstance(value, list):
                raise ConfigError("accounts must be an array of tables: write [[accounts]]")
            kwargs["accounts"] = tuple(_account(i, a, env) for i, a in enumerate(value))
        elif key in _SECTIONS:
            kwargs[key] = _section(key, _SECTIONS[key], value)
        else:
            raise ConfigError(f"[{key}] is not a section: {_suggest(key, known)}")
    config = Config(**kwargs)
    store_url = env.get("WXHOOK_STORE_URL")
    store_password = env.get("WXHOOK_STORE_PASSWORD")
    sentinel_password = env.get("WXHOOK_STORE_SENTINEL_PASSWORD")
    if store_url or store_password or sentinel_password:
        config = replace(
            config,
            store=replace(
                config.store,
                url=store_url or config.store.url,
                password=store_password or config.store.password,
                sentinel_password=sentinel_password or config.store.sentinel_password,
            ),
        )
    config = _ops_from_env(config, env)
    _check(config)
    return config


def _ops_from_env(config: Config, env: Mapping[str, str]) -> Config:
    # A container publishes or hides the ops listener from outside the file: its address is
    # deployment, not configuration.
    host, port = env.get("WXHOOK_OPS_HOST"), env.get("WXHOOK_OPS_PORT")
    if port:
        try:
            number = int(port)
        except ValueError:
            raise ConfigError(f"WXHOOK_OPS_PORT must be a port number, got {port!r}") from None
        config = replace(config, ops=replace(config.ops, port=number))
    if host:
        config = replace(config, ops=replace(config.ops, host=host))
    return config


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Read a TOML file and validate it; every problem is one ConfigError line."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file (copy config.example.toml to start)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    try:
        return parse_config(data, env=env, source=str(p))
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None


__all__ = [
    "AccountConfig",
    "ApiConfig",
    "Config",
    "ConfigError",
    "DispatchConfig",
    "LogConfig",
    "MetricsConfig",
    "OpsConfig",
    "PluginsConfig",
    "SecurityConfig",
    "ServerConfig",
    "StoreConfig",
    "env_name",
    "load_config",
    "parse_config",
]
