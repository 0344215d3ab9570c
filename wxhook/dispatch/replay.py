"""`wxhook failures replay`: a failure record's message through its handler(s) again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..core import BaseMessage, custom_message, dedup_key, parse_message
from ..router import Context, Handler, Router
from .handlers import run_handler
from .ports import Sender


@dataclass(frozen=True, slots=True)
class Replayed:
    """The result of running a failure record's message through its handler(s) again."""

    ok: bool
    handlers: tuple[str, ...]
    error: str = ""


class ContextMaker(Protocol):
    """Builds a handler's Context (Pipeline.context)."""

    def __call__(
        self, account: str, message: BaseMessage, key: str, *, deadline: float, replay: bool
    ) -> Context: ...


class Replayer:
    """Runs recorded messages through their handlers, each bounded by `timeout` (the
    background_timeout), outside any request."""

    def __init__(
        self,
        router: Router,
        context: ContextMaker,
        sender: Sender | None,
        *,
        late_replies: frozenset[str],
        timeout: float,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.router = router
        self.sender = sender
        self.late_replies = late_replies  # accounts whose replies go out through the API
        self.timeout = timeout
        self._context = context
        self._clock = clock
        self._wall = wall

    async def replay(self, record: dict[str, Any], *, resend_unknown: bool = False) -> Replayed:
        """Run a recorded message through the handler that failed (or, for a message that was
        never started, through every handler that matches it).

        The request is long gone, so a reply cannot be passive: on an account with late replies
        it is sent as a customer-service message (the replay fails if that send fails), else it
        is dropped. A record of a late reply that was not sent is sent again — unless it may
        have reached the user already (`delivery_unknown`), which needs `resend_unknown`.
        """
        delivery = record.get("delivery")
        if isinstance(delivery, dict):
            if record.get("delivery_unknown") and not resend_unknown:
                return Replayed(
                    False,
                    (str(record.get("handler", "")),),
                    "the first send may have reached the user (its outcome is unknown); "
                    "replay with --resend-unknown to send it anyway",
                )
            return await self._send_again(record, delivery)
        raw = record.get("raw")
        if not isinstance(raw, dict):
            return Replayed(False, (), "the record holds no message fields (recorded before 0.2?)")
        message = parse_message(raw)
        account = str(record.get("account", ""))
        key = str(record.get("dedup_key", "")) or dedup_key(message, account)
        ctx = self._context(
            account, message, key, deadline=self._clock() + self.timeout, replay=True
        )
        found = self._handlers(record, message, ctx)
        if isinstance(found, Replayed):
            return found
        names = tuple(h.name for h in found)
        for handler in found:
            try:
                async with asyncio.timeout(self.timeout or None):
                    reply = await run_handler(handler, message, ctx, wall=self._wall)
                if reply is not None and account in self.late_replies:
                    assert self.sender is not None
                    await self.sender.send(account, custom_message(message.source, reply.reply))
            except TimeoutError:
                return Replayed(
                    False, names, f"{handler.name}: still running after background_timeout"
                )
            except Exception as exc:
                return Replayed(False, names, f"{handler.name}: {type(exc).__name__}: {exc}")
        return Replayed(True, names)

    def _handlers(
        self, record: dict[str, Any], message: BaseMessage, ctx: Context
    ) -> list[Handler] | Replayed:
        """The handler the record names (exactly the registration that failed when it is still
        there), or every handler matching a record without one."""
        name = str(record.get("handler", ""))
        index = record.get("handler_index", -1)
        registered = list(self.router.handlers())
        if (
            isinstance(index, int)
            and 0 <= index < len(registered)
            and registered[index].name == name
        ):
            return [registered[index]]
        if name:
            by_name = [h for h in registered if h.name == name][:1]
            return by_name or Replayed(
                False, (name,), f"no handler named {name!r} is registered now"
            )
        return self.router.resolve(message, ctx)

    async def _send_again(self, record: dict[str, Any], delivery: dict[str, Any]) -> Replayed:
        """A late reply that did not go out: send the recorded customer-service message again."""
        account, handler = str(record.get("account", "")), str(record.get("handler", ""))
        if self.sender is None or not self.sender.can_send(account):
            return Replayed(False, (handler,), f"account {account!r} has no app_secret configured")
        try:
            await self.sender.send(account, delivery)
        except Exception as exc:
            return Replayed(False, (handler,), f"late reply not sent: {type(exc).__name__}: {exc}")
        return Replayed(True, (handler,))
