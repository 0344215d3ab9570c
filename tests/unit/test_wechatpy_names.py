"""Names wechatpy users know: every attribute wechatpy gives a push, wxhook gives it too, equal.

Each sample push (tests/samples, plaintext as WeChat sends it or as safe mode decrypts it) and
each example the catalogue builds (wxhook.catalogue) is read by wechatpy 1.8.18
(`wechatpy.parse_message`) and by wxhook. For every field and public property of wechatpy's
object, wxhook's object has an attribute of the same name, and the values are equal after these
normalisations, each a documented difference between the two libraries:

1. Time: wechatpy's DateTimeField gives an aware datetime; wxhook keeps Unix seconds (int).
2. Absent: wechatpy gives None for an element the push lacks (xmltodict: also for an empty
   element, nested ones included); wxhook gives its type's empty value ("", 0, [], {}).
3. Text ends: xmltodict strips whitespace at both ends of every text, CDATA included; wxhook
   keeps CDATA content as sent (the spaces are the user's), so wechatpy's text is ours stripped.
4. Numbers wechatpy keeps as text (TEXT_IN_WECHATPY): coordinates, map scale and OuterId are
   the element's text there; wxhook converts them, so wechatpy's text is converted to our type.
5. Text wechatpy reads as a number (NUMBER_IN_WECHATPY): order ids, store ids and coin counts
   are ints there; wxhook keeps the element's text (ids are names, not quantities), so
   wechatpy's number is compared as text.
6. Beacons: wechatpy's chosen_beacon / around_beacons rename the keys to lower case and read
   Distance as a float; wxhook keeps the elements as WeChat sent them, put into that shape here.
7. wechatpy's private fields (`_chosen_beacon`) are the storage behind its public properties
   and are not compared.

And the few places where wxhook reads more than wechatpy, each listed with its reason:
ALTERNATE_SPELLINGS (an element wxhook also reads under WeChat's other spelling),
CLASS_DIFFERENCES (a push wxhook gives a more specific class), WECHATPY_FAILS (an attribute or
a push wechatpy cannot read at all).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wechatpy

from wxhook.catalogue import TYPES
from wxhook.core import BaseMessage, parse_message, parse_xml

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

TEXT_IN_WECHATPY = frozenset({"location_x", "location_y", "scale", "location", "outer_id"})
NUMBER_IN_WECHATPY = frozenset(
    {
        "order_id",
        "location_id",
        "free_coin_count",
        "pay_coin_count",
        "refund_free_coin_count",
        "refund_pay_coin_count",
    }
)

# (wxhook class, attribute) -> the element wxhook reads when wechatpy's spelling is absent.
ALTERNATE_SPELLINGS = {
    # Device and job pushes spell the id MsgID; wechatpy's base class reads only MsgId.
    ("DeviceTextEvent", "id"): "MsgID",
    # WeChat's store-review push spells it msg; wechatpy reads only Msg.
    ("PoiCheckNotifyEvent", "message"): "msg",
    # The invoice-authorization push carries AuthorizeAppId; wechatpy reads only AppId.
    ("UserAuthorizeInvoiceEvent", "app_id"): "AuthorizeAppId",
}

# (wechatpy class, wxhook class): why wxhook's class differs. Attributes of wechatpy's class
# that wxhook's lacks must then be empty on wechatpy's side: it read nothing for them.
CLASS_DIFFERENCES = {
    # wechatpy has no publish-job class: a publish result sent with Event MASSSENDJOBFINISH
    # (as WeChat's publish docs show it) is a mass send there, every mass-send field empty.
    ("MassSendJobFinishEvent", "PublishJobFinishEvent"): "PublishEventInfo in the body",
}

WECHATPY_FAILS = {
    # xmltodict's expat refuses the C0 control WeChat has put in user text; wxhook drops it.
    "text_control_char.xml": "not well-formed",
}
# wechatpy's around_beacons expects a list and fails on a single AroundBeacon element.
WECHATPY_ATTRIBUTE_FAILS = {("ShakearoundUserShakeEvent", "around_beacons")}


def pushes() -> Iterator[tuple[str, bytes]]:
    for path in sorted(SAMPLES.glob("*.xml")):
        yield path.name, path.read_bytes()
    for name, push_type in TYPES.items():
        yield f"catalogue:{name}", push_type.document(create_time=1_700_000_000)


PUSHES = dict(pushes())


def wechatpy_attributes(obj: Any) -> list[str]:
    """wechatpy's fields and public properties for the object's class."""
    names = set(type(obj)._fields)
    for klass in type(obj).__mro__:
        names.update(k for k, v in vars(klass).items() if isinstance(v, property))
    return sorted(n for n in names if not n.startswith("_"))


def absent(value: Any) -> Any:
    """wechatpy's None for an absent or empty element, recursively, as wxhook's ""."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return {k: absent(v) for k, v in value.items()}
    if isinstance(value, list):
        return [absent(v) for v in value]
    return value


