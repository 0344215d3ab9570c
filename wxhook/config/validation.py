"""The rules a configuration must keep before the server starts: each broken one is a
ConfigError naming the key and the fix."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..core.errors import ProtocolError
from ..core.sansio import MODES
from .environment import env_name
from .errors import ConfigError
from .sections import AccountConfig, Config, StoreConfig


def validate_account(account: AccountConfig, where: str) -> None:
    """The rules of one account; `where` names it in the message."""
    if not account.path.startswith("/"):
        raise ConfigError(f"{where}.path {account.path!r} must start with '/', e.g. \"/wechat\"")
    if account.mode not in MODES:
        raise ConfigError(f"{where}.mode must be one of {', '.join(MODES)}, got {account.mode!r}")
    if not account.token:
        raise ConfigError(
            f"{where}.token is missing: set it (the Token of the MP console's 服务器配置) "
            f"or the environment variable {env_name(account.name, 'token')}"
        )
    if account.encoding_aes_key and len(account.encoding_aes_key) != 43:
        raise ConfigError(
            f"{where}.encoding_aes_key must be 43 characters, got {len(account.encoding_aes_key)}: "
            f"copy the EncodingAESKey again (or set {env_name(account.name, 'encoding_aes_key')})"
        )
    if account.mode != "plain" and not account.encoding_aes_key:
        raise ConfigError(
            f"{where}.encoding_aes_key is missing: {account.mode} mode needs it "
            f'(or set {env_name(account.name, "encoding_aes_key")}, or mode = "plain")'
        )
    if account.encoding_aes_key and not account.app_id:
        raise ConfigError(
            f"{where}.app_id is missing: decrypted messages end with the AppID "
            f"(set it or {env_name(account.name, 'app_id')})"
        )
    if account.require_encryption and account.mode == "plain":
        raise ConfigError(
            f'{where}.require_encryption needs mode = "compatible" or "safe": in plain mode '
            "WeChat sends no ciphertext"
        )
    if account.original_id and not account.original_id.startswith("gh_"):
        raise ConfigError(
            f"{where}.original_id {account.original_id!r} must be the account's original id "
            "(gh_...), "
            "shown in the MP console under 设置与开发 → 账号设置"
        )
    if (
        account.previous_token or account.previous_encoding_aes_key
    ) and not account.previous_valid_until:
        raise ConfigError(
            f"{where}.previous_valid_until is missing: previous keys are accepted only until a "
            "set time, e.g. previous_valid_until = 2026-12-01T00:00:00+08:00"
        )
    if account.previous_encoding_aes_key and len(account.previous_encoding_aes_key) != 43:
        raise ConfigError(
            f"{where}.previous_encoding_aes_key must be 43 characters, "
            f"got {len(account.previous_encoding_aes_key)}"
        )
    if account.late_replies and not account.app_secret:
        raise ConfigError(
            f"{where}.late_replies = true needs the account's AppSecret: set the environment "
            f"variable {env_name(account.name, 'app_secret')} (开发 → 基本配置 → AppSecret), or "
            "late_replies = false"
        )
    if account.app_secret and not account.app_id:
        raise ConfigError(
            f"{where}.app_id is missing: the AppSecret is used with the AppID to get access "
            f"tokens (set it or {env_name(account.name, 'app_id')})"
        )
    if account.previous_token and account.previous_token == account.token:
        raise ConfigError(f"{where}.previous_token is the current token: set the old one")
    if (
        account.previous_encoding_aes_key
        and account.previous_encoding_aes_key == account.encoding_aes_key
    ):
        raise ConfigError(f"{where}.previous_encoding_aes_key is the current key: set the old one")
    if account.previous_encoding_aes_key and not account.encoding_aes_key:
        raise ConfigError(f"{where}.previous_encoding_aes_key is set but encoding_aes_key is not")
    try:
        account.keys()
    except ProtocolError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def check_host_port(where: str, value: str) -> None:
    """A "host:port" address with a port in 1..65535."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f'{where} must be "host:port", e.g. "10.0.0.5:26379", got {value!r}')


