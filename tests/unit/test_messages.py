"""Messages built by from_raw's direct constructor equal those built through __init__."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from wxhook.core import ParseError, events, parse_message, parse_xml
from wxhook.core.fields import read_fields
from wxhook.core.messages import BaseMessage, TextMessage, UnknownMessage
from wxhook.core.registry import message_class

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "samples").glob("*.xml"))


def through_init(raw):
    cls = message_class(raw)
    overrides = {}
    if cls is UnknownMessage or cls is events.UnknownEvent:  # as parse_message does
        overrides["type"] = raw["MsgType"]
        if cls is events.UnknownEvent:
            overrides["event"] = raw["Event"]
    return cls(raw=raw, **{**read_fields(cls, raw), **overrides})


def safe_hash(obj):
    try:
        return hash(obj)
    except TypeError as exc:  # list attributes (article lists, picture lists)
        return str(exc)


def attributes(obj):
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_direct_construction_matches_init(path):
    raw = parse_xml(path.read_bytes())
    fast, slow = parse_message(raw), through_init(raw)
    assert type(fast) is type(slow)
    assert attributes(fast) == attributes(slow)
    assert fast == slow and repr(fast) == repr(slow)
    assert safe_hash(fast) == safe_hash(slow)


def test_unknown_types_keep_their_names_and_defaults_fill_in():
    unknown = parse_message({"MsgType": "hologram", "FromUserName": "u"})
    assert (unknown.type, unknown.source, unknown.id, unknown.create_time) == (
        "hologram",
        "u",
        0,
        0,
    )
    event = parse_message({"MsgType": "event", "Event": "teleport"})
    assert isinstance(event, events.UnknownEvent) and event.event == "teleport"
    click = parse_message({"MsgType": "event", "Event": "CLICK"})
    assert (click.type, click.event, click.key) == ("event", "click", "")


def test_a_bad_value_names_its_field():
    with pytest.raises(ParseError, match="CreateTime"):
        parse_message({"MsgType": "text", "CreateTime": "soon"})


def test_other_overrides_take_the_keyword_path():
    text = TextMessage.from_raw({"Content": "hi"}, content="override")
    assert text.content == "override" and text.type == "text"
    with pytest.raises(TypeError):
        BaseMessage.from_raw({}, event="x")
