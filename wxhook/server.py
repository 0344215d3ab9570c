"""HTTP in and out (aiohttp lives here only): app factory, callback endpoints, health, metrics."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from aiohttp import web

from .api import WeChatAPI
from .config import AccountConfig, Config
from .core import (
    AccountKeys,
    BodyTooLarge,
    CryptoError,
    Decoded,
    EncryptionRequired,
    ParseError,
    ProtocolError,
    ReplayError,
    SignatureError,
    WrongAddressee,
    decode,
    seal,
    verify_url,
)
from .dispatcher import Dispatcher
from .logs import FastLine, flush_logs
from .metrics import Metrics
from .plugins import load_plugins
from .router import Router, State
from .stores import NonceGuard, Store, StoreUnavailable, open_store

log = logging.getLogger("wxhook.server")
access = logging.getLogger("wxhook.access")
access_line = FastLine(access)

CONFIG = web.AppKey("config", Config)
ROUTER = web.AppKey("router", Router)
METRICS = web.AppKey("metrics", Metrics)
STATE = web.AppKey("state", State)
STORE = web.AppKey("store", Store)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
API = web.AppKey("api", WeChatAPI)
ENDPOINTS = web.AppKey("endpoints", dict[str, "Endpoint"])

XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
# Built once: aiohttp would otherwise build and parse the Content-Type header per response.
_HEADERS = {XML: {"Content-Type": XML}, TEXT: {"Content-Type": TEXT}}


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, whichever HTTP layer writes it (aiohttp, or wxhook.httpserver)."""

    status: int
    body: bytes
    content_type: str = TEXT


EMPTY = Answer(200, b"")
HEALTHY = Answer(200, b"ok\n")  # /healthz: the event loop answers


