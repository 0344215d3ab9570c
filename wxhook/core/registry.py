"""One table from (MsgType, Event) to the class a push parses into (h11's READERS, in spirit)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import events as ev
from .errors import ParseError
from .messages import MESSAGE_CLASSES, BaseMessage, UnknownMessage
from .xmlcodec import XmlValue

EVENT_CLASSES: tuple[type[ev.BaseEvent], ...] = tuple(
    cls
    for cls in vars(ev).values()
    if isinstance(cls, type)
    and issubclass(cls, ev.BaseEvent)
    and cls.EVENT
    and not cls.__name__.startswith("_")
)


def _wire_names(cls: type[ev.BaseEvent]) -> tuple[str, ...]:
    # A class found only by refinement says WIRE = () itself; otherwise its seed name is the key.
    return cls.WIRE if "WIRE" in vars(cls) else (cls.EVENT,)


# Dispatch is case-insensitive (WeChat mixes SCAN, subscribe and WifiConnected); keys are lower.
TABLE: dict[tuple[str, str], type[BaseMessage]] = {
    (cls.MSG_TYPE, ""): cls for cls in MESSAGE_CLASSES
}
TABLE.update(
    {(cls.MSG_TYPE, name.lower()): cls for cls in EVENT_CLASSES for name in _wire_names(cls)}
)

_EVENT_MSG_TYPES = frozenset(cls.MSG_TYPE for cls in EVENT_CLASSES) | {"event"}
_PRODUCT_SCENES = ("scanbarcode|", "scanimage|")


def _refine_subscribe(raw: Mapping[str, XmlValue]) -> type[BaseMessage]:
    key = raw.get("EventKey")
    if isinstance(key, str):
        if key.startswith("qrscene_"):
            return ev.SubscribeScanEvent
        if key.startswith(_PRODUCT_SCENES):
            return ev.SubscribeScanProductEvent
    return ev.SubscribeEvent


def _refine_masssend(raw: Mapping[str, XmlValue]) -> type[BaseMessage]:
    # The publish docs' text calls PUBLISHJOBFINISH "MASSSENDJOBFINISH"; the body tells them apart.
    return ev.PublishJobFinishEvent if "PublishEventInfo" in raw else ev.MassSendJobFinishEvent


# Events whose class depends on the body, not only on the Event value.
REFINE: dict[str, Callable[[Mapping[str, XmlValue]], type[BaseMessage]]] = {
    "subscribe": _refine_subscribe,
    "masssendjobfinish": _refine_masssend,
}


def _field(raw: Mapping[str, XmlValue], name: str) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        raise ParseError(f"{name} must be text, got a nested element")
    return value


# (MsgType, Event) exactly as sent -> the class, for pushes whose class depends on nothing else:
# one dictionary lookup instead of lower-casing and refining. Bounded: the spellings of known
# pushes are few (signed pushes only reach this).
_AS_SENT: dict[tuple[str, str], type[BaseMessage]] = {}
_AS_SENT_SIZE = 256


def message_class(raw: Mapping[str, XmlValue]) -> type[BaseMessage]:
    """The class a parsed push belongs to; UnknownMessage / UnknownEvent when none fits."""
    msg_type, event = raw.get("MsgType"), raw.get("Event", "")
    if not isinstance(msg_type, str) or not isinstance(event, str):
        return _message_class(raw)
    found = _AS_SENT.get((msg_type, event))
    if found is None:
        found = _message_class(raw)
        refined = msg_type.lower() == "event" and event.lower() in REFINE
        unknown = found is UnknownMessage or found is ev.UnknownEvent
        if not refined and not unknown and len(_AS_SENT) < _AS_SENT_SIZE:
            _AS_SENT[msg_type, event] = found
    return found


def _message_class(raw: Mapping[str, XmlValue]) -> type[BaseMessage]:
    msg_type = _field(raw, "MsgType").lower()
    if msg_type not in _EVENT_MSG_TYPES:
        return TABLE.get((msg_type, ""), UnknownMessage)
    # device_text and device_status pushes carry no Event: their MsgType names the event.
    event = _field(raw, "Event").lower() or msg_type
    refine = REFINE.get(event) if msg_type == "event" else None
    if refine is not None:
        return refine(raw)
    return TABLE.get((msg_type, event), ev.UnknownEvent)


def parse_message(raw: Mapping[str, XmlValue]) -> BaseMessage:
    """Turn a parsed push into its typed object, or raise ParseError with a clear message."""
    if "MsgType" not in raw:
        raise ParseError("the document has no MsgType: not a WeChat push")
    cls = message_class(raw)
    overrides: dict[str, str] = {}
    if cls is UnknownMessage or cls is ev.UnknownEvent:
        overrides["type"] = _field(raw, "MsgType")
        if cls is ev.UnknownEvent:
            overrides["event"] = _field(raw, "Event")
    return cls.from_raw(raw, **overrides)
