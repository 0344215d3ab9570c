"""The one error a setting raises."""

from __future__ import annotations

from ..core import WxhookError


class ConfigError(WxhookError):
    """A setting that stops the start; the message names the key and the fix."""