def to_response(answer: Answer) -> web.Response:
    """The aiohttp response for an Answer."""
    headers = _HEADERS.get(answer.content_type) or {"Content-Type": answer.content_type}
    return web.Response(status=answer.status, body=answer.body, headers=headers)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One account's callback URL: what it answers, independent of the HTTP layer."""

    account: AccountConfig
    keys: AccountKeys
    config: Config
    metrics: Metrics
    dispatcher: Dispatcher

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp view: GET is the URL verification; POST is a push."""
        try:
            if request.method == "GET":
                return to_response(self.verify(request.query, request.path))
            return await self._handle_post(request)
        except Exception:
            log.exception("unexpected error on %s %s; answered empty", request.method, request.path)
            return to_response(EMPTY)

    async def _handle_post(self, request: web.Request) -> web.StreamResponse:
        arrived, arrived_wall = time.monotonic(), time.time()
        limit = self.config.server.max_body_bytes
        try:
            if request.content_length is not None and request.content_length > limit:
                raise BodyTooLarge(f"body of {request.content_length} bytes over {limit}")
            try:
                if request.content.is_eof():  # all here already (a push fits in one packet)
                    body = await request.read()
                else:
                    async with asyncio.timeout(self.config.server.read_timeout):
                        body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise BodyTooLarge(f"body over server.max_body_bytes={limit}") from None
            except TimeoutError:
                raise self.read_timed_out() from None
        except ProtocolError as exc:
            return to_response(self.reject(exc))
        return to_response(await self.push(request.query, body, arrived, arrived_wall))

    def read_timed_out(self) -> ProtocolError:
        """The error for a body that did not arrive within server.read_timeout (408)."""
        return ProtocolError(
            f"body not received within server.read_timeout={self.config.server.read_timeout:g}s",
            hint="a slow or stalled client",
            status=408,
        )

    def verify(self, query: Mapping[str, str], path: str) -> Answer:
        """GET: WeChat's URL verification, the echostr back if the signature holds; never
        raises (an unexpected error is logged and answered empty)."""
        try:
            return self._verify(query, path)
        except Exception:
            log.exception("unexpected error on GET %s; answered empty", path)
            return EMPTY

    def _verify(self, query: Mapping[str, str], path: str) -> Answer:
        metrics = self.metrics
        try:
            echostr = verify_url(self.keys, query, now=time.time())
        except SignatureError as exc:
            metrics.child(
                metrics.requests, self.account.name, "", "", "rejected", "signature"
            ).inc()
            log.warning("GET %s refused: %s", path, exc)
            return Answer(exc.status, b"invalid signature")
        metrics.child(metrics.requests, self.account.name, "verify", "", "replied", "").inc()
        log.info("URL verification for account %s answered", self.account.name)
        return Answer(200, echostr.encode(), "text/plain")

    async def push(
        self, query: Mapping[str, str], body: bytes, arrived: float, arrived_wall: float
    ) -> Answer:
        """POST: one push, its body read. Whatever goes wrong, WeChat gets an answer that
        neither retries nor shows an error (never a 500)."""
        try:
            return await self._push(query, body, arrived, arrived_wall)
        except Exception:
            log.exception("unexpected error on a push to %s; answered empty", self.account.path)
            return EMPTY

    async def _push(
        self, query: Mapping[str, str], body: bytes, arrived: float, arrived_wall: float
    ) -> Answer:
        metrics, config = self.metrics, self.config
        name = self.account.name
        try:
            decoded = decode(
                self.keys,
                query,
                body,
                max_bytes=config.server.max_body_bytes,
                now=arrived_wall,
                max_skew=config.security.timestamp_tolerance,
            )
        except ProtocolError as exc:
            return self.reject(exc)

        message = decoded.message
        msg_type, event = metrics.observe_type(message)
        try:
            outcome = await self.dispatcher.dispatch(
                name,
                message,
                arrived=arrived,
                arrived_wall=arrived_wall,
                guard=None if decoded.encrypted else self._guard(decoded, body, config),
                keep_until=self._keep_until(decoded, config),
            )
        except ReplayError as exc:
            return self.reject(exc)
        try:
            payload = seal(self.keys, outcome.reply, decoded, now=int(time.time()))
        except CryptoError as exc:
            log.error("encrypting the reply failed, answering empty: %s", exc)
            payload = b""
        latency = time.monotonic() - arrived
        label = outcome.outcome if outcome.outcome in ("duplicate", "shed") or payload else "empty"
        metrics.child(metrics.requests, name, msg_type, event, label, "").inc()
        metrics.child(metrics.request_seconds, name).observe(latency)
        access_line.info(
            "callback",
            {
                "account": name,
                "type": message.type,
                "event": event,
                "dedup_key": outcome.dedup_key,
                "outcome": label,
                "handlers": outcome.handlers,
                "latency_ms": round(latency * 1000, 1),
            },
        )
        if not payload:
            return EMPTY
        return Answer(200, payload, XML)

    def _guard(self, decoded: Decoded, body: bytes, config: Config) -> NonceGuard:
        # Plain mode's signature leaves the body uncovered: remember which body each signed URL
        # came with, for as long as its timestamp is accepted; another body is counted (or
        # refused with security.refuse_url_reuse: genuine pushes can share a URL).
        url = f"{self.account.name}|{decoded.timestamp}|{decoded.nonce}"
        return NonceGuard(
            key=hashlib.blake2b(url.encode(), digest_size=16).hexdigest(),
            digest=hashlib.blake2b(body, digest_size=16).hexdigest(),
            ttl=math.ceil(2 * config.security.timestamp_tolerance) or 600,
            refuse=config.security.refuse_url_reuse,
        )

    @staticmethod
    def _keep_until(decoded: Decoded, config: Config) -> float | None:
        # Until then a replay of this request passes the timestamp check: dedup must remember it.
        tolerance = config.security.timestamp_tolerance
        try:
            return int(decoded.timestamp) + tolerance if tolerance else None
        except ValueError:
            return None

    def reject(self, exc: ProtocolError) -> Answer:
        """The answer to a refused request; the reason goes to the log and the metrics."""
        metrics = self.metrics
        if isinstance(exc, ReplayError):
            reason = "replay"
        elif isinstance(exc, EncryptionRequired):
            reason = "unencrypted"
        elif isinstance(exc, WrongAddressee):
            reason = "addressee"
        elif isinstance(exc, SignatureError):
            reason = "signature"
        elif isinstance(exc, CryptoError):
            reason = "crypto"
            metrics.crypto_failures.labels(str(int(exc.code))).inc()
        elif isinstance(exc, BodyTooLarge):
            reason = "too_large"
        elif isinstance(exc, ParseError):
            reason = "malformed"
        elif exc.status == 408:
            reason = "timeout"
        else:
            reason = "bad_request"
        metrics.child(metrics.requests, self.account.name, "", "", "rejected", reason).inc()
        # The reason goes to the log with its hint; the client gets a short line, no traceback.
        access.warning(
            "rejected",
            extra={
                "fields": {
                    "account": self.account.name,
                    "outcome": "rejected",
                    "reason": reason,
                    "status": exc.status,
                    "error": str(exc),
                }
            },
        )
        return Answer(exc.status, f"{reason}\n".encode())


async def ready(store: Store) -> Answer:
    """Ready: the store answers within a second (never raises)."""
    try:
        async with asyncio.timeout(1.0):
            await store.ping()
    except (StoreUnavailable, TimeoutError) as exc:
        log.warning("readyz: store unavailable: %s", exc)  # details in the log, not to callers
        return Answer(503, b"store unavailable\n")
    except Exception:
        log.exception("readyz: checking the store failed")
        return Answer(503, b"store unavailable\n")
    return Answer(200, b"ready\n")


def exposition(metrics: Metrics) -> Answer:
    """Prometheus exposition."""
    metrics.loop_tasks.set(len(asyncio.all_tasks()))
    try:
        body = metrics.render()
    except Exception:  # e.g. an unreadable multiprocess file: say so, never a 500
        log.exception("rendering /metrics failed")
        return Answer(503, b"metrics unavailable\n")
    return Answer(200, body, metrics.content_type)


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers."""
    return to_response(HEALTHY)


