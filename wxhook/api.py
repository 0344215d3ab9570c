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
from .stores import SharedValues, StoreUnavailable

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("wxhook.api")

# Errors that mean "this access token is no good": refresh it, then try once more.
TOKEN_INVALID = frozenset({40001, 40014, 42001})
# "System busy": worth a bounded retry with backoff. (45011, the per-minute limit, is not: a
# retry within the same minute only spends more of it.)
RETRYABLE = frozenset({-1})
TOKEN_KEY = "access-token:"  # noqa: S105 - a store key prefix, not a secret


class _NeverSent(Exception):
    """The request surely did not reach WeChat (no connection): safe to send again."""


class _MaybeCarriedOut(Exception):
    """The request may have been carried out (timeout, 5xx, 429, an unreadable answer)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an access token is fetched with."""

    account: str
    app_id: str
    app_secret: str


@dataclass(slots=True)
class _Token:
    token: str
    expires_at: float  # wall clock: WeChat stops accepting it then
    refresh_at: float  # wall clock: from then on, one process fetches the next one

    def encode(self) -> bytes:
        return json.dumps(
            {"token": self.token, "expires_at": self.expires_at, "refresh_at": self.refresh_at}
        ).encode()

    @classmethod
    def decode(cls, value: bytes | None) -> _Token | None:
        if value is None:
            return None
        try:
            data = json.loads(value)
            expires_at = float(data["expires_at"])
            return cls(str(data["token"]), expires_at, float(data.get("refresh_at", expires_at)))
        except (ValueError, KeyError, TypeError):
            return None


