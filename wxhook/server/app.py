"""The aiohttp applications: `setup(app, config)` mounts wxhook in any application,
`create_app` is the callback application of `wxhook serve`, `create_ops_app` its ops listener
(health, readiness, metrics)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator

from aiohttp import web

from ..api import WeChatAPI
from ..config import DEMO_TOKEN, AccountConfig, Config, load_config
from ..console import LiveFeed, add_console, console_feed
from ..dispatcher import Dispatcher
from ..logs import client_errors, flush_logs
from ..metrics import Metrics
from ..plugins import load_plugins
from ..router import Router, State
from ..stores import Store, StoreUnavailable, open_store
from .endpoint import HEALTHY, Endpoint, HttpAnswer, to_response

log = logging.getLogger("wxhook.server")

CONFIG = web.AppKey("config", Config)
ROUTER = web.AppKey("router", Router)
METRICS = web.AppKey("metrics", Metrics)
STATE = web.AppKey("state", State)
STORE = web.AppKey("store", Store)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
API = web.AppKey("api", WeChatAPI)
ENDPOINTS = web.AppKey("endpoints", dict[str, Endpoint])
LIVE = web.AppKey("live", LiveFeed)


async def ready(store: Store) -> HttpAnswer:
    """Ready: the store answers within a second (never raises)."""
    try:
        async with asyncio.timeout(1.0):
            await store.ping()
    except (StoreUnavailable, TimeoutError) as exc:
        log.warning("readyz: store unavailable: %s", exc)  # details in the log, not to callers
        return HttpAnswer(503, b"store unavailable\n")
    except Exception:
        log.exception("readyz: checking the store failed")
        return HttpAnswer(503, b"store unavailable\n")
    return HttpAnswer(200, b"ready\n")


def exposition(metrics: Metrics) -> HttpAnswer:
    """Prometheus exposition."""
    metrics.loop_tasks.set(len(asyncio.all_tasks()))
    try:
        body = metrics.render()
    except Exception:  # e.g. an unreadable multiprocess file: say so, never a 500
        log.exception("rendering /metrics failed")
        return HttpAnswer(503, b"metrics unavailable\n")
    return HttpAnswer(200, body, metrics.content_type)


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
    feed = console_feed(config)  # None unless the console is on: nothing built per push then
    if feed is not None:
        app[LIVE] = feed
    for account in config.accounts:
        endpoint = Endpoint(
            account, account.keys(), config, app[METRICS], app[DISPATCHER], watcher=feed
        )
        endpoints[account.path] = endpoint
        _warn_about_keys(account)
        app.router.add_get(account.path, endpoint.handle, allow_head=False)
        app.router.add_post(account.path, endpoint.handle)
    app[ENDPOINTS] = endpoints
    if ops_routes:
        app.router.add_routes(_ops_views(app))
    app.cleanup_ctx.append(_lifecycle)
    return app


def _warn_about_keys(account: AccountConfig) -> None:
    if DEMO_TOKEN in (account.token, account.previous_token):
        log.warning(
            "account %s uses the demo secrets of docker-compose.yml, which are public: anyone "
            "who reaches this server can forge pushes; set the account's own in .env",
            account.name,
        )
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
    (set up by `setup` or `create_app`), which owns the store and the metrics; /console too
    with console.enabled."""
    ops = web.Application()
    ops.router.add_routes(_ops_views(app))
    add_console(ops, app[CONFIG], app[STORE], app[DISPATCHER], app.get(LIVE))
    return ops
