"""The ceiling on aiohttp's low-level server (`aiohttp.web.Server`, public API): no
Application, router, middlewares or signals; one handler that picks the callback path itself,
reads the body and answers "success". Beside bare.py (`web.Application`), it says how much
`wxhook serve` could gain by serving its callback routes through `web.Server`.

Usage: python bench/servers/bare_server.py PORT [asyncio|uvloop]
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web
from common import PATH, use_loop


async def callback(request: web.BaseRequest) -> web.Response:
    # What a router does for one POST route, by hand: the path and the method.
    if request.path != PATH:
        return web.Response(status=404)
    if request.method != "POST":
        return web.Response(status=405)
    await request.read()
    # The same response as bare.py builds: the two differ only in Application vs Server.
    return web.Response(text="success")


async def serve(port: int) -> None:
    runner = web.ServerRunner(web.Server(callback, access_log=None), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    port, loop = int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "asyncio"
    use_loop(loop)
    asyncio.run(serve(port))


if __name__ == "__main__":
    main()
