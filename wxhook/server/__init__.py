"""HTTP in and out (aiohttp lives in this package only): the callback endpoints, `setup(app,
config)` to mount them in any aiohttp application, the ops listener (health, readiness,
metrics), and `serve(config)`, which runs both for `wxhook serve`."""

from .app import (
    API,
    CONFIG,
    DISPATCHER,
    ENDPOINTS,
    METRICS,
    ROUTER,
    STATE,
    STORE,
    create_app,
    create_ops_app,
    setup,
)
from .endpoint import Endpoint, HttpAnswer
from .run import ClientErrorFilter, serve

__all__ = [
    "API",
    "CONFIG",
    "DISPATCHER",
    "ENDPOINTS",
    "METRICS",
    "ROUTER",
    "STATE",
    "STORE",
    "ClientErrorFilter",
    "Endpoint",
    "HttpAnswer",
    "create_app",
    "create_ops_app",
    "serve",
    "setup",
]
