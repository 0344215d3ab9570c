"""Load the plugin modules named in the config; each exposes `router = wxhook.Router()`."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from .config import ConfigError
from .router import Router


def load_plugins(modules: Iterable[str]) -> Router:
    """One app router that includes every plugin's router, in the configured order."""
    root = Router("app")
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise ConfigError(
                f"plugins.modules: {name!r} does not import ({type(exc).__name__}: {exc}): "
                "check the module path, and that it is installed or under the working directory"
            ) from exc
        router = getattr(module, "router", None)
        if not isinstance(router, Router):
            raise ConfigError(
                f"plugins.modules: {name!r} has no `router = wxhook.Router()` at module level"
            )
        root.include(router)
    return root
