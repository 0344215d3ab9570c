"""HTTP in and out (aiohttp lives here only): the callback endpoints, `setup(app, config)` to
mount them in any aiohttp application, the ops listener (health, readiness, metrics), and
`serve(config)`, which runs both for `wxhook serve`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import signal
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .api import WeChatAPI
from .config import AccountConfig, Config, load_config
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
from .logs import FastLine, client_errors, flush_logs
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
    """An HTTP answer: status, body and content type."""

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
        except (ConnectionError, HttpProcessingError) as exc:
            # The client went away, or broke HTTP, before its body was in: nothing was handled
            # and nobody is left to answer. The client's doing, so one gated INFO line.
            return self._aborted(exc)
        except Exception:
            log.exception("unexpected error on %s %s; answered empty", request.method, request.path)
            return to_response(EMPTY)

    def _aborted(self, exc: BaseException) -> web.Response:
        metrics = self.metrics
        metrics.child(metrics.requests, self.account.name, "", "", "aborted", "disconnect").inc()
        if client_errors.allow("aborted"):
            log.info(
                "request to %s aborted before its body was read: %s",
                self.account.path,
                str(exc) or type(exc).__name__,
            )
        return to_response(Answer(400, b"incomplete request\n"))

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
            if client_errors.allow("rejected:verify"):
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
        label = outcome.kind if outcome.kind in ("duplicate", "shed") or payload else "empty"
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
        # Anyone can send refused requests by the thousand: the log line is gated, not the count.
        if client_errors.allow(f"rejected:{reason}"):
            self._log_rejected(exc, reason)
        return Answer(exc.status, f"{reason}\n".encode())

    def _log_rejected(self, exc: ProtocolError, reason: str) -> None:
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


def _ops_views(app: web.Application) -> list[web.RouteDef]:
    """/healthz, /readyz and (with metrics.enabled) /metrics, reading wxhook's keys of `app`."""

    async def readyz(request: web.Request) -> web.Response:
        """Ready: the store answers within a second."""
        return to_response(await ready(app[STORE]))

    async def metrics_view(request: web.Request) -> web.Response:
        """Prometheus exposition."""
        return to_response(exposition(app[METRICS]))

    routes = [web.get("/healthz", healthz, allow_head=False)]
    routes.append(web.get("/readyz", readyz, allow_head=False))
    if app[CONFIG].metrics.enabled:
        routes.append(web.get("/metrics", metrics_view, allow_head=False))
    return routes


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    config, state, router, store = app[CONFIG], app[STATE], app[ROUTER], app[STORE]
    for hook in router.hooks("startup"):
        await hook(state)
    flush_logs()  # the start-up lines are out by the time the first request is served
    housekeeping = asyncio.get_running_loop().create_task(_housekeeping())
    yield
    housekeeping.cancel()
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
    client_errors.summarise(force=True)
    flush_logs()
    if API in app:
        await app[API].close()
    await store.close()


async def _housekeeping() -> None:
    # Log lines are written in batches: this bounds how long one waits in a quiet moment, and
    # says how many lines the flood gate held back.
    while True:
        await asyncio.sleep(0.25)
        client_errors.summarise()
        flush_logs()


def setup(
    app: web.Application,
    config: Config | str | os.PathLike[str],
    *,
    router: Router | None = None,
    store: Store | None = None,
    metrics: Metrics | None = None,
    ops_routes: bool = False,
) -> web.Application:
    """Mount wxhook in an aiohttp application, as aiohttp's extensions do.

    `config` is a validated Config or the path of a wxhook TOML file. Adds each account's
    callback route (GET verification, POST pushes) and one cleanup context (plugins' startup
    and shutdown hooks, background drain, store and API client closed); the application's own
    routes, middlewares and hooks stay as they are. With `ops_routes`, /healthz, /readyz and
    /metrics are added too. The plugins are imported now unless a router is given."""
    if not isinstance(config, Config):
        config = load_config(config)
    app[CONFIG] = config
    app[ROUTER] = router if router is not None else load_plugins(config.plugins.modules)
    app[METRICS] = metrics if metrics is not None else Metrics()
    app[STATE] = State(config=config)
    # Neither store opens a connection here: redis.asyncio connects on first use.
    app[STORE] = store if store is not None else open_store(config.store)
    # The outbound client, when an account has an AppSecret (late replies, ctx.send).
    api = WeChatAPI.for_accounts(
        config.api, app[STORE].values, config.accounts, metrics=app[METRICS]
    )
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
        _warn_about_key_rotation(account)
        app.router.add_get(account.path, endpoint.handle, allow_head=False)
        app.router.add_post(account.path, endpoint.handle)
    app[ENDPOINTS] = endpoints
    if ops_routes:
        app.router.add_routes(_ops_views(app))
    app.cleanup_ctx.append(_lifecycle)
    return app


