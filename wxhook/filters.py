"""Small predicates that narrow which messages a handler sees: `(message, ctx) -> bool`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from .core import BaseMessage

if TYPE_CHECKING:
    from .router import Context

Filter: TypeAlias = Callable[[BaseMessage, "Context"], bool]


def _text(message: BaseMessage) -> str | None:
    content = getattr(message, "content", None)
    return content if isinstance(content, str) and message.type == "text" else None


def text_equals(*values: str, ignore_case: bool = False) -> Filter:
    """A text message whose content, stripped, is one of `values`."""
    wanted = {v.casefold() if ignore_case else v for v in values}

    def check(message: BaseMessage, ctx: Context) -> bool:
        text = _text(message)
        if text is None:
            return False
        text = text.strip()
        return (text.casefold() if ignore_case else text) in wanted

    return check


def text_matches(pattern: str | re.Pattern[str], flags: int = 0) -> Filter:
    """A text message whose content matches the regular expression (re.search)."""
    regex = re.compile(pattern, flags) if isinstance(pattern, str) else pattern

    def check(message: BaseMessage, ctx: Context) -> bool:
        text = _text(message)
        return text is not None and regex.search(text) is not None

    return check


def event_key(*keys: str) -> Filter:
    """An event whose EventKey (as sent; a QR follow keeps its qrscene_ prefix) is one of `keys`."""
    wanted = set(keys)

    def check(message: BaseMessage, ctx: Context) -> bool:
        key = message.raw.get("EventKey")
        return isinstance(key, str) and key in wanted

    return check


def account(*names: str) -> Filter:
    """Messages that arrived for one of the named accounts."""
    wanted = set(names)

    def check(message: BaseMessage, ctx: Context) -> bool:
        return ctx.account in wanted

    return check
