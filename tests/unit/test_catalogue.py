"""Every class of the seed catalogue exists with exactly its name, attributes and event name."""

from __future__ import annotations

import pytest
from seed import CATALOGUE, EVENT_ERRATA

import wxhook.core as core


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
