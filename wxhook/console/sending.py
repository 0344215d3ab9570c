"""The console's Send panel, on the server side: the catalogue's types with their example
fields, and pushes built, signed and encrypted by wxhook.sender with the account's keys (which
never reach the browser), posted to this server's callback listener."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from .. import catalogue, sender
from ..config import AccountConfig, Config
from ..core import AccountKeys, ProtocolError, dedup_key, parse_message, parse_xml
from .live import LiveFeed

# Pushes kept for the retry button: the newest sends, each re-sent with the same query and body.
KEPT_SENDS = 50


def type_list() -> list[dict[str, Any]]:
    """Every push type of the catalogue with its example fields, flattened to A/B names."""
    out = []
    for t in catalogue.TYPES.values():
        out.append(
            {
                "name": t.name,
                "class": t.cls.__name__,
                "msg_type": t.msg_type,
                "event": t.event,
                "is_event": t.is_event,
                "fields": _flatten(t.fields()),
            }
        )
    return out


def _flatten(fields: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in fields.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping):
            out |= _flatten(value, f"{path}/")
        elif not isinstance(value, list):  # lists (article items) keep their examples
            out[path] = str(value)
    return out


def modes(account: AccountConfig) -> list[str]:
    """The modes the console may send in for the account: plain, and with an AES key the
    encrypted ones; the configured mode first."""
    possible = ["plain", "compatible", "safe"] if account.encoding_aes_key else ["plain"]
    return [account.mode, *(m for m in possible if m != account.mode)]


class ConsoleSender:
    """Builds and sends the console's pushes; keeps the newest for the retry button."""

    def __init__(self, config: Config, feed: LiveFeed | None) -> None:
        self.config = config
        self.feed = feed
        self._kept: OrderedDict[int, tuple[sender.Push, str]] = OrderedDict()
        self._ids = itertools.count(1)

    def accounts(self) -> list[dict[str, Any]]:
        """The accounts, as the page may see them: name, path, modes (no key, no token)."""
        return [
            {"name": a.name, "path": a.path, "mode": a.mode, "modes": modes(a)}
            for a in self.config.accounts
        ]

    def _account(self, name: str) -> AccountConfig:
        for account in self.config.accounts:
            if account.name == name:
                return account
        raise LookupError(f"no account named {name!r}")

    def _keys(self, account: AccountConfig, mode: str) -> AccountKeys:
        if mode not in modes(account):
            raise LookupError(f"account {account.name} cannot send in {mode!r} mode")
        try:
            return dataclasses.replace(account, mode=mode).keys()
        except ProtocolError as exc:
            raise LookupError(str(exc)) from None

    def _url(self, account: AccountConfig) -> str:
        server = self.config.server
        return sender.callback_url(None, host=server.host, port=server.port, path=account.path)

    async def send(
        self, account_name: str, type_name: str, fields: Mapping[str, str], mode: str
    ) -> dict[str, Any]:
        """Build one push of the type and send it; the request, the answer and the live entry."""
        account = self._account(account_name)
        push_type = catalogue.find(type_name)
        keys = self._keys(account, mode or account.mode)
        push = sender.build(keys, self._url(account), push_type.name, fields=dict(fields))
        send_id = next(self._ids)
        self._kept[send_id] = (push, account.name)
        while len(self._kept) > KEPT_SENDS:
            self._kept.popitem(last=False)
        return await self._post(send_id, push, account.name)

    async def retry(self, send_id: int) -> dict[str, Any]:
        """The same query and body again, as WeChat retries."""
        kept = self._kept.get(send_id)
        if kept is None:
            raise LookupError(f"send {send_id} is no longer kept: send again")
        return await self._post(send_id, *kept)

    async def _post(self, send_id: int, push: sender.Push, account: str) -> dict[str, Any]:
        after = self.feed.last_id if self.feed is not None else 0
        out: dict[str, Any] = {
            "id": send_id,
            "account": account,
            "mode": push.keys.mode,
            "request": {
                "method": "POST",
                "url": push.url,
                "query": dict(push.query),
                "body": push.body.decode("utf-8", "replace"),
                "document": push.document.decode("utf-8", "replace"),
            },
        }
        try:
            result = await asyncio.to_thread(sender.post, push, timeout=10.0)
        except sender.SendError as exc:
            out["error"] = str(exc)
        else:
            out |= _answered(result.status, result.reason, result.seconds, result.body)
            out["reply"] = result.reply
        out["live"] = self._live_entry(push, account, after)
        return out

    def _live_entry(self, push: sender.Push, account: str, after: int) -> dict[str, Any] | None:
        # The endpoint reports a push before its answer goes out: it is in the ring by now.
        if self.feed is None:
            return None
        try:
            key = dedup_key(parse_message(parse_xml(push.document)), account)
        except ProtocolError:
            return None
        return self.feed.latest(key, after)

    async def verify(self, account_name: str) -> dict[str, Any]:
        """Play WeChat's URL verification (the signed GET with an echostr)."""
        account = self._account(account_name)
        check = sender.verification(account.keys(), self._url(account))
        out: dict[str, Any] = {
            "account": account.name,
            "request": {"method": "GET", "url": check.url, "query": dict(check.query)},
            "echostr": check.echostr,
        }
        try:
            result = await asyncio.to_thread(sender.get, check, timeout=10.0)
        except sender.SendError as exc:
            out["error"] = str(exc)
        else:
            out |= _answered(result.status, result.reason, result.seconds, result.body)
            out["verified"] = True
        return out


def _answered(status: int, reason: str, seconds: float, body: bytes) -> dict[str, Any]:
    """What the page shows of any answer: status, reason, time taken, body."""
    return {
        "status": status,
        "reason": reason,
        "ms": round(seconds * 1000, 1),
        "body": body.decode("utf-8", "replace"),
    }
