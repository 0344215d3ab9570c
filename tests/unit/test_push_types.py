"""Every class of the registry has a push type whose example document parses back into it."""

from __future__ import annotations

import dataclasses

import pytest

from wxhook.catalogue import TYPES, find, xml_fields
from wxhook.core import BaseMessage, PublishJobFinishEvent, parse_message, parse_xml
from wxhook.core.messages import MESSAGE_CLASSES
from wxhook.core.registry import EVENT_CLASSES
from wxhook.simulator import sample


def test_every_registry_class_has_a_type():
    assert {t.cls for t in TYPES.values()} == set(MESSAGE_CLASSES) | set(EVENT_CLASSES)
    assert len(TYPES) == len(MESSAGE_CLASSES) + len(EVENT_CLASSES)


@pytest.mark.parametrize("name", list(TYPES))
def test_example_parses_into_its_class_with_every_example_value(name):
    t = TYPES[name]
    message = parse_message(parse_xml(t.document(create_time=1700000000, msg_id=42)))
    assert type(message) is t.cls
    assert message.create_time == 1700000000
    base = {g.name for g in dataclasses.fields(BaseMessage)}
    for f in xml_fields(t.cls):
        example = f.metadata["example"]
        if f.name in base or example is None:
            continue
        # Fields sharing an element (SubscribeScanEvent.key and .scene_id) read the last example.
        same_path = [g for g in xml_fields(t.cls) if g.metadata["path"] == f.metadata["path"]]
        last = [g.metadata["example"] for g in same_path if g.metadata["example"] is not None][-1]
        expected = f.metadata["convert"](str(last) if isinstance(last, int | float) else last)
        assert getattr(message, f.name) == expected, f"{name}.{f.name}"


def test_messages_and_job_events_get_fresh_ids_events_none():
    assert (
        parse_message(parse_xml(sample("text"))).id != parse_message(parse_xml(sample("text"))).id
    )
    assert parse_message(parse_xml(sample("MASSSENDJOBFINISH", msg_id=7))).id == 7
    assert b"MsgId" not in sample("CLICK")


def test_names_are_wire_names_and_lookups_forgive_case_and_class_names():
    assert [n for n in TYPES][:2] == ["text", "image"]
    assert {"subscribe", "subscribe_scan", "SCAN", "CLICK", "PUBLISHJOBFINISH"} <= set(TYPES)
    assert find("click") is find("CLICK") is find("ClickEvent")
    assert find("scan").name == "SCAN"
    assert find("location").cls.__name__ == "LocationMessage"
    assert find("LOCATION").cls.__name__ == "LocationEvent"
    assert find("subscribe_scan").event == "subscribe"
    free = find("freepublishjobfinish")
    assert (free.cls, free.event) == (PublishJobFinishEvent, "FREEPUBLISHJOBFINISH")
    assert b"<Event><![CDATA[FREEPUBLISHJOBFINISH]]></Event>" in free.document(create_time=1)


def test_fields_override_elements_nested_ones_with_a_slash():
    doc = sample("scancode_waitmsg", user="oME", EventKey="K", **{"ScanCodeInfo/ScanResult": "R"})
    event = parse_message(parse_xml(doc))
    assert (event.source, event.key, event.scan_result, event.scan_type) == (
        "oME",
        "K",
        "R",
        "qrcode",
    )
    assert type(parse_message(parse_xml(sample("subscribe", EventKey="qrscene_9")))).__name__ == (
        "SubscribeScanEvent"
    )


def test_unknown_type_suggests_close_names():
    with pytest.raises(LookupError, match="did you mean subscribe"):
        find("subscrib")
    with pytest.raises(LookupError, match="--list"):
        find("zzzz")
