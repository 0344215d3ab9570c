"""The batcher: commands of one event-loop turn go as one pipeline, one pipeline at a time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wxhook.stores.batch import Batcher, BatchTimeout


class Pipelines:
    """A client whose pipelines answer each command with its own words, when released."""

    def __init__(self) -> None:
        self.sent: list[list[tuple[Any, ...]]] = []
        self.release = asyncio.Event()

    def pipeline(self, transaction: bool = True) -> Any:
        assert transaction is False
        owner = self

        class Pipe:
            def __init__(self) -> None:
                self.words: list[tuple[Any, ...]] = []

            def execute_command(self, *words: Any, **options: Any) -> None:
                self.words.append(words)

            async def execute(self, raise_on_error: bool = True) -> list[Any]:
                owner.sent.append(self.words)
                await owner.release.wait()
                return [" ".join(map(str, w)) for w in self.words]

        return Pipe()


async def test_one_turn_is_one_pipeline_and_the_next_waits_for_it():
    client = Pipelines()
    batcher = Batcher(client, bound=5.0)
    first = [batcher.send("SET", f"k{i}", "v") for i in range(3)]
    await asyncio.sleep(0)  # the turn ends: the first pipeline goes
    await asyncio.sleep(0)
    assert client.sent == [[("SET", f"k{i}", "v") for i in range(3)]]
    later = [batcher.send("GET", f"k{i}") for i in range(2)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(client.sent) == 1  # held while the first is out
    client.release.set()
    assert await asyncio.gather(*first) == ["SET k0 v", "SET k1 v", "SET k2 v"]
    assert await asyncio.gather(*later) == ["GET k0", "GET k1"]
    assert client.sent[1] == [("GET", "k0"), ("GET", "k1")]  # the held ones, as one pipeline
    await batcher.aclose()


async def test_a_full_batch_goes_at_once_even_with_one_out():
    client = Pipelines()
    batcher = Batcher(client, bound=5.0, max_batch=2)
    a = [batcher.send("GET", "a"), batcher.send("GET", "b")]  # full: sent at once
    b = [batcher.send("GET", "c"), batcher.send("GET", "d")]  # full again: not held back
    await asyncio.sleep(0)
    assert len(client.sent) == 2
    client.release.set()
    assert await asyncio.gather(*a, *b) == ["GET a", "GET b", "GET c", "GET d"]


async def test_close_sends_what_is_held_and_waits_for_it():
    client = Pipelines()
    batcher = Batcher(client, bound=5.0)
    first = batcher.send("GET", "a")
    await asyncio.sleep(0)
    held = batcher.send("GET", "b")
    closing = asyncio.ensure_future(batcher.aclose())
    await asyncio.sleep(0.01)
    assert not closing.done()
    client.release.set()
    await closing
    assert (first.result(), held.result()) == ("GET a", "GET b")


async def test_a_batch_past_its_bound_fails_each_caller_and_the_held_ones_go_next():
    client = Pipelines()
    batcher = Batcher(client, bound=0.05)
    assert batcher.bound == pytest.approx(0.1)  # a command waits for one batch, then its own
    stuck = batcher.send("GET", "a")
    await asyncio.sleep(0)
    held = batcher.send("GET", "b")
    with pytest.raises(BatchTimeout):
        await stuck
    client.release.set()
    assert await held == "GET b"  # sent when the stuck batch gave up
