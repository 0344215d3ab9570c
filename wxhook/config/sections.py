"""The settings: one frozen dataclass per TOML section, each field a key with its default."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core import AccountKeys


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
class ConsoleConfig:
    """[console]: the local web console at /console on the ops listener."""

    enabled: bool = False
    token: str = ""  # required when the ops listener is not on loopback
    history: int = 200  # pushes kept in memory for the live view


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
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    source: str = "<defaults>"
