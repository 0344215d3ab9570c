"""A local fake of the WeChat API: stable_token, message/custom/send, message/custom/typing.

It keeps what it was asked, so tests can say how many tokens were fetched and which messages
went to whom; tokens can be expired early and sends made to fail.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeWeChat:
    app_id: str
    secret: str
    token_fetches: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    typing: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)  # (api, errcode)
    send_errors: list[int] = field(default_factory=list)  # errcodes the next sends return
    token_delay: float = 0.0
    send_delay: float = 0.0  # seconds before a send is answered (it is recorded at once)
    expires_in: int = 7200
    refuse_code: int = 40001  # what a refused token gets (40001, 40014 or 42001)
    log: list[tuple[str, str]] = field(default_factory=list)  # ("send", type) / ("typing", cmd)
    _valid: set[str] = field(default_factory=set)
    _current: str | None = None
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def expire(self, token: str) -> None:
        """WeChat stops accepting `token` (as when it expires early or is replaced)."""
        self._valid.discard(token)
        if self._current == token:
            self._current = None

    def revoke(self, token: str) -> None:
        """WeChat refuses `token`, yet the stable endpoint keeps handing it out (normal mode)."""
        self._valid.discard(token)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        app.router.add_post("/cgi-bin/message/custom/typing", self._typing)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.token_fetches.append(body)
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if body.get("appid") != self.app_id or body.get("secret") != self.secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        if body.get("force_refresh") or self._current is None:
            self._current = f"TOKEN-{next(self._serial)}"
            self._valid.add(self._current)
        return web.json_response({"access_token": self._current, "expires_in": self.expires_in})

    def _check(self, request: web.Request, api: str) -> web.Response | None:
        token = request.query.get("access_token", "")
        if token not in self._valid:
            self.refused.append((api, self.refuse_code))
            return web.json_response(
                {
                    "errcode": self.refuse_code,
                    "errmsg": "invalid credential, access_token is invalid",
                }
            )
        return None

    async def _send(self, request: web.Request) -> web.Response:
        refused = self._check(request, "send")
        if refused is not None:
            return refused
        if self.send_errors:
            code = self.send_errors.pop(0)
            self.refused.append(("send", code))
            return web.json_response({"errcode": code, "errmsg": f"fake error {code}"})
        payload = json.loads(await request.read())
        self.messages.append({**payload, "_token": request.query["access_token"]})
        self.log.append(("send", payload.get("msgtype", "")))
        if self.send_delay:
            await asyncio.sleep(self.send_delay)  # delivered, but the answer comes late
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _typing(self, request: web.Request) -> web.Response:
        refused = self._check(request, "typing")
        if refused is not None:
            return refused
        payload = json.loads(await request.read())
        self.typing.append((payload["touser"], payload["command"]))
        self.log.append(("typing", payload["command"]))
        return web.json_response({"errcode": 0, "errmsg": "ok"})
