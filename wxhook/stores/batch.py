"""Auto-pipelining for a Redis client: the commands of concurrent requests share one round trip.

Every push costs one awaited Redis command (the dedup claim) and one in the background (the
stored reply). Sent one by one, each takes a pooled connection, a write, a read and a release;
under load, many pushes are in the same event-loop turn at once. `Batcher.execute` queues the
command and flushes everything queued in that turn as one non-transactional pipeline: one
write, one read of all the replies, and one connection for the lot. Each caller still gets its
own reply or its own error, exactly as if it had sent the command alone.

The client is anything with redis.asyncio's `pipeline()`; this module does not import redis
(stores/redis.py stays the one module that does).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any, Protocol

# A command's words, and the options redis-py's reply callbacks read (SET ... GET: get=True).
Command = tuple[tuple[Any, ...], dict[str, Any]]


class PipelineClient(Protocol):
    """What Batcher needs of a client: redis.asyncio.Redis.pipeline."""

    def pipeline(self, transaction: bool = True) -> Any: ...


class Batcher:
    """Coalesces the commands issued in one event-loop turn into one pipeline round trip."""

    def __init__(
        self,
        client: PipelineClient,
        *,
        noscript: type[Exception],
        max_batch: int = 512,
    ) -> None:
        """`noscript` is the client's error for an unknown script (redis' NoScriptError)."""
        self._client = client
        self._noscript = noscript
        self._max_batch = max_batch
        self._queue: list[tuple[Command, asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()
        self._scheduled = False

    async def execute(self, *command: Any, **options: Any) -> Any:
        """Send one command (e.g. "SET", key, value, "NX", "EX", 60) and return its reply, as
        Redis.execute_command(*command, **options) would.

        Raises what the client would raise for it: its error for this command's error reply
        (redis' ResponseError), and whatever stopped the whole batch (a connection error, a
        timeout) for every command of that batch.
        """
        return await self.send(*command, **options)

    def send(self, *command: Any, **options: Any) -> asyncio.Future[Any]:
        """Queue one command without awaiting it: no task, its reply or error lands in the
        returned future (for a stored reply nobody waits for: add a done-callback)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(((command, options), future))
        if len(self._queue) >= self._max_batch:
            self._flush()
        elif not self._scheduled:
            # After the callbacks already queued in this turn: they may add their commands too.
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    async def eval_script(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """EVALSHA, loading the script once if Redis does not know it (NOSCRIPT)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self.execute(*command)
        except self._noscript:
            await self.execute("SCRIPT", "LOAD", script.source)
            return await self.execute(*command)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._queue:
            return
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _send(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        live = [(command, future) for command, future in batch if not future.cancelled()]
        if not live:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for (words, options), _ in live:
                    pipe.execute_command(*words, **options)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # each caller of the batch gets it, as if it had sent alone
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException as exc:  # cancelled while sending: every caller hears of it
            for _, future in live:
                if not future.done():
                    future.set_exception(ConnectionError(f"redis batch interrupted: {exc!r}"))
            raise
        for (_, future), reply in zip(live, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def aclose(self) -> None:
        """Wait for the batches in flight (their callers are waiting for them anyway)."""
        if self._queue:
            self._flush()
        if self._flushing:
            await asyncio.wait(set(self._flushing))


class Script:
    """A Lua script known by its SHA-1, for Batcher.eval_script."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
