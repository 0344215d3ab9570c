"""What the dispatcher's parts are given, as small protocols: a sender for customer-service
messages, and observers of what happens (metrics.MetricsObserver implements every one). The
failure log is the store's (wxhook.stores.FailureLog)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Sender(Protocol):
    """WeChat's customer-service API (wxhook.api.WeChatAPI)."""

    def can_send(self, account: str) -> bool:
        """True when the account has an AppSecret (so the API can be called for it)."""

    async def send(self, account: str, payload: Mapping[str, Any]) -> None:
        """Send one customer-service message; not retried once it may have reached WeChat."""

    async def typing(self, account: str, openid: str, *, on: bool = True) -> None:
        """Show (or stop showing) "对方正在输入" to the user."""


class StoreObserver(Protocol):
    """Store calls that failed."""

    def store_error(self, operation: str) -> None:
        """A store call failed (the caller went on without it)."""

    def failed_open(self, account: str) -> None:
        """A push handled without a claim (the store did not answer in time)."""


class PushObserver(Protocol):
    """How pushes were answered."""

    def duplicate(self, account: str) -> None:
        """A retry answered from its first delivery."""

    def deadline_missed(self, account: str) -> None:
        """A push answered empty at the deadline while its handlers went on."""

    def shed(self, account: str) -> None:
        """A push not started: too many handlers were running."""

    def url_reused(self, account: str) -> None:
        """A plain push's signed URL came again with another body."""


class HandlerObserver(Protocol):
    """Handler tasks and the failure records they leave."""

    def handler_started(self) -> None:
        """A handler task is running (it waited for something)."""

    def handler_ended(self) -> None:
        """A handler task that was running has ended."""

    def handler_ran(self, handler: str, seconds: float) -> None:
        """How long one handler ran, whatever its outcome."""

    def handler_failed(self, handler: str) -> None:
        """A handler raised, returned what cannot be sent, or was cancelled."""

    def background_started(self) -> None:
        """A handler goes on after its push was answered."""

    def background_ended(self) -> None:
        """A handler that went on after its push was answered has ended."""

    def failure_recorded(self) -> None:
        """A failure record was made."""


class LateReplyObserver(Protocol):
    """Replies sent after the deadline as customer-service messages."""

    def late_reply(self, account: str, result: str) -> None:
        """A late reply was "sent", or "failed" (recorded for a replay)."""
