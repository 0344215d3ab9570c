"""wxhook mounted in a user's own aiohttp application with `wxhook.setup(app, config)`."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from aiohttp import web
from helpers import KEY, msgid, uid

import wxhook
from wxhook.config import load_config
from wxhook.core import AccountKeys
from wxhook.simulator import message, open_reply, push, verification

EMBEDDING_DOC = (Path(__file__).resolve().parents[2] / "docs" / "embedding.md").read_text()
TOKEN = "embed-token"
APPID = "wx2c2769f8efd9abc2"
KEYS = AccountKeys.create(token=TOKEN, app_id=APPID, encoding_aes_key=KEY, mode="safe")

PLUGIN = """
from wxhook import Router

router = Router()
runs = []

@router.message("text")
async def echo(message, ctx):
    runs.append(message.content)
    return "echo: " + message.content
"""


def write_config(tmp: Path) -> Path:
    (tmp / "embedplugin.py").write_text(PLUGIN)
    path = tmp / "wxhook.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [plugins]
            modules = ["embedplugin"]
            [[accounts]]
            name = "shop"
            path = "/wechat/shop"
            token = "{TOKEN}"
            app_id = "{APPID}"
            encoding_aes_key = "{KEY}"
            mode = "safe"
            """
        )
    )
    return path


def user_app(seen: list[str]) -> web.Application:
    """A team's existing service: its own route, middleware and hooks."""

    @web.middleware
    async def tag(request: web.Request, handler):
        seen.append(request.path)
        response = await handler(request)
        response.headers["X-Shop"] = "1"
        return response

    async def orders(request: web.Request) -> web.Response:
        return web.json_response({"orders": 3})

    async def on_startup(app: web.Application) -> None:
        seen.append("startup")

    async def on_cleanup(app: web.Application) -> None:
        seen.append("cleanup")

    app = web.Application(middlewares=[tag])
    app.router.add_get("/api/orders", orders)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


async def test_a_user_app_answers_its_routes_and_wechats(aiohttp_client, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[str] = []
    app = user_app(seen)
    assert wxhook.setup(app, write_config(tmp_path)) is app  # a path, as aiohttp_jinja2 takes one
    client = await aiohttp_client(app)
    assert seen == ["startup"]

    resp = await client.get("/api/orders")
    assert resp.status == 200 and await resp.json() == {"orders": 3}
    assert resp.headers["X-Shop"] == "1"  # the user's middleware still runs on its routes

    resp = await client.get("/wechat/shop", params=verification(KEYS, "4242"))
    assert resp.status == 200 and await resp.text() == "4242"

    query, body = push(KEYS, message("text", user=uid(), Content="hi", MsgId=msgid()))
    first = await client.post("/wechat/shop", params=query, data=body)
    assert first.status == 200
    raw = await first.read()
    assert open_reply(KEYS, raw)["Content"] == "echo: hi"  # decrypted, handled, encrypted back
    retry = await client.post("/wechat/shop", params=query, data=body)
    assert retry.status == 200 and open_reply(KEYS, await retry.read())["Content"] == "echo: hi"
    import embedplugin

    assert embedplugin.runs == ["hi"]  # the retry was a duplicate: the handler ran once

    forged = dict(query, msg_signature="0" * 40)
    assert (await client.post("/wechat/shop", params=forged, data=body)).status == 403
    # Ops routes were not asked for: the user's app does not grow /metrics or /readyz.
    assert (await client.get("/metrics")).status == 404
    assert (await client.get("/readyz")).status == 404
    assert seen.count("/api/orders") == 1

    await client.close()
    assert seen[-1] == "cleanup"


async def test_ops_routes_on_the_user_app_when_asked(aiohttp_client, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    config = load_config(write_config(tmp_path))  # a loaded config works too
    app = wxhook.setup(web.Application(), config, ops_routes=True)
    client = await aiohttp_client(app)
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    assert "wxhook_requests" in await (await client.get("/metrics")).text()


async def test_the_documented_example_runs_as_written(aiohttp_client, tmp_path, monkeypatch):
    example = re.search(r"```python\n# shop.py\n(.*?)```", EMBEDDING_DOC, re.S)
    assert example is not None, "docs/embedding.md lost its example"
    write_config(tmp_path).rename(tmp_path / "wxhook.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict[str, object] = {"__name__": "shop"}
    exec(compile(example[1], "shop.py", "exec"), namespace)
    client = await aiohttp_client(namespace["app"])
    assert await (await client.get("/api/orders")).json() == {"orders": 3}
    query, body = push(KEYS, message("text", user=uid(), Content="doc", MsgId=msgid()))
    resp = await client.post("/wechat/shop", params=query, data=body)
    assert open_reply(KEYS, await resp.read())["Content"] == "echo: doc"
