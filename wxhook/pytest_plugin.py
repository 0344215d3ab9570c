"""The `wechat` pytest fixture (registered through the package's pytest11 entry point).

It runs on pytest-asyncio (`pip install "wxhook[testing]"` brings it). An `async def` test that
takes the `wechat` fixture is marked `asyncio` for you, so no marker or configuration is needed.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import pytest

from .testing import WeChat

try:
    import pytest_asyncio
except ImportError:  # wxhook without its [testing] extra: pytest must still start
    pytest_asyncio = None  # type: ignore[assignment]


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def wechat() -> AsyncIterator[WeChat]:
        """`await wechat(router, mode="safe")` starts your router's app; returns a WeChatClient."""
        factory = WeChat()
        try:
            yield factory
        finally:
            await factory.close()

else:

    @pytest.fixture
    def wechat() -> WeChat:
        """Needs pytest-asyncio."""
        pytest.fail('the wechat fixture needs pytest-asyncio: pip install "wxhook[testing]"')


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> None:
    """Mark `async def` tests that take `wechat` as asyncio tests (pytest-asyncio's strict mode)."""
    if pytest_asyncio is None:
        return
    if not (inspect.iscoroutinefunction(obj) and collector.funcnamefilter(name)):
        return
    if "wechat" in inspect.signature(obj).parameters and not _has_asyncio_mark(obj):
        pytest.mark.asyncio(obj)


def _has_asyncio_mark(obj: object) -> bool:
    return any(m.name == "asyncio" for m in getattr(obj, "pytestmark", []))
