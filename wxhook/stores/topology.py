"""Which Redis to talk to: one node by its URL, a primary found through Sentinel, or a Cluster.

The redis-py client built here is shared by the three Redis stores (dedup, failure log, shared
values): one pool of connections per process.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.client import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from ..config import StoreConfig


class Topology:
    """The redis-py client for the configured topology, and how to name it in errors."""

    def __init__(self, client: Any, where: str, others: tuple[Any, ...] = ()) -> None:
        self.client = client  # Redis (one node, or Sentinel's primary) or RedisCluster
        self.where = where  # the nodes this client tries, for logs and errors
        self.others = others  # more clients to close (the sentinels')

    @classmethod
    def from_config(cls, config: StoreConfig) -> Topology:
        """Connect lazily with short timeouts so a dead Redis cannot eat the 5-second budget."""
        common: dict[str, Any] = {
            # No timer per reply: every batch and every other command is cut as a whole at
            # the store's bound (connect and reply timeouts, twice), which drops its connection.
            "socket_timeout": None,
            "socket_connect_timeout": config.connect_timeout,
            "max_connections": config.max_connections,
            "health_check_interval": 30,
        }
        if config.password:
            common["password"] = config.password
        # After a Redis restart every pooled connection is dead: retry once on a fresh one,
        # so that each of them does not turn into a failed-open claim (a handler run twice).
        # Not on timeouts: a slow Redis must not eat twice the budget. A retried claim that
        # did reach Redis finds its own token and still owns the key.
        once: dict[str, Any] = {
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            "retry_on_error": [RedisConnectionError],
        }
        if config.topology == "cluster":
            # One retry, after a refresh of the slot map (a primary replaced by its replica);
            # partial coverage keeps the healthy shards usable while one is failing over.
            cluster = RedisCluster.from_url(
                config.url, retry=Retry(NoBackoff(), 1), require_full_coverage=False, **common
            )
            return cls(cluster, f"cluster node {address(config.url)} and the nodes it names")
        if config.topology == "sentinel":
            return cls._sentinel(config, {**common, **once})
        client = Redis.from_url(config.url, **common, **once)
        return cls(client, address(config.url))

    @classmethod
    def _sentinel(cls, config: StoreConfig, kwargs: dict[str, Any]) -> Topology:
        # The url, if any, gives only the database, the credentials and TLS options: the
        # sentinels say where the primary is, and again after each failover.
        if not config.url.startswith("memory://"):
            options: dict[str, Any] = dict(parse_url(config.url))
            for name in ("host", "port", "path"):
                options.pop(name, None)
            if options.pop("connection_class", None) is SSLConnection:
                options["ssl"] = True
            kwargs = {**options, **kwargs}
        sentinel_kwargs: dict[str, Any] = {
            "socket_timeout": config.socket_timeout,
            "socket_connect_timeout": config.connect_timeout,
        }
        if config.sentinel_password:
            sentinel_kwargs["password"] = config.sentinel_password
        nodes = [
            (host, int(port)) for host, _, port in (n.rpartition(":") for n in config.sentinels)
        ]
        sentinel = Sentinel(nodes, sentinel_kwargs=sentinel_kwargs)
        # The primary's pool asks the sentinels on each new connection and drops connections
        # to a primary that was demoted (READONLY): dedup comes back by itself after failover.
        client = sentinel.master_for(config.sentinel_service, redis_class=Redis, **kwargs)
        where = f"sentinels {', '.join(config.sentinels)} (service {config.sentinel_service!r})"
        return cls(client, where, tuple(sentinel.sentinels))


def address(url: str) -> str:
    """host:port or the socket path a one-node URL names, without credentials."""
    options = parse_url(url)
    if options.get("connection_class") is UnixDomainSocketConnection:
        return str(options.get("path"))
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"