class WeChatAPI:
    """The outbound client: tokens, customer-service messages, typing; retries and errors."""

    def __init__(
        self,
        config: ApiConfig,
        values: SharedValues,
        credentials: Mapping[str, Credentials],
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.values = values  # the token cache and its refresh lock, shared by every process
        self.credentials = dict(credentials)
        self.metrics = metrics if metrics is not None else Metrics()
        self._clock = clock
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._tokens: dict[str, _Token] = {}  # this process's copy, by AppID
        self._token_locks: dict[str, asyncio.Lock] = {}  # one fetch per AppID in this process

    @classmethod
    def for_accounts(
        cls,
        config: ApiConfig,
        values: SharedValues,
        accounts: tuple[AccountConfig, ...],
        *,
        metrics: Metrics | None = None,
    ) -> WeChatAPI | None:
        """The client for every account that has an AppSecret; None if none has one."""
        creds = {
            a.name: Credentials(a.name, a.app_id, a.app_secret) for a in accounts if a.app_secret
        }
        return cls(config, values, creds, metrics=metrics) if creds else None

    def can_send(self, account: str) -> bool:
        """True when the account has an AppSecret (so the API can be called for it)."""
        return account in self.credentials

    # HTTP ----------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        # Imported here, so that importing this module costs nothing until the API is used.
        import aiohttp

        if self._closed:
            raise WeChatAPIError(-2, "the API client is closed (shutting down)")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session (at shutdown); later calls fail instead of opening another."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post_once(self, url: str, body: bytes, params: Mapping[str, str]) -> dict[str, Any]:
        """One POST; _NeverSent if it never left, _MaybeCarriedOut if WeChat may have acted."""
        import aiohttp

        try:
            async with self._http().post(url, params=params, data=body) as resp:
                if resp.status != 200:
                    raise _MaybeCarriedOut(f"HTTP {resp.status}")
                raw = await resp.read()
        except aiohttp.ClientConnectorError as exc:  # no connection: nothing was sent
            raise _NeverSent(f"{type(exc).__name__}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _MaybeCarriedOut(f"{type(exc).__name__}: {exc}") from exc
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError(type(data).__name__)
            data["errcode"] = int(data.get("errcode", 0) or 0)
        except (ValueError, TypeError) as exc:
            raise _MaybeCarriedOut(f"unreadable answer: {raw[:100]!r}") from exc
        return data

    async def _post(
        self,
        api: str,
        path: str,
        payload: Mapping[str, Any],
        *,
        idempotent: bool = True,
        **params: str,
    ) -> dict[str, Any]:
        """POST JSON with bounded retries and backoff.

        Retried: a connection that could not be made, WeChat's "system busy" (-1), and — only
        for idempotent calls — timeouts, 5xx/429 and unreadable answers. A message is never sent
        twice because its first answer got lost.
        """
        url = self.config.base_url.rstrip("/") + path
        body = json.dumps(payload, ensure_ascii=False).encode()
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                data = await self._post_once(url, body, params)
            except _NeverSent as exc:
                self.metrics.api_calls.labels(api, "unreachable").inc()
                if last:
                    raise WeChatAPIError(-2, str(exc), api=api) from exc
            except _MaybeCarriedOut as exc:
                self.metrics.api_calls.labels(api, "unreachable").inc()
                if last or not idempotent:
                    raise WeChatAPIError(-2, str(exc), api=api, unknown=not idempotent) from exc
            else:
                code = data["errcode"]
                if not code:
                    self.metrics.api_calls.labels(api, "ok").inc()
                    return data
                if code not in RETRYABLE or last:
                    self.metrics.api_calls.labels(api, "error").inc()
                    raise WeChatAPIError(code, str(data.get("errmsg", "")), api=api)
                self.metrics.api_calls.labels(api, "busy").inc()
            await self._sleep(0.2 * 2**attempt * (1 + random.random() / 2))
        raise AssertionError("unreachable")  # pragma: no cover

    def _worst_call(self) -> float:
        """The longest one _post can take, retries and backoff included."""
        attempts = self.config.retries + 1
        backoff = sum(0.3 * 2.0**i for i in range(attempts))
        return attempts * self.config.timeout + backoff

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
        now = self._clock()
        # Refresh `margin` before expiry, but never sooner than half its life: a token that
        # comes with less than the margin must not be fetched again on every call.
        lead = max(expires_in - self.config.token_refresh_margin, expires_in / 2)
        return _Token(token, now + expires_in, now + lead)

    def _fresh(self, token: _Token | None, bad: str | None) -> bool:
        return token is not None and token.token != bad and self._clock() < token.refresh_at

    def _usable(self, token: _Token | None, bad: str | None) -> bool:
        return token is not None and token.token != bad and self._clock() < token.expires_at - 5

    async def token(self, account: str, *, bad: str | None = None) -> str:
        """A valid access token for the account; `bad` is one WeChat has just refused."""
        cred = self.credentials.get(account)
        if cred is None:
            raise LateRepliesUnavailable(
                f"account {account!r} has no app_secret: set WXHOOK_<ACCOUNT>_APP_SECRET"
            )
        cached = self._tokens.get(cred.app_id)
        if cached is not None and self._fresh(cached, bad):
            return cached.token
        # One coroutine per process goes to the store; the others wait for its answer.
        lock = self._token_locks.setdefault(cred.app_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(cred.app_id)
            if cached is not None and self._fresh(cached, bad):
                return cached.token
            token = await self._shared_token(cred, bad)
            self._tokens[cred.app_id] = token
            return token.token

    async def _shared_token(self, cred: Credentials, bad: str | None) -> _Token:
        """The store's token if fresh; else one process refreshes it under the store's lock while
        the others keep using the old one while it lasts, or wait for the new one."""
        key = TOKEN_KEY + cred.app_id
        owner = os.urandom(8).hex()
        hold = 2 * self._worst_call() + 5  # a refresh may take two fetches (normal, forced)
        try:
            stored = _Token.decode(await self.values.get(key))
            if stored is not None and self._fresh(stored, bad):
                return stored
            deadline = self._clock() + hold + 5
            while True:
                if await self.values.lock(key, owner, ttl=hold):
                    try:
                        stored = _Token.decode(await self.values.get(key))
                        if stored is not None and self._fresh(stored, bad):
                            return stored
                        token = await self._refresh(cred, bad)
                        await self._share(key, token)
                        return token
                    finally:
                        await self._release_lock(key, owner)
                if stored is not None and self._usable(stored, bad):
                    return stored  # someone else is refreshing; this one still works
                if self._clock() > deadline:
                    raise WeChatAPIError(-2, "another process holds the token lock too long")
                await self._sleep(0.2)
                stored = _Token.decode(await self.values.get(key))
                if stored is not None and self._fresh(stored, bad):
                    return stored
        except StoreUnavailable as exc:
            log.warning("token cache unavailable, fetching in this process: %s", exc)
            return await self._refresh(cred, bad, shared=False)

    async def _share(self, key: str, token: _Token) -> None:
        try:
            await self.values.set(key, token.encode(), max(token.expires_at - self._clock(), 1))
        except StoreUnavailable as exc:  # the token is good all the same
            log.warning("access token not shared (store unavailable): %s", exc)

    async def _release_lock(self, key: str, owner: str) -> None:
        try:
            await self.values.unlock(key, owner)
        except StoreUnavailable as exc:  # it expires by itself
            log.warning("token lock not released (store unavailable): %s", exc)

    async def _refresh(self, cred: Credentials, bad: str | None, *, shared: bool = True) -> _Token:
        token = await self._fetch(cred, force=False)
        if bad is None or token.token != bad:
            return token
        # The stable endpoint still hands out the token WeChat refused. A forced refresh
        # invalidates it for every system using this AppID and WeChat allows few of them (at
        # most one per 30 s): force at most once per 30 s across every process.
        if shared and not await self.values.lock("force:" + cred.app_id, cred.account, ttl=30):
            raise WeChatAPIError(
                40001, "access token refused; a forced refresh happened less than 30 s ago"
            )
        log.warning("access token refused but still handed out: forcing a new one")
        token = await self._fetch(cred, force=True)
        if token.token == bad:
            raise WeChatAPIError(40001, "WeChat handed out the refused access token again")
        return token

    # Calls ---------------------------------------------------------------------------------

    async def call(
        self,
        account: str,
        api: str,
        path: str,
        payload: Mapping[str, Any],
        *,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """POST to an access-token API; on an invalid-token error, refresh once and resend
        (WeChat carried nothing out with a token it refused)."""
        token = await self.token(account)
        try:
            return await self._post(api, path, payload, idempotent=idempotent, access_token=token)
        except WeChatAPIError as exc:
            if exc.code not in TOKEN_INVALID:
                raise
            log.warning("access token refused (%s) for %s: refreshing once", exc.code, account)
            token = await self.token(account, bad=token)
            return await self._post(api, path, payload, idempotent=idempotent, access_token=token)

    async def send(self, account: str, payload: Mapping[str, Any]) -> None:
        """Send one customer-service message (a payload from custom_message). Not retried once
        it may have reached WeChat: WeChatAPIError.unknown says the user may have it."""
        await self.call(
            account, "custom_send", "/cgi-bin/message/custom/send", payload, idempotent=False
        )

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
