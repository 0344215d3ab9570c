"""uvloop is used when present and asked for; its absence is fine unless it was required."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from wxhook.loop import use_uvloop


@pytest.fixture
def restore_policy():
    policy = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(policy)


@pytest.fixture
def fake_uvloop(monkeypatch):
    module = types.ModuleType("uvloop")

    class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
        pass

    module.EventLoopPolicy = EventLoopPolicy  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", module)
    return module


@pytest.fixture
def no_uvloop(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import raises ImportError


def test_auto_takes_uvloop_when_installed(fake_uvloop, restore_policy):
    assert use_uvloop("auto") is True
    assert isinstance(asyncio.get_event_loop_policy(), fake_uvloop.EventLoopPolicy)


def test_auto_without_uvloop_keeps_asyncio(no_uvloop, restore_policy):
    before = asyncio.get_event_loop_policy()
    assert use_uvloop() is False
    assert asyncio.get_event_loop_policy() is before


def test_required_uvloop_missing_is_an_error(no_uvloop, restore_policy):
    with pytest.raises(RuntimeError, match="pip install uvloop"):
        use_uvloop("uvloop")


def test_asyncio_means_asyncio(fake_uvloop, restore_policy):
    before = asyncio.get_event_loop_policy()
    assert use_uvloop("asyncio") is False
    assert asyncio.get_event_loop_policy() is before
    with pytest.raises(ValueError, match="auto"):
        use_uvloop("trio")