def validate_topology(store: StoreConfig) -> None:
    """One node (url), Sentinel (sentinels + sentinel_service) or Cluster (cluster + url)."""
    if store.cluster and store.sentinels:
        raise ConfigError(
            "store.cluster and store.sentinels are both set: a Redis Cluster has no sentinels, "
            "keep one of them"
        )
    if store.sentinels:
        if not store.sentinel_service:
            raise ConfigError(
                "store.sentinel_service is missing: name the primary the sentinels monitor, "
                'e.g. sentinel_service = "mymaster"'
            )
        for i, node in enumerate(store.sentinels):
            check_host_port(f"store.sentinels[{i}]", node)
        if store.url.startswith("unix://"):
            raise ConfigError(
                "store.url: with sentinels it gives only the database and credentials, "
                'e.g. "redis://:password@/0"; unix:// is not a sentinel-managed address'
            )
    elif store.sentinel_service or store.sentinel_password:
        key = "sentinel_service" if store.sentinel_service else "sentinel_password"
        raise ConfigError(
            f'store.{key} is set but store.sentinels is not: add sentinels = ["host:26379", ...]'
        )
    if store.cluster:
        if not store.url.startswith(("redis://", "rediss://")):
            raise ConfigError(
                "store.url must name one node of the cluster (redis://host:port or rediss://...) "
                f"when store.cluster = true, got {store.url!r}"
            )
        db = urlsplit(store.url).path.strip("/")
        if db not in ("", "0"):
            raise ConfigError(
                f"store.url selects database {db}: a Redis Cluster has only database 0"
            )


def validate(config: Config) -> None:
    """Every rule the settings must keep together; ConfigError for the first one broken."""
    server, dispatch, store = config.server, config.dispatch, config.store
    if not 0 < server.port < 65536:
        raise ConfigError(f"server.port must be 1..65535, got {server.port}")
    if server.max_body_bytes < 1024:
        raise ConfigError("server.max_body_bytes must be at least 1024 (WeChat pushes are ~1 KB)")
    if server.workers < 1:
        raise ConfigError("server.workers must be at least 1")
    if server.workers > 1 and store.topology == "memory":
        raise ConfigError(
            f"server.workers = {server.workers} needs a store the workers share: memory:// lives "
            "in one process, so retries reaching another worker would run handlers twice; set "
            "store.url to redis://... (or WXHOOK_STORE_URL)"
        )
    if not 0 < dispatch.deadline < 5:
        raise ConfigError(
            "dispatch.deadline must be between 0 and 5 seconds (WeChat waits 5), "
            f"got {dispatch.deadline}"
        )
    if dispatch.background_timeout < 0 or dispatch.max_background < 0:
        raise ConfigError("dispatch.background_timeout and max_background must not be negative")
    if not store.url.startswith(("memory://", "redis://", "rediss://", "unix://")):
        raise ConfigError(
            "store.url must start with memory://, redis://, rediss:// or unix://, "
            f"got {store.url!r}"
        )
    validate_topology(store)
    if store.dedup_ttl < 30:
        raise ConfigError("store.dedup_ttl must be at least 30 seconds (WeChat retries for ~20 s)")
    tolerance = config.security.timestamp_tolerance
    if tolerance < 0:
        raise ConfigError("security.timestamp_tolerance must be 0 (off) or a number of seconds")
    if tolerance and store.dedup_ttl < tolerance:
        raise ConfigError(
            f"store.dedup_ttl ({store.dedup_ttl}) must not be shorter than "
            f"security.timestamp_tolerance ({tolerance:g}): a replay still inside the window "
            "would run the handlers again"
        )
    if server.keepalive_timeout <= 0:
        raise ConfigError("server.keepalive_timeout must be a positive number of seconds")
    ops = config.ops
    if not 0 <= ops.port < 65536:
        raise ConfigError(f"ops.port must be 1..65535, or 0 for no ops listener, got {ops.port}")
    if ops.port and ops.port == server.port:
        raise ConfigError(
            f"ops.port {ops.port} is server.port: the ops listener needs a port of its own "
            "(or ops.port = 0 for none)"
        )
    if not 1 <= config.console.history <= 100_000:
        raise ConfigError(
            f"console.history must be 1..100000 pushes kept in memory, got {config.console.history}"
        )
    if server.event_loop not in ("auto", "uvloop", "asyncio"):
        raise ConfigError(
            f'server.event_loop must be "auto", "uvloop" or "asyncio", got {server.event_loop!r}'
        )
    if server.read_timeout <= 0:
        raise ConfigError("server.read_timeout must be a positive number of seconds")
    if dispatch.max_in_flight < 1:
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
    for i, account in enumerate(config.accounts):
        where = f"accounts[{i}] ({account.name})"
        validate_account(account, where)
        if account.path in reserved:
            raise ConfigError(f"{where}.path {account.path!r} is reserved for health and metrics")
        if account.path in seen_paths:
            raise ConfigError(
                f"{where}.path {account.path!r} is already used by account "
                f"{seen_paths[account.path]!r}: give each account its own path"
            )
        if account.name in seen_names:
            raise ConfigError(f"{where}.name {account.name!r} is used twice: names must be unique")
        seen_paths[account.path] = account.name
        seen_names.add(account.name)
