"""Test a plugin through the real pipeline, in a few lines.

A `WeChat` opens the aiohttp app of wxhook.server (signature, decryption, parsing, dedup,
dispatch, rendering, encryption) for your router on aiohttp's test server, with an in-memory
store unless you pass a Redis URL, and gives you a `WeChatClient` that plays WeChat: it sends
realistic, signed (and per the mode encrypted) pushes of any type and opens the replies.

With pytest, the `wechat` fixture (wxhook.pytest_plugin, registered by the package's pytest11
entry point) is a `WeChat` closed after the test::

    @pytest.mark.asyncio
    async def test_welcome(wechat):
        client = await wechat(router, mode="safe")
        reply = await client.send("subscribe")
        assert reply.content == "欢迎"
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from . import catalogue, simulator
from .config import Config, parse_config
from .core import AccountKeys, Mode, parse_xml
from .core.xmlcodec import XmlDict, XmlValue
from .router import Router, State
from .server import STATE, create_app

__all__ = ["TEST_ACCOUNT", "Response", "WeChat", "WeChatClient", "make_config"]

# The account every test app gets unless told otherwise (the key is a made-up one).
TEST_ACCOUNT: dict[str, str] = {
    "name": "test",
    "path": "/wechat",
    "token": "wxhook-test-token",
    "app_id": "wx0123456789abcdef",
    "encoding_aes_key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
}


@dataclass(frozen=True, slots=True)
class Response:
    """What the server answered, with the reply already checked and decrypted."""

    status: int
    body: bytes  # as received (an encrypted envelope in compatible and safe mode)
    plaintext: bytes = b""  # the reply XML, decrypted; b"" for no reply or a refusal
    fields: XmlDict = field(default_factory=dict)  # the reply document's elements
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """200: the push was accepted (with or without a reply)."""
        return self.status == 200

    @property
    def empty(self) -> bool:
        """Accepted, and no reply (WeChat shows nothing)."""
        return self.status == 200 and not self.body

    @property
    def encrypted(self) -> bool:
        """The reply came encrypted (the request was)."""
        return bool(self.body) and self.plaintext != self.body

    @property
    def msg_type(self) -> str:
        """The reply's MsgType: text, image, news, … ("" for no reply)."""
        return _text(self.fields.get("MsgType"))

    @property
    def content(self) -> str | None:
        """A text reply's Content; None when the reply is not a text."""
        return _text(self.fields.get("Content")) if self.msg_type == "text" else None

    @property
    def text(self) -> str:
        """The answer as text: the reply XML (decrypted), or the server's refusal ("signature")."""
        return (self.plaintext or self.body).decode("utf-8", "replace").strip()

    @property
    def media_id(self) -> str | None:
        """The MediaId of an image, voice or video reply."""
        inner = self.fields.get(self.msg_type.capitalize())
        return _text(inner.get("MediaId")) if isinstance(inner, dict) else None

    @property
    def articles(self) -> list[dict[str, str]]:
        """A news reply's articles: Title, Description, PicUrl, Url each."""
        container = self.fields.get("Articles")
        items: XmlValue = container.get("item", []) if isinstance(container, dict) else []
        return [
            {k: _text(v) for k, v in item.items()}
            for item in (items if isinstance(items, list) else [items])
            if isinstance(item, dict)
        ]

    def __getitem__(self, name: str) -> XmlValue:
        return self.fields[name]

    def get(self, name: str, default: XmlValue | None = None) -> XmlValue | None:
        """A reply element, or `default`."""
        return self.fields.get(name, default)


def _text(value: XmlValue | None) -> str:
    return value if isinstance(value, str) else ""


