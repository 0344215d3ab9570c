"""Settings from the environment: the accounts' secrets, the store's address and passwords,
and the ops listener's address, which belong to the deployment rather than to the file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from .errors import ConfigError
from .sections import Config

# An account's settings that WXHOOK_<ACCOUNT>_<KEY> overrides, so they need not be in the file.
SECRET_FIELDS = (
    "token",
    "app_id",
    "encoding_aes_key",
    "previous_token",
    "previous_encoding_aes_key",
    "app_secret",
)


# The token the compose files give the demo account when .env sets none. It is public: a server
# that uses it answers anyone who can reach it, so `wxhook serve` warns.
DEMO_TOKEN = "wxhookdemo"  # noqa: S105 - public on purpose, only recognised


def env_name(account: str, key: str) -> str:
    """WXHOOK_<ACCOUNT>_<KEY>: the variable that overrides one account's secret."""
    return f"WXHOOK_{re.sub(r'[^A-Za-z0-9]', '_', account).upper()}_{key.upper()}"


def account_secrets(account: str, env: Mapping[str, str]) -> dict[str, str]:
    """The secrets of the account named `account` that the environment sets (empty ones unset)."""
    return {
        key: env[env_name(account, key)] for key in SECRET_FIELDS if env.get(env_name(account, key))
    }


def apply_environment(config: Config, env: Mapping[str, str]) -> Config:
    """The config with WXHOOK_STORE_URL, WXHOOK_STORE_PASSWORD, WXHOOK_STORE_SENTINEL_PASSWORD,
    WXHOOK_CONSOLE_TOKEN, WXHOOK_OPS_HOST and WXHOOK_OPS_PORT applied over the file's values."""
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
    console_token = env.get("WXHOOK_CONSOLE_TOKEN")
    if console_token:
        config = replace(config, console=replace(config.console, token=console_token))
    return ops_from_environment(config, env)


def ops_from_environment(config: Config, env: Mapping[str, str]) -> Config:
    """WXHOOK_OPS_HOST and WXHOOK_OPS_PORT over [ops]."""
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
