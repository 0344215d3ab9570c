"""Every class of the seed catalogue exists with exactly its name, attributes and event name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import wxhook.core as core

HERE = Path(__file__).resolve().parents[1]
TEXT = (HERE / "seed_catalogue.txt").read_text(encoding="utf-8")

# The catalogue names UserScanProductVerifyActionEvent's event "user_scan_product_async", a
# copy-paste slip in its source; WeChat sends user_scan_product_verify_action (PROTOCOL.md 4.3.8).
EVENT_ERRATA = {"UserScanProductVerifyActionEvent": "user_scan_product_verify_action"}


def catalogue() -> dict[str, dict[str, str]]:
    """class name -> {attribute: description} as the seed lists them."""
    classes: dict[str, dict[str, str]] = {}
    blocks = re.split(r"^class wechatpy\.events\.(\w+)\(message\).*$", TEXT, flags=re.M)
    for name, body in zip(blocks[1::2], blocks[2::2], strict=True):
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        lines = [line for line in lines if not line.endswith("#")]  # the next section's heading
        start = next(i for i, line in enumerate(lines) if line in ("value", "参数")) + 1
        rows = lines[start:]
        classes[name] = dict(zip(rows[0::2], rows[1::2], strict=False))
    return classes


CATALOGUE = catalogue()


def test_the_catalogue_was_read():
    assert len(CATALOGUE) == 29
    assert CATALOGUE["SubscribeScanEvent"] == {
        "event": "subscribe_scan",
        "scene_id": "带参数二维码 scene_id,去除了前缀 qrscene_",
        "ticket": "带参数二维码 ticket",
    }


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_class_exists_with_the_seed_attributes(name):
    cls = getattr(core, name)
    instance = cls()
    for attr in ["id", "source", "target", "create_time", "type", "event", *CATALOGUE[name]]:
        assert hasattr(instance, attr), f"{name}.{attr}"
    expected_event = EVENT_ERRATA.get(name, CATALOGUE[name]["event"])
    assert instance.event == expected_event
    assert instance.type == "event"
