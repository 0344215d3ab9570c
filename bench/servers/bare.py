"""The ceiling: an aiohttp endpoint that reads the body and answers "success".

Usage: python bench/servers/bare.py PORT [asyncio|uvloop]
"""

from __future__ import annotations

import sys

from aiohttp import web
from common import PATH, use_loop


async def callback(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="success")


def main() -> None:
    port, loop = int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "asyncio"
    use_loop(loop)
    app = web.Application()
    app.router.add_post(PATH, callback)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