class WeChatClient:
    """Plays WeChat against one account of a running test app."""

    def __init__(
        self,
        http: TestClient[web.Request, web.Application],
        keys: AccountKeys,
        path: str,
        *,
        user: str = catalogue.DEFAULT_USER,
        account_id: str = catalogue.DEFAULT_ACCOUNT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.keys = keys
        self.path = path
        self.user = user
        self.account_id = account_id
        self._clock = clock
        self._create_time = 0
        self.last: tuple[dict[str, str], bytes] | None = None

    @property
    def app(self) -> web.Application:
        """The aiohttp application under test."""
        app = self.http.app
        assert app is not None  # a TestClient over a TestServer always has one
        return app

    @property
    def state(self) -> State:
        """The app-wide State your startup hooks filled."""
        return self.app[STATE]

    def document(self, type_name: str, /, *, user: str | None = None, **fields: str) -> bytes:
        """The plaintext push `send` would post (see `wxhook send --list` for the types)."""
        # Each push gets its own CreateTime: events dedup on sender + CreateTime, and two test
        # pushes of one second are two pushes, not a retry.
        self._create_time = max(int(self._clock()), self._create_time + 1)
        return catalogue.find(type_name).document(
            user=user or self.user,
            account=self.account_id,
            create_time=self._create_time,
            overrides=fields,
        )

    async def send(self, type_name: str, /, *, user: str | None = None, **fields: str) -> Response:
        """Send a realistic push of a type (`"text"`, `"subscribe"`, `"CLICK"`, ...).

        `fields` set XML elements: `send("text", Content="你好")`,
        `send("subscribe", EventKey="qrscene_42")`; `user` is the sender's OpenID.
        """
        return await self.send_xml(self.document(type_name, user=user, **fields))

    async def text(self, content: str, *, user: str | None = None) -> Response:
        """Send a text message."""
        return await self.send("text", user=user, Content=content)

    async def click(self, key: str, *, user: str | None = None) -> Response:
        """Send a menu click with this EventKey."""
        return await self.send("CLICK", user=user, EventKey=key)

    async def send_xml(
        self, document: bytes | str | Mapping[str, Any], *, encrypted: bool | None = None
    ) -> Response:
        """Send a push you wrote yourself: XML, or a mapping of element names to values.

        Signed, and encrypted per the account's mode unless `encrypted` says otherwise.
        """
        if isinstance(document, Mapping):
            document = simulator.message(
                str(document.get("MsgType", "text")),
                user=str(document.get("FromUserName", self.user)),
                account=str(document.get("ToUserName", self.account_id)),
                **{k: v for k, v in document.items() if k not in _HEADER},
            )
        elif isinstance(document, str):
            document = document.encode()
        query, body = simulator.push(self.keys, document, encrypted=encrypted)
        return await self.post(query, body)

    async def retry(self) -> Response:
        """Send the last request again, same query and body, as WeChat retries a slow answer."""
        if self.last is None:
            raise RuntimeError("nothing was sent yet: retry() repeats the last request")
        return await self.post(*self.last)

    async def post(self, query: Mapping[str, str], body: bytes) -> Response:
        """POST exactly this query and body to the account's path."""
        self.last = (dict(query), body)
        started = time.monotonic()
        async with self.http.post(self.path, params=dict(query), data=body) as resp:
            raw = await resp.read()
            status = resp.status
        seconds = time.monotonic() - started
        if status != 200 or not raw:
            return Response(status=status, body=raw, seconds=seconds)
        plaintext = simulator.reply_plaintext(self.keys, raw)
        return Response(
            status=status,
            body=raw,
            plaintext=plaintext,
            fields=parse_xml(plaintext),
            seconds=seconds,
        )

    async def verify(self, echostr: str | None = None) -> Response:
        """The GET WeChat sends when the URL is saved in the MP console."""
        query = simulator.verification(self.keys, echostr)
        async with self.http.get(self.path, params=query) as resp:
            return Response(status=resp.status, body=await resp.read())


_HEADER = ("MsgType", "FromUserName", "ToUserName")


class WeChat:
    """Opens test apps and closes them all at the end (the `wechat` fixture is one)."""

    def __init__(self) -> None:
        self._clients: list[TestClient[web.Request, web.Application]] = []

    async def __call__(
        self,
        router: Router | None = None,
        *,
        mode: Mode = "plain",
        plugins: Sequence[str] = (),
        store: str = "memory://",
        config: Config | None = None,
        account: str | None = None,
        user: str = catalogue.DEFAULT_USER,
        **sections: Mapping[str, Any],
    ) -> WeChatClient:
        """Start the app for `router` (or the `plugins` modules) and return a client for it.

        `mode` is the test account's; `store` a store URL (e.g. a test Redis); `sections` are
        config sections (`dispatch={"deadline": 1.0}`). Or pass a whole `config` and the name
        of one of its `account`s.
        """
        if config is None:
            config = make_config(mode=mode, plugins=plugins, store=store, **sections)
        accounts = {a.name: a for a in config.accounts}
        chosen = accounts[account] if account else config.accounts[0]
        app = create_app(config, router=router)
        http: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
        try:
            await http.start_server()
        except BaseException:
            await http.close()  # a startup hook failed: release the test server's socket
            raise
        self._clients.append(http)
        return WeChatClient(
            http,
            chosen.keys(),
            chosen.path,
            user=user,
            account_id=chosen.original_id or catalogue.DEFAULT_ACCOUNT,
        )

    async def close(self) -> None:
        """Stop every app (shutdown hooks run, background handlers are awaited)."""
        while self._clients:
            await self._clients.pop().close()


def make_config(
    *,
    mode: Mode = "plain",
    plugins: Sequence[str] = (),
    store: str = "memory://",
    **sections: Mapping[str, Any],
) -> Config:
    """A validated Config with the one test account in `mode`."""
    account: dict[str, str] = {**TEST_ACCOUNT, "mode": mode}
    if mode == "plain":
        account |= {"app_id": "", "encoding_aes_key": ""}
    data: dict[str, Any] = {
        # A short grace: closing the app waits for background handlers at most this long.
        "server": {"shutdown_grace": 2.0, **sections.pop("server", {})},
        "store": {"url": store, **sections.pop("store", {})},
        "plugins": {"modules": list(plugins)},
        "accounts": [account],
        **sections,
    }
    return parse_config(data, env={}, source="<wxhook.testing>")
