"""What plugin authors touch: Router and its decorators, Handler, Context."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from .config import Config, env_name
from .core import (
    BaseEvent,
    BaseMessage,
    LateRepliesUnavailable,
    custom_message,
)
from .core.replies import Reply
from .dispatch.late import TypingStatus
from .filters import Filter, account, event_key, text_equals, text_matches

if TYPE_CHECKING:
    from .api import WeChatAPI

HandlerResult: TypeAlias = Reply | str | None
HandlerFunc: TypeAlias = Callable[..., Awaitable[HandlerResult]]
Hook: TypeAlias = Callable[["State"], Awaitable[None]]
F = TypeVar("F", bound=HandlerFunc)
log = logging.getLogger("wxhook.router")


class State(dict[str, Any]):
    """App-wide state that startup hooks fill and handlers read (`ctx.state["db"]`).

    `config` is the server's validated Config, e.g. `state.config.store.url` for a plugin that
    wants the same Redis.
    """

    def __init__(self, *args: Any, config: Config | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = config if config is not None else Config()


@dataclass(slots=True)
class Context:
    """What a handler may want besides the message."""

    account: str
    arrived: float  # wall-clock seconds since the epoch when the request arrived
    deadline: float  # time.monotonic() value at which the response goes out regardless
    dedup_key: str
    logger: logging.LoggerAdapter[logging.Logger]
    state: State = field(default_factory=State)
    user: str = ""  # the sender's OpenID (FromUserName)
    api: WeChatAPI | None = None
    _typing_blocks: int = field(default=0, init=False, repr=False)

    def time_left(self) -> float:
        """Seconds until the response is sent (negative once it has been)."""
        return self.deadline - time.monotonic()

    def _api(self) -> WeChatAPI:
        if self.api is None or not self.api.can_send(self.account):
            raise LateRepliesUnavailable(
                f"account {self.account!r} has no app_secret: ctx.send() and ctx.typing() call "
                f"the customer-service API; set {env_name(self.account, 'app_secret')}"
            )
        return self.api

    async def send(self, reply: Reply | str, *, to: str | None = None) -> None:
        """Send a customer-service message now (to the sender unless `to` is another OpenID).

        WeChat accepts these within 48 hours of the user's last message to the account. Raises
        WeChatAPIError with WeChat's code if it refuses (e.g. 45015 after 48 hours).
        """
        api = self._api()
        await api.send(self.account, custom_message(to or self.user, reply))
        if self._typing_blocks and (to is None or to == self.user):
            await self._typing_status(api).show()  # a message ends the typing status

    @contextlib.asynccontextmanager
    async def typing(self) -> AsyncIterator[None]:
        """Show "对方正在输入" to the sender while the block runs, renewed before WeChat drops
        it (it shows it for 15 s) and after each ctx.send; best effort: a refusal of the typing
        status is logged, never raised."""
        status = self._typing_status(self._api())
        await status.show()
        self._typing_blocks += 1
        renew = asyncio.get_running_loop().create_task(status.renew())
        try:
            yield
        finally:
            self._typing_blocks -= 1
            renew.cancel()
            await asyncio.wait([renew])
            await status.show(on=False)

    def _typing_status(self, api: WeChatAPI) -> TypingStatus:
        return TypingStatus(api, self.account, self.user, self.logger)


@dataclass(frozen=True, slots=True)
class Handler:
    """A registered handler: the function, what it matches, and a name for logs and metrics."""

    func: HandlerFunc
    types: tuple[type[BaseMessage], ...]
    filters: tuple[Filter, ...]
    name: str
    takes_ctx: bool
    fallback: bool = False

    def matches(self, message: BaseMessage, ctx: Context) -> bool:
        """True when the message has a wanted type and passes every filter."""
        return isinstance(message, self.types) and all(f(message, ctx) for f in self.filters)

    def __call__(self, message: BaseMessage, ctx: Context) -> Awaitable[HandlerResult]:
        return self.func(message, ctx) if self.takes_ctx else self.func(message)


def _takes_ctx(func: HandlerFunc) -> bool:
    if not inspect.iscoroutinefunction(func):
        raise TypeError(f"handler {func.__qualname__} must be an async def")
    params = [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) not in (1, 2):
        raise TypeError(
            f"handler {func.__qualname__} must take (message) or (message, ctx), "
            f"it takes {len(params)} positional parameters"
        )
    return len(params) == 2


def _wire_event(message: BaseMessage) -> str:
    value = message.raw.get("Event", "")
    return value.lower() if isinstance(value, str) else ""


def _event_name(*names: str) -> Filter:
    # The seed's name ("subscribe_scan") or the Event as sent ("subscribe" is every follow).
    wanted = {n.lower() for n in names}
    return lambda message, ctx: (
        isinstance(message, BaseEvent)
        and (message.event.lower() in wanted or _wire_event(message) in wanted)
    )


def _message_type(*names: str) -> Filter:
    wanted = {n.lower() for n in names}
    return lambda message, ctx: (
        not isinstance(message, BaseEvent) and message.type.lower() in wanted
    )


class Router:
    """A set of handlers; a plugin module exposes one as `router`."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._entries: list[Handler | Router] = []
        self.startup: list[Hook] = []
        self.shutdown: list[Hook] = []

    # The one public registration primitive; every decorator below is sugar over it.
    def add(
        self,
        func: HandlerFunc,
        *,
        types: Sequence[type[BaseMessage]] = (BaseMessage,),
        filters: Sequence[Filter] = (),
        name: str | None = None,
        fallback: bool = False,
    ) -> Handler:
        """Register `func` for messages of `types` that pass every filter."""
        handler = Handler(
            func=func,
            types=tuple(types),
            filters=tuple(filters),
            name=name or f"{func.__module__}.{func.__qualname__}",
            takes_ctx=_takes_ctx(func),
            fallback=fallback,
        )
        self._entries.append(handler)
        return handler

    def _decorator(
        self,
        types: Sequence[type[BaseMessage]],
        filters: list[Filter],
        *,
        text: str | Sequence[str] | None = None,
        regex: str | None = None,
        key: str | Sequence[str] | None = None,
        accounts: str | Sequence[str] | None = None,
        when: Filter | Sequence[Filter] = (),
        fallback: bool = False,
    ) -> Callable[[F], F]:
        if text is not None:
            filters.append(text_equals(*([text] if isinstance(text, str) else text)))
        if regex is not None:
            filters.append(text_matches(regex))
        if key is not None:
            filters.append(event_key(*([key] if isinstance(key, str) else key)))
        if accounts is not None:
            filters.append(account(*([accounts] if isinstance(accounts, str) else accounts)))
        filters.extend([when] if callable(when) else when)

        def register(func: F) -> F:
            self.add(func, types=types, filters=filters, fallback=fallback)
            return func

        return register

    def event(self, *names: str, **options: Any) -> Callable[[F], F]:
        """Events by the seed's name ("subscribe_scan", "scan", "click"...) or as sent by WeChat.

        "subscribe" is every follow (a QR follow too); "subscribe_scan" only QR follows.
        """
        if not names:
            raise TypeError('event() needs at least one event name, e.g. event("subscribe")')
        return self._decorator((BaseEvent,), [_event_name(*names)], **options)

    def message(self, *types: str, **options: Any) -> Callable[[F], F]:
        """Ordinary messages by MsgType ("text", "image"...); all of them when none is given."""
        filters: list[Filter] = [_message_type(*types) if types else _message_type_any]
        return self._decorator((BaseMessage,), filters, **options)

    def click(self, *keys: str, **options: Any) -> Callable[[F], F]:
        """Menu clicks, optionally only those with one of the given keys."""
        filters = [_event_name("click")]
        if keys:
            filters.append(event_key(*keys))
        return self._decorator((BaseEvent,), filters, **options)

    def on(self, *classes: type[BaseMessage], **options: Any) -> Callable[[F], F]:
        """Messages or events that are instances of one of the classes."""
        return self._decorator(classes or (BaseMessage,), [], **options)

    def fallback(self, **options: Any) -> Callable[[F], F]:
        """Runs only when no other handler in the whole app matched."""
        return self._decorator((BaseMessage,), [], fallback=True, **options)

    def include(self, router: Router) -> Router:
        """Add another router's handlers (and hooks) after those registered so far."""
        if router is self:
            raise ValueError("a router cannot include itself")
        self._entries.append(router)
        return router

    def on_startup(self, hook: Hook) -> Hook:
        """Register `async def hook(state)` to run once before the first request."""
        self.startup.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Register `async def hook(state)` to run once after the last request."""
        self.shutdown.append(hook)
        return hook

    def handlers(self) -> Iterator[Handler]:
        """Every handler in registration order, included routers in place."""
        for entry in self._entries:
            if isinstance(entry, Router):
                yield from entry.handlers()
            else:
                yield entry

    def hooks(self, kind: str) -> Iterator[Hook]:
        """Startup or shutdown hooks of this router and every included one."""
        yield from getattr(self, kind)
        for entry in self._entries:
            if isinstance(entry, Router):
                yield from entry.hooks(kind)

    def resolve(self, message: BaseMessage, ctx: Context) -> list[Handler]:
        """The handlers to run, in registration order; fallbacks only when nothing else matched."""
        regular: list[Handler] = []
        fallbacks: list[Handler] = []
        for handler in self.handlers():
            try:
                matched = handler.matches(message, ctx)
            except Exception:
                # One broken filter skips its own handler, not every handler of the app.
                log.exception("a filter of %s failed (dedup key %s)", handler.name, ctx.dedup_key)
                continue
            if matched:
                (fallbacks if handler.fallback else regular).append(handler)
        return regular or fallbacks


def _message_type_any(message: BaseMessage, ctx: Context) -> bool:
    return not isinstance(message, BaseEvent)