async def readyz(request: web.Request) -> web.Response:
    """Ready: the store answers within a second."""
    return to_response(await ready(request.app[STORE]))


async def metrics_view(request: web.Request) -> web.Response:
    """Prometheus exposition."""
    return to_response(exposition(request.app[METRICS]))


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    config, state, router, store = app[CONFIG], app[STATE], app[ROUTER], app[STORE]
    for hook in router.hooks("startup"):
        await hook(state)
    flush_logs()  # the start-up lines are out by the time the first request is served
    flusher = asyncio.get_running_loop().create_task(_flush_logs_periodically())
    yield
    flusher.cancel()
    cut = await app[DISPATCHER].drain(config.server.shutdown_grace)
    if cut:
        log.error(
            "shutdown grace of %.0fs ran out: cancelled %s",
            config.server.shutdown_grace,
            ", ".join(cut),
        )
    else:
        log.info("shutdown: background work finished")
    for hook in router.hooks("shutdown"):
        try:
            await hook(state)
        except Exception:
            log.exception("a shutdown hook failed")
    flush_logs()
    if API in app:
        await app[API].close()
    await store.close()


async def _flush_logs_periodically() -> None:
    # Log lines are written in batches; this bounds how long one waits in a quiet moment.
    while True:
        await asyncio.sleep(0.25)
        flush_logs()


def create_app(
    config: Config,
    *,
    router: Router | None = None,
    store: Store | None = None,
    metrics: Metrics | None = None,
) -> web.Application:
    """The aiohttp application for a validated Config (plugins loaded unless a router is given)."""
    app = web.Application(client_max_size=config.server.max_body_bytes)
    app[CONFIG] = config
    app[ROUTER] = router if router is not None else load_plugins(config.plugins.modules)
    app[METRICS] = metrics if metrics is not None else Metrics()
    app[STATE] = State(config=config)
    # Neither store opens a connection here: redis.asyncio connects on first use.
    app[STORE] = store if store is not None else open_store(config.store)
    # The outbound client, when an account has an AppSecret (late replies, ctx.send).
    api = WeChatAPI.for_accounts(config.api, app[STORE], config.accounts, metrics=app[METRICS])
    if api is not None:
        app[API] = api
    app[DISPATCHER] = Dispatcher(
        app[ROUTER],
        app[STORE],
        metrics=app[METRICS],
        deadline=config.dispatch.deadline,
        background_timeout=config.dispatch.background_timeout,
        max_background=config.dispatch.max_background,
        max_in_flight=config.dispatch.max_in_flight,
        dedup_ttl=config.store.dedup_ttl,
        state=app[STATE],
        api=api,
        late_replies=frozenset(a.name for a in config.accounts if a.late_replies),
    )
    endpoints: dict[str, Endpoint] = {}
    for account in config.accounts:
        endpoint = Endpoint(account, account.keys(), config, app[METRICS], app[DISPATCHER])
        endpoints[account.path] = endpoint
        if account.previous_valid_until > time.time() + 30 * 86400:
            log.warning(
                "account %s: the previous keys stay valid for more than 30 days; a rotation "
                "should take hours, not weeks",
                account.name,
            )
        if account.previous_valid_until and account.previous_valid_until <= time.time():
            log.warning(
                "account %s: the previous keys expired at %s; remove previous_* from the config",
                account.name,
                time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(account.previous_valid_until)),
            )
        app.router.add_get(account.path, endpoint.handle, allow_head=False)
        app.router.add_post(account.path, endpoint.handle)
    app[ENDPOINTS] = endpoints
    app.router.add_get("/healthz", healthz, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
    if config.metrics.enabled:
        app.router.add_get("/metrics", metrics_view, allow_head=False)
    app.cleanup_ctx.append(_lifecycle)
    return app
