"""Calling WeChat: access tokens shared through the store, customer-service messages, typing.

One aiohttp ClientSession per process. Tokens come from the stable-token endpoint, are cached in
the store for every process and replica, and are refreshed by one of them at a time (a lock in
the store), shortly before they expire or at once when WeChat calls one invalid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import AccountConfig, ApiConfig
from .core import LateRepliesUnavailable, WeChatAPIError, custom_message
from .metrics import Metrics
from .stores import Store, StoreUnavailable

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("wxhook.api")

# Errors that mean "this access token is no good": refresh it, then try once more.
TOKEN_INVALID = frozenset({40001, 40014, 42001})
# System busy, and the per-minute frequency limit: worth a bounded retry with backoff.
RETRYABLE = frozenset({-1, 45011})
TOKEN_KEY = "access-token:"  # noqa: S105 - a store key prefix, not a secret


class _Transient(Exception):
    """A failure worth another try (HTTP 5xx or 429)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an access token is fetched with."""

    account: str
    app_id: str
    app_secret: str


@dataclass(slots=True)
class _Token:
    token: str
    expires_at: float  # wall clock

    def encode(self) -> bytes:
        return json.dumps({"token": self.token, "expires_at": self.expires_at}).encode()

    @classmethod
    def decode(cls, value: bytes | None) -> _Token | None:
        if value is None:
            return None
        try:
            data = json.loads(value)
            return cls(str(data["token"]), float(data["expires_at"]))
        except (ValueError, KeyError, TypeError):
            return None


class WeChatAPI:
    """The outbound client: tokens, customer-service messages, typing; retries and errors."""

    def __init__(
        self,
        config: ApiConfig,
        store: Store,
        credentials: Mapping[str, Credentials],
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.store = store
        self.credentials = dict(credentials)
        self.metrics = metrics if metrics is not None else Metrics()
        self._clock = clock
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._cache: dict[str, _Token] = {}
        self._local: dict[str, asyncio.Lock] = {}

    @classmethod
    def for_accounts(
        cls,
        config: ApiConfig,
        store: Store,
        accounts: tuple[AccountConfig, ...],
        *,
        metrics: Metrics | None = None,
    ) -> WeChatAPI | None:
        """The client for every account that has an AppSecret; None if none has one."""
        creds = {
            a.name: Credentials(a.name, a.app_id, a.app_secret) for a in accounts if a.app_secret
        }
        return cls(config, store, creds, metrics=metrics) if creds else None

    def can_send(self, account: str) -> bool:
        """True when the account has an AppSecret (so the API can be called for it)."""
        return account in self.credentials

    # HTTP ----------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        # Imported here, so that importing this module costs nothing until the API is used.
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session (at shutdown)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, api: str, path: str, payload: Mapping[str, Any], **params: str) -> Any:
        """POST JSON with bounded retries on network errors, 5xx/429 and WeChat's busy codes."""
        import aiohttp

        url = self.config.base_url.rstrip("/") + path
        body = json.dumps(payload, ensure_ascii=False).encode()
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                async with self._http().post(url, params=params, data=body) as resp:
                    if resp.status >= 500 or resp.status == 429:
                        raise _Transient(f"HTTP {resp.status}")
                    if resp.status != 200:
                        self.metrics.api_calls.labels(api, "error").inc()
                        raise WeChatAPIError(-2, f"HTTP {resp.status}", api=api)
                    data = json.loads(await resp.read())
            except (_Transient, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.metrics.api_calls.labels(api, "unreachable").inc()
                if last:
                    raise WeChatAPIError(-2, f"{type(exc).__name__}: {exc}", api=api) from exc
            else:
                code = int(data.get("errcode", 0) or 0) if isinstance(data, dict) else 0
                if not code:
                    self.metrics.api_calls.labels(api, "ok").inc()
                    return data
                if code not in RETRYABLE or last:
                    self.metrics.api_calls.labels(api, "error").inc()
                    raise WeChatAPIError(code, str(data.get("errmsg", "")), api=api)
                self.metrics.api_calls.labels(api, "busy").inc()
            await self._sleep(0.2 * 2**attempt * (1 + random.random() / 2))
        raise AssertionError("unreachable")  # pragma: no cover

    # Access tokens -------------------------------------------------------------------------

    async def _fetch(self, cred: Credentials, *, force: bool) -> _Token:
        self.metrics.token_fetches.labels(cred.account).inc()
        data = await self._post(
            "stable_token",
            "/cgi-bin/stable_token",
            {
                "grant_type": "client_credential",
                "appid": cred.app_id,
                "secret": cred.app_secret,
                "force_refresh": force,
            },
        )
        try:
            token, expires_in = str(data["access_token"]), float(data["expires_in"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WeChatAPIError(-2, f"no access_token in {data!r}", api="stable_token") from exc
        log.info("access token fetched for account %s (valid %.0fs)", cred.account, expires_in)
        return _Token(token, self._clock() + expires_in)

    def _fresh(self, token: _Token | None, bad: str | None) -> bool:
        if token is None or token.token == bad:
            return False
        return self._clock() < token.expires_at - self.config.token_refresh_margin

    async def token(self, account: str, *, bad: str | None = None) -> str:
        """A valid access token for the account; `bad` is one WeChat has just refused."""
        cred = self.credentials.get(account)
        if cred is None:
            raise LateRepliesUnavailable(
                f"account {account!r} has no app_secret: set WXHOOK_<ACCOUNT>_APP_SECRET"
            )
        cached = self._cache.get(cred.app_id)
        if self._fresh(cached, bad):
            assert cached is not None
            return cached.token
        # One coroutine per process goes to the store; the others wait for its answer.
        lock = self._local.setdefault(cred.app_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(cred.app_id)
            if self._fresh(cached, bad):
                assert cached is not None
                return cached.token
            token = await self._shared_token(cred, bad)
            self._cache[cred.app_id] = token
            return token.token

    async def _shared_token(self, cred: Credentials, bad: str | None) -> _Token:
        """The store's token if fresh; else one process refreshes it under the store's lock while
        the others keep using the old one while it lasts, or wait for the new one."""
        key = TOKEN_KEY + cred.app_id
        owner = os.urandom(8).hex()
        try:
            stored = _Token.decode(await self.store.get_value(key))
            if self._fresh(stored, bad):
                assert stored is not None
                return stored
            deadline = self._clock() + self.config.timeout * (self.config.retries + 2)
            while True:
                if await self.store.lock(key, owner, ttl=self.config.timeout * 3):
                    try:
                        stored = _Token.decode(await self.store.get_value(key))
                        if self._fresh(stored, bad):
                            assert stored is not None
                            return stored
                        token = await self._refresh(cred, bad)
                        ttl = max(token.expires_at - self._clock(), 1.0)
                        await self.store.set_value(key, token.encode(), ttl)
                        return token
                    finally:
                        await self.store.unlock(key, owner)
                usable = stored is not None and stored.token != bad
                if usable and stored is not None and self._clock() < stored.expires_at - 5:
                    return stored  # someone else is refreshing; this one still works
                if self._clock() > deadline:
                    raise WeChatAPIError(-2, "another process holds the token lock too long")
                await self._sleep(0.05)
                stored = _Token.decode(await self.store.get_value(key))
                if self._fresh(stored, bad):
                    assert stored is not None
                    return stored
        except StoreUnavailable as exc:
            log.warning("token cache unavailable, fetching in this process: %s", exc)
            return await self._refresh(cred, bad)

    async def _refresh(self, cred: Credentials, bad: str | None) -> _Token:
        token = await self._fetch(cred, force=False)
        if bad is not None and token.token == bad:
            # The stable endpoint hands out the same token while it lives: force a new one.
            token = await self._fetch(cred, force=True)
        return token

    # Calls ---------------------------------------------------------------------------------

    async def call(self, account: str, api: str, path: str, payload: Mapping[str, Any]) -> Any:
        """POST to an access-token API; on an invalid-token error, refresh once and resend."""
        token = await self.token(account)
        try:
            return await self._post(api, path, payload, access_token=token)
        except WeChatAPIError as exc:
            if exc.code not in TOKEN_INVALID:
                raise
            log.warning("access token refused (%s) for %s: refreshing once", exc.code, account)
            token = await self.token(account, bad=token)
            return await self._post(api, path, payload, access_token=token)

    async def send(self, account: str, payload: Mapping[str, Any]) -> None:
        """Send one customer-service message (a payload from custom_message)."""
        await self.call(account, "custom_send", "/cgi-bin/message/custom/send", payload)

    async def typing(self, account: str, openid: str, *, on: bool = True) -> None:
        """Show (or stop showing) "对方正在输入" to the user."""
        command = "Typing" if on else "CancelTyping"
        await self.call(
            account,
            "custom_typing",
            "/cgi-bin/message/custom/typing",
            {"touser": openid, "command": command},
        )


__all__ = [
    "Credentials",
    "LateRepliesUnavailable",
    "WeChatAPI",
    "WeChatAPIError",
    "custom_message",
]
