"""Every push type by name, with a realistic example document built from its class's fields.

The names are what WeChat puts on the wire: the MsgType of an ordinary message (`text`,
`image`), the Event as WeChat spells it (`subscribe`, `CLICK`, `PUBLISHJOBFINISH`,
`submit_invoice_title`), and for classes a push is refined into by its body, the seed's name
(`subscribe_scan`, `subscribe_scan_product`). Lookups also accept the class name, the seed's
event name and every other spelling the registry knows, in any case.

Nothing here is written per type: the documents come from each class's declared `xml(...)`
fields and their `example=` values, so a class added to the registry is covered as it is.
"""

from __future__ import annotations

import dataclasses
import difflib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .core import BaseEvent, BaseMessage, parse_xml
from .core.fields import integer
from .core.messages import MESSAGE_CLASSES
from .core.registry import EVENT_CLASSES, REFINE, message_class
from .core.xmlcodec import Fields, XmlValue, render_document

DEFAULT_USER = "oX3kT0a7Lq9vBw2ZrYc5NfHd8sEu"
DEFAULT_ACCOUNT = "gh_3c8a71f0b2d4"
_BASE_FIELDS = {f.name for f in dataclasses.fields(BaseMessage)}


@dataclass(frozen=True, slots=True)
class PushType:
    """One kind of push: its name, its class and what goes into MsgType and Event."""

    name: str
    cls: type[BaseMessage]
    msg_type: str
    event: str  # "" when the push has no Event element (messages, device_text, device_status)

    @property
    def is_event(self) -> bool:
        """True for events (anything not an ordinary user message)."""
        return issubclass(self.cls, BaseEvent)

    def fields(self) -> Fields:
        """The type-specific elements with their example values, nested as WeChat nests them."""
        out: dict[str, Any] = {}
        id_path = _id_path(self.cls)
        for f in xml_fields(self.cls):
            path: tuple[str, ...] = f.metadata["path"]
            example = f.metadata.get("example")
            if f.name in _BASE_FIELDS or example is None or path == id_path:
                continue
            # Numbers go bare, as WeChat sends them; text in CDATA.
            bare = f.metadata["convert"] is integer and not isinstance(example, list)
            _put(out, path, int(example) if bare else _wire(example))
        return out

    def document(
        self,
        *,
        user: str = DEFAULT_USER,
        account: str = DEFAULT_ACCOUNT,
        create_time: int,
        msg_id: int | None = None,
        overrides: Mapping[str, str] = {},
    ) -> bytes:
        """The whole push; `overrides` sets elements by name, `A/B` for nested ones."""
        doc: dict[str, Any] = {
            "ToUserName": account,
            "FromUserName": user,
            "CreateTime": create_time,
            "MsgType": self.msg_type,
        }
        if self.event:
            doc["Event"] = self.event
        doc.update(self.fields())
        id_path = _id_path(self.cls)
        if id_path:
            _put(doc, id_path, msg_id if msg_id is not None else new_msg_id())
        for name, value in overrides.items():
            _put(doc, tuple(p for p in name.split("/") if p), value)
        return render_document(doc)


def new_msg_id() -> int:
    """A fresh 64-bit message id (WeChat's are 19 digits)."""
    return (1 << 62) + secrets.randbelow(1 << 62)


def xml_fields(cls: type[BaseMessage]) -> tuple[dataclasses.Field[Any], ...]:
    """The class's attributes read from XML, in declaration order."""
    return tuple(f for f in dataclasses.fields(cls) if f.metadata.get("path"))


def _id_path(cls: type[BaseMessage]) -> tuple[str, ...]:
    # Ordinary messages carry MsgId; events only when a class reads its id from elsewhere
    # (job-finish events: MsgID). Either way each push gets a fresh one, so sends never dedup.
    f = next(f for f in dataclasses.fields(cls) if f.name == "id")
    path: tuple[str, ...] = f.metadata["path"]
    if issubclass(cls, BaseEvent) and path == ("MsgId",):
        return ()
    return path


def _wire(example: Any) -> Any:
    # Examples are written as values; the XML renderer wants text, nested mappings and lists.
    if isinstance(example, bool):
        return str(int(example))
    if isinstance(example, int | float):
        return str(example)
    if isinstance(example, Mapping):
        return {k: _wire(v) for k, v in example.items()}
    if isinstance(example, list):
        return [_wire(v) for v in example]
    return example


def _put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    if not path:
        raise ValueError("an element name is empty")
    node = doc
    for name in path[:-1]:
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = {}
        node = child
    node[path[-1]] = value


def _event_on_wire(cls: type[BaseEvent]) -> str:
    """The Event value a push of `cls` carries (as WeChat spells it)."""
    if "WIRE" in vars(cls) and cls.WIRE:
        return cls.WIRE[0]
    if "WIRE" not in vars(cls):
        return "" if cls.EVENT == cls.MSG_TYPE else cls.EVENT
    # Found only by refinement (WIRE = ()): the Event whose refiner picks it for its example.
    for event, refine in REFINE.items():
        probe = PushType(cls.EVENT, cls, cls.MSG_TYPE, event)
        if refine(parse_xml(probe.document(create_time=0))) is cls:
            return _event_on_wire_of_name(event)
    raise LookupError(f"{cls.__name__}: no Event of the registry refines into it")


def _event_on_wire_of_name(event: str) -> str:
    for cls in EVENT_CLASSES:
        if event == cls.EVENT and cls.MSG_TYPE == "event":
            return _event_on_wire(cls)
    return event


def _build() -> tuple[dict[str, PushType], dict[str, PushType]]:
    types: dict[str, PushType] = {}
    aliases: dict[str, PushType] = {}
    for mcls in MESSAGE_CLASSES:
        types[mcls.MSG_TYPE] = PushType(mcls.MSG_TYPE, mcls, mcls.MSG_TYPE, "")
    for ecls in EVENT_CLASSES:
        wire = _event_on_wire(ecls)
        refined = "WIRE" in vars(ecls) and not ecls.WIRE
        name = ecls.EVENT if refined or not wire else wire
        types[name] = PushType(name, ecls, ecls.MSG_TYPE, wire)
        # Every other spelling WeChat uses is a name too, sent as spelled.
        for other in ecls.WIRE[1:] if "WIRE" in vars(ecls) else ():
            aliases[other.lower()] = PushType(other, ecls, ecls.MSG_TYPE, other)
    for t in types.values():
        for alias in (t.cls.__name__, getattr(t.cls, "EVENT", "") or t.msg_type):
            aliases.setdefault(alias.lower(), t)
    for key, t in types.items():
        aliases[key.lower()] = t
    return types, aliases


TYPES, _ALIASES = _build()


def names() -> Iterable[str]:
    """Every type's name, messages first, in the registry's order."""
    return iter(TYPES)


def find(name: str) -> PushType:
    """The type for a name (any case; class names and seed names work too), else LookupError."""
    # Exact names first: `location` is the message and `LOCATION` the event.
    found = TYPES.get(name) or _ALIASES.get(name.lower())
    if found is None:
        close = difflib.get_close_matches(name.lower(), list(_ALIASES), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else "`wxhook send --list` lists them"
        raise LookupError(f"unknown push type {name!r}: {hint}")
    return found


def class_of(document: bytes) -> type[BaseMessage]:
    """The class the registry picks for a document."""
    raw: Mapping[str, XmlValue] = parse_xml(document)
    return message_class(raw)