def _warn_about_key_rotation(account: AccountConfig) -> None:
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


def create_app(
    config: Config,
    *,
    router: Router | None = None,
    store: Store | None = None,
    metrics: Metrics | None = None,
    ops_routes: bool = False,
) -> web.Application:
    """The callback application of `wxhook serve`: the accounts' routes and /healthz (the
    ops routes too with `ops_routes`, for tests that want one app)."""
    app = web.Application(client_max_size=config.server.max_body_bytes)
    setup(app, config, router=router, store=store, metrics=metrics, ops_routes=ops_routes)
    if not ops_routes:
        app.router.add_get("/healthz", healthz, allow_head=False)
    return app


def create_ops_app(app: web.Application) -> web.Application:
    """The ops listener's application: /healthz, /readyz and /metrics of a wxhook `app`
    (set up by `setup` or `create_app`), which owns the store and the metrics."""
    ops = web.Application()
    ops.router.add_routes(_ops_views(app))
    return ops


class ClientErrorFilter(logging.Filter):
    """On aiohttp's server logger: a request that is not valid HTTP is the client's error,
    written as one WARNING line without traceback through the flood gate, and counted;
    anything else (a bug of ours) passes as logged, at the level the root logger lets through.

    aiohttp logs traffic that is not HTTP at all (TLS on the plain port, an invalid method
    on a first request) at DEBUG, so the logger is opened to DEBUG while this filter is on
    (`install`): those are counted too."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics
        self._logger = logging.getLogger("aiohttp.server")
        self._level = self._logger.level

    def install(self) -> None:
        """Put the filter on aiohttp's server logger."""
        self._level = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addFilter(self)

    def remove(self) -> None:
        """Take it off again, with the logger's level as it was."""
        self._logger.removeFilter(self)
        self._logger.setLevel(self._level)

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return record.levelno >= logging.getLogger().getEffectiveLevel()
        kind = type(exc).__name__
        self.metrics.child(self.metrics.http_errors, kind).inc()
        if not client_errors.allow(f"http:{kind}"):
            return False
        lines = exc.message.splitlines() if isinstance(exc.message, str) else []
        detail = lines[0][:200] if lines else kind
        record.msg, record.args = "malformed HTTP request refused: %s: %s", (kind, detail)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


async def serve(config: Config, *, app: web.Application | None = None) -> None:
    """Run `wxhook serve` until SIGTERM or SIGINT: the callback listener on server.host/port,
    the ops listener on ops.host/port, then a graceful stop (requests in flight answered,
    background handlers drained within server.shutdown_grace)."""
    app = create_app(config) if app is None else app
    guard = ClientErrorFilter(app[METRICS])
    guard.install()
    # Requests in flight end by the dispatch deadline; the rest of shutdown_grace is for
    # background handlers (drained in the app's cleanup).
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=config.server.keepalive_timeout,
        shutdown_timeout=config.dispatch.deadline + 0.5,
    )
    ops_runner: web.AppRunner | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Each worker binds the same ports with SO_REUSEPORT; the kernel spreads connections.
    reuse_port = config.server.workers > 1
    try:
        await runner.setup()
        await web.TCPSite(
            runner, config.server.host, config.server.port, reuse_port=reuse_port
        ).start()
        if config.ops.port:
            ops_runner = web.AppRunner(
                create_ops_app(app), handle_signals=False, access_log=None, shutdown_timeout=1.0
            )
            await ops_runner.setup()
            await web.TCPSite(
                ops_runner, config.ops.host, config.ops.port, reuse_port=reuse_port
            ).start()
        await stop.wait()
        log.info("stopping: answering the requests in flight, then draining background work")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()  # the callback listener first: readiness stays up meanwhile
        if ops_runner is not None:
            await ops_runner.cleanup()
        guard.remove()
