"""Auto-pipelining over redis-py: the commands of concurrent pushes share one round trip.

Every push costs an awaited claim and a stored reply nobody awaits. Sent one by one, each takes
a pooled connection, a write, a read and a release. `Batcher.send` queues a command and, at the
end of the event-loop turn, everything queued in that turn goes out as one non-transactional
redis-py pipeline: one write and one read of all the replies on one node, or, on a Redis
Cluster, redis-py's cluster pipeline, which sends each command to the node owning its key and
follows MOVED and ASK. Each caller still gets its own reply or its own error, as if it had sent
the command alone.

One pipeline is in flight at a time: what is queued while one is out goes as the next, when it
returns (or at once, past `max_batch` commands). Under load that makes fewer, larger pipelines;
an idle server sends each command at the end of its turn as before. A command therefore waits
for at most one batch before its own: `Batcher.bound` is twice the bound of one batch.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

# A command's words, and the options redis-py's reply callbacks read (SET ... GET: get=True).
Command = tuple[tuple[Any, ...], dict[str, Any]]


class PipelineClient(Protocol):
    """What Batcher needs of a client: redis.asyncio's Redis or RedisCluster pipeline()."""

    def pipeline(self, transaction: bool = True) -> Any: ...


class BatchTimeout(TimeoutError):
    """A batch got no answer within the store's bound (each of its callers fails open)."""


class Batcher:
    """Coalesces the commands issued in one event-loop turn into one pipeline round trip."""

    def __init__(self, client: PipelineClient, *, bound: float, max_batch: int = 512) -> None:
        """`bound`: the longest a batch may take, retries and re-discovery included."""
        self._client = client
        self._bound = bound
        # The longest a command may wait for its reply: the batch ahead of it, then its own.
        self.bound = 2 * bound
        self._max_batch = max_batch
        self._queue: list[tuple[Command, asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()
        self._scheduled = False

    def send(self, *command: Any, **options: Any) -> asyncio.Future[Any]:
        """Queue one command (e.g. "SET", key, value, "NX", "EX", 60); its reply, or its error
        (redis-py's ResponseError, or what stopped the whole batch), lands in the future."""
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

    def _flush(self) -> None:
        self._scheduled = False
        if not self._queue:
            return
        if self._flushing and len(self._queue) < self._max_batch:
            return  # a batch is out: this one goes when it returns (_sent)
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._flushing.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._flushing.discard(task)
        if self._queue and not self._scheduled:
            self._flush()  # what queued while the batch was out

    async def _send(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        live = [(command, future) for command, future in batch if not future.cancelled()]
        if not live:
            return
        try:
            # One timer per batch, not per command: a primary being replaced (discovery, a
            # refresh of the cluster's slots, retries) cannot hold a push past the bound. A
            # cancelled read makes redis-py drop that connection, never pool it half-read.
            async with asyncio.timeout(self._bound):
                pipe = self._client.pipeline(transaction=False)
                for (words, options), _ in live:
                    pipe.execute_command(*words, **options)
                # execute() gives the connection back to the pool, whatever happens.
                replies = await pipe.execute(raise_on_error=False)
        except TimeoutError:
            self._fail(live, BatchTimeout(f"no answer from Redis within {self._bound:g}s"))
            return
        except Exception as exc:  # each caller of the batch gets it, as if it had sent alone
            self._fail(live, exc)
            return
        except BaseException as exc:  # cancelled while sending: every caller hears of it
            self._fail(live, ConnectionError(f"redis batch interrupted: {exc!r}"))
            raise
        for (_, future), reply in zip(live, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    @staticmethod
    def _fail(live: list[tuple[Command, asyncio.Future[Any]]], exc: BaseException) -> None:
        for _, future in live:
            if not future.done():
                future.set_exception(exc)

    async def aclose(self) -> None:
        """Send what is queued and wait for the batches in flight (callers wait for them)."""
        while self._queue or self._flushing:
            if self._queue and not self._flushing:
                self._flush()
            await asyncio.wait(set(self._flushing))