def beacon(element: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): float(v) if k == "Distance" else v for k, v in element.items()}


def normalise(name: str, theirs: Any, ours: Any) -> tuple[Any, Any]:
    """(wechatpy's value, wxhook's value) made comparable by the rules in the docstring."""
    if isinstance(theirs, datetime.datetime):
        return int(theirs.timestamp()), ours
    if name in ("chosen_beacon", "around_beacons"):
        return theirs, beacon(ours) if isinstance(ours, dict) else [beacon(b) for b in ours]
    if name in TEXT_IN_WECHATPY and theirs is not None:
        if isinstance(theirs, tuple):
            return tuple(type(o)(t) for t, o in zip(theirs, ours, strict=True)), ours
        return type(ours)(theirs), ours
    if name in NUMBER_IN_WECHATPY and isinstance(theirs, int):
        return str(theirs), ours
    if theirs is None:
        return (type(ours)() if isinstance(ours, int | float | list | dict) else ""), ours
    if isinstance(theirs, str) and isinstance(ours, str):
        return theirs, ours.strip() if theirs != ours else ours
    return absent(theirs), ours


def disagreements(name: str) -> list[str]:
    body = PUSHES[name]
    theirs_obj = wechatpy.parse_message(body)
    ours_obj = parse_message(parse_xml(body))
    theirs_cls, ours_cls = type(theirs_obj).__name__, type(ours_obj).__name__
    refined = (theirs_cls, ours_cls) in CLASS_DIFFERENCES
    out = []
    for attribute in wechatpy_attributes(theirs_obj):
        if (ours_cls, attribute) in WECHATPY_ATTRIBUTE_FAILS:
            try:
                getattr(theirs_obj, attribute)
            except (TypeError, KeyError):
                assert getattr(ours_obj, attribute), f"{name}: wxhook reads no {attribute}"
                continue
        theirs = getattr(theirs_obj, attribute)
        if not hasattr(ours_obj, attribute):
            if refined and not theirs:
                continue
            out.append(f"{ours_cls} has no {attribute!r} (wechatpy's {theirs_cls}: {theirs!r})")
            continue
        ours = getattr(ours_obj, attribute)
        spelling = ALTERNATE_SPELLINGS.get((ours_cls, attribute))
        if spelling and spelling in ours_obj.raw and not theirs:
            # wechatpy read nothing; wxhook read WeChat's other spelling of the element.
            if str(ours) != ours_obj.raw[spelling]:
                out.append(f"{attribute}: {ours!r} is not {spelling} {ours_obj.raw[spelling]!r}")
            continue
        expected, got = normalise(attribute, theirs, ours)
        if expected != got:
            out.append(f"{ours_cls}.{attribute}: wechatpy {expected!r}, wxhook {got!r}")
    return out


READABLE = [name for name in PUSHES if name not in WECHATPY_FAILS]


@pytest.mark.parametrize("name", READABLE)
def test_wxhook_has_every_wechatpy_attribute_with_its_value(name):
    assert disagreements(name) == []


@pytest.mark.parametrize("name", list(WECHATPY_FAILS))
def test_pushes_wechatpy_cannot_read_are_read_by_wxhook(name):
    with pytest.raises(Exception, match=WECHATPY_FAILS[name]):
        wechatpy.parse_message(PUSHES[name])
    assert isinstance(parse_message(parse_xml(PUSHES[name])), BaseMessage)


def test_every_push_type_is_compared():
    # The catalogue's examples cover every class: no class escapes the comparison.
    compared = {type(parse_message(parse_xml(PUSHES[n]))) for n in READABLE}
    assert {t.cls for t in TYPES.values()} <= compared


def test_the_comparison_notices_a_missing_or_different_attribute(monkeypatch):
    # Guard against a vacuous comparison: a wrong value and a missing name are both reported.
    from wxhook.core import events

    monkeypatch.setattr(events.UserConsumeCardEvent, "staff", property(lambda self: "someone"))
    assert any("staff" in d for d in disagreements("event_user_consume_card.xml"))
    monkeypatch.delattr(events.PoiCheckNotifyEvent, "message")
    assert any("'message'" in d for d in disagreements("catalogue:poi_check_notify"))


def test_device_content_is_the_decoded_text_and_the_bytes_are_kept():
    event = parse_message(parse_xml(PUSHES["device_text.xml"]))
    assert event.content == "hello device"
    assert event.content_bytes == b"hello device"
    assert event.content_base64 == "aGVsbG8gZGV2aWNl"
    binary = dataclasses.replace(event, content_base64="/wA=")
    assert binary.content_bytes == b"\xff\x00"
    assert binary.content == "\ufffd\x00"
    assert dataclasses.replace(event, content_base64="not base64!").content_bytes == b""
