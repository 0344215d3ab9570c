"""Late replies: a reply that misses the deadline goes out as a customer-service message,
within WeChat's service window, once per push (the delivery guard), with "typing" shown while
it is being made. Without the API (or outside a window) it is kept for WeChat's retry."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core import BaseMessage, ReplyError, WeChatAPIError, custom_message
from ..core.events import BaseEvent
from ..core.replies import NewsReply
from ..stores import SharedValues, StoreUnavailable
from .ports import LateReplyObserver, Sender

if TYPE_CHECKING:
    from ..router import Context
    from .claims import Claims
    from .handlers import HandlerReply
    from .records import FailureRecords

log = logging.getLogger("wxhook.dispatch")

TYPING_RENEW = 14.0  # seconds: WeChat shows "typing" for 15 s

# WeChat's customer-service windows (客服消息下发规则): a user's message opens 48 hours (5
# messages); a follow, a QR scan and the menu clicks that push an event open 1 minute (3
# messages); other events open none, so a late reply to them could not be delivered.
USER_MESSAGE_TYPES = frozenset(
    {"text", "image", "voice", "video", "shortvideo", "location", "link", "file"}
)
ONE_MINUTE_EVENTS = frozenset({"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg"})
WINDOW_MARGIN = 2.0  # seconds kept in hand before a window closes
DELIVERED_HERE_MAX = 10_000  # the in-process delivery guard's size while the store is down


def service_window(message: BaseMessage) -> float | None:
    """Seconds after a push during which customer-service messages may answer it, or None."""
    if isinstance(message, BaseEvent):
        return 60.0 if message.event.lower() in ONE_MINUTE_EVENTS else None
    return 48 * 3600.0 if message.type in USER_MESSAGE_TYPES else None


class TypingStatus:
    """ "对方正在输入" shown to one user while a reply is being made. Best effort: a refusal
    is logged, never raised."""

    def __init__(
        self,
        sender: Sender,
        account: str,
        openid: str,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._account = account
        self._openid = openid
        self._logger = logger
        self._clock = clock

    async def show(self, *, on: bool = True) -> None:
        """Show (or clear) it once."""
        try:
            await self._sender.typing(self._account, self._openid, on=on)
        except Exception as exc:  # a missing typing status is no failure worth recording
            self._logger.info("typing status not %s: %s", "shown" if on else "cleared", exc)

    async def renew(self, *, until: float = math.inf, show_first: bool = False) -> None:
        """Show it again every TYPING_RENEW seconds, before WeChat drops it, until the monotonic
        time `until` (or until cancelled)."""
        if self._clock() >= until:
            return
        if show_first:
            await self.show()
        while True:
            await asyncio.sleep(TYPING_RENEW)
            if self._clock() >= until:
                return
            await self.show()


@dataclass(slots=True)
class LateReply:
    """A push answered empty at the deadline, whose reply is still being made."""

    message: BaseMessage
    ctx: Context
    key: str
    ttl: int
    claimed: bool
    by_api: bool  # the reply goes out as a customer-service message
    window_end: float = 0.0  # monotonic: WeChat accepts customer-service messages until then
    typing: asyncio.Task[None] | None = field(default=None, repr=False)


class LateReplies:
    """Sends late replies through the customer-service API, or keeps them for a retry."""

    def __init__(
        self,
        sender: Sender | None,
        guard: SharedValues,
        claims: Claims,
        records: FailureRecords,
        observer: LateReplyObserver,
        *,
        accounts: frozenset[str],
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
        clock: Callable[[], float],
    ) -> None:
        self.sender = sender
        # Accounts whose replies that miss the deadline go out as customer-service messages.
        self.accounts = frozenset(a for a in accounts if sender is not None and sender.can_send(a))
        self._guard = guard  # one lock per push: its late reply is sent once
        self._claims = claims
        self._records = records
        self._observer = observer
        self._spawn = spawn
        self._clock = clock
        self._delivered_here: OrderedDict[str, None] = OrderedDict()  # the guard, store down

    def pending(
        self, message: BaseMessage, ctx: Context, ttl: int, claimed: bool, arrived: float
    ) -> LateReply:
        """What a push answered at the deadline leaves for its late reply."""
        window = service_window(message) if ctx.account in self.accounts else None
        return LateReply(
            message,
            ctx,
            ctx.dedup_key,
            ttl,
            claimed,
            by_api=window is not None,
            window_end=arrived + (window or 0.0) - WINDOW_MARGIN,
        )

    def start_typing(self, late: LateReply) -> None:
        """ "Typing" from the deadline until the reply, while the window is open."""
        if self.sender is None:
            return
        status = TypingStatus(
            self.sender, late.ctx.account, late.message.source, late.ctx.logger, clock=self._clock
        )
        late.typing = self._spawn(status.renew(until=late.window_end, show_first=True))

    async def answer(self, late: LateReply, reply: HandlerReply | None) -> None:
        """The reply of a push answered empty at the deadline, now that it is known."""
        if not late.by_api:
            if late.claimed:
                if reply is not None:
                    log.info("late reply kept for a retry of %s", late.key)
                await self._claims.complete(
                    late.key, reply.xml if reply is not None else b"", late.ttl
                )
            return
        if late.claimed:
            await self._claims.complete(late.key, b"", late.ttl)  # retries: the API delivers it
        typing, late.typing = late.typing, None
        if typing is not None:
            typing.cancel()
            await asyncio.wait([typing])  # "typing" must not land after the answer
        if reply is not None:
            await self._deliver(late, reply)
        elif typing is not None and self.sender is not None:
            status = TypingStatus(
                self.sender, late.ctx.account, late.message.source, late.ctx.logger
            )
            await status.show(on=False)

    async def _deliver(self, late: LateReply, reply: HandlerReply) -> None:
        """Send a late reply to the user who sent the message, once; record it if that fails."""
        assert self.sender is not None
        account = late.ctx.account
        try:
            payload = custom_message(late.message.source, reply.reply)
        except ReplyError as exc:
            await self._undelivered(late, reply, f"not a customer-service message: {exc}", None)
            return
        if isinstance(reply.reply, NewsReply) and len(reply.reply.articles) > 1:
            log.warning(
                "late reply of %s: a customer-service news message carries one article, %d dropped",
                reply.handler.name,
                len(reply.reply.articles) - 1,
            )
        if self._clock() > late.window_end:
            why = "WeChat's window for answering this push had closed (1 minute for events)"
            await self._undelivered(late, reply, why, payload)
            return
        if not await self._first_delivery(late):
            log.info(
                "late reply of %s already sent by another delivery (%s)",
                reply.handler.name,
                late.key,
            )
            return
        try:
            await self.sender.send(account, payload)
        except asyncio.CancelledError:
            # Shut down while sending: whether WeChat got it is unknown; keep it, marked so.
            self._records.write_soon(
                reply.handler,
                late.message,
                late.ctx,
                "late reply interrupted by the shutdown (outcome unknown)",
                delivery=payload,
                unknown=True,
            )
            raise
        except Exception as exc:
            unknown = isinstance(exc, WeChatAPIError) and exc.unknown
            await self._undelivered(
                late,
                reply,
                f"{type(exc).__name__}: {exc}",
                payload,
                unknown=unknown,
                trace=not isinstance(exc, WeChatAPIError),
            )
            return
        self._observer.late_reply(account, "sent")
        log.info(
            "late reply of %s sent as a customer-service message (%s)", reply.handler.name, late.key
        )

    async def _first_delivery(self, late: LateReply) -> bool:
        """True for the one delivery of a push that may send its late reply (a retry that ran the
        handlers again while the store was down must not send a second copy)."""
        try:
            return await self._guard.lock("sent:" + late.key, "sent", ttl=late.ttl)
        except StoreUnavailable as exc:
            self._claims.outage.call_failed("delivery_guard", exc)
            if late.key in self._delivered_here:
                return False
            self._delivered_here[late.key] = None
            while len(self._delivered_here) > DELIVERED_HERE_MAX:
                self._delivered_here.popitem(last=False)
            return True

    async def _undelivered(
        self,
        late: LateReply,
        reply: HandlerReply,
        why: str,
        payload: dict[str, Any] | None,
        *,
        unknown: bool = False,
        trace: bool = False,
    ) -> None:
        self._observer.late_reply(late.ctx.account, "failed")
        log.error(
            "late reply of %s not delivered (dedup key %s): %s",
            reply.handler.name,
            late.key,
            why,
            exc_info=trace,
        )
        await self._records.write(
            reply.handler,
            late.message,
            late.ctx,
            f"late reply not sent: {why}",
            delivery=payload,
            unknown=unknown,
        )
