"""Declarative fields: each message attribute names the XML element it is read from."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ParseError
from .xmlcodec import XmlDict, XmlValue

Converter = Callable[[XmlValue], Any]


def text(value: XmlValue) -> str:
    """The element's text; a nested element where text was expected reads as ""."""
    return value if isinstance(value, str) else ""


def integer(value: XmlValue) -> int:
    """An integer that may be 64 bits wide; empty reads as 0."""
    s = text(value)
    if not s:
        return 0
    try:
        return int(s)
    except ValueError:
        raise ParseError(f"expected an integer, got {s[:40]!r}") from None


def decimal(value: XmlValue) -> float:
    """A decimal such as a latitude; empty reads as 0.0."""
    s = text(value)
    if not s:
        return 0.0
    try:
        return float(s)
    except ValueError:
        raise ParseError(f"expected a number, got {s[:40]!r}") from None


def items(value: XmlValue) -> list[XmlDict]:
    """Repeated elements as a list of mappings, even when WeChat sent exactly one."""
    seq = value if isinstance(value, list) else [value]
    return [v for v in seq if isinstance(v, dict)]


def mapping(value: XmlValue) -> XmlDict:
    """A nested element as a mapping ({} when absent or empty)."""
    return value if isinstance(value, dict) else {}


def xml(
    *path: str,
    convert: Converter = text,
    fallback: tuple[tuple[str, ...], ...] = (),
    default: Any = "",
    doc: str = "",
    example: Any = None,
) -> Any:
    """A dataclass field read from the element at `path` (else the first `fallback` path).

    `doc` says what the value means (the reference documentation is generated from it);
    `example` is a realistic value as WeChat sends it, used to build example pushes (an `items`
    field takes a list of mappings).
    """
    meta = {"path": path, "convert": convert, "fallback": fallback, "doc": doc, "example": example}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=type(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def lookup(raw: Mapping[str, XmlValue], path: tuple[str, ...]) -> XmlValue | None:
    """Follow element names down nested mappings; None where the path stops."""
    node: XmlValue | Mapping[str, XmlValue] = raw
    for name in path:
        if not isinstance(node, Mapping) or name not in node:
            return None
        node = node[name]
    return node  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True, slots=True)
class XmlField:
    """Where one attribute is read from: the element paths tried in order, and the converter."""

    name: str
    paths: tuple[tuple[str, ...], ...]
    convert: Converter


@functools.cache
def xml_fields_of(cls: type) -> tuple[XmlField, ...]:
    """The attributes of a dataclass that are read from XML, in declaration order."""
    return tuple(
        XmlField(f.name, (f.metadata["path"], *f.metadata["fallback"]), f.metadata["convert"])
        for f in dataclasses.fields(cls)
        if f.metadata.get("path")
    )


def read_fields(cls: type, raw: Mapping[str, XmlValue]) -> dict[str, Any]:
    """Keyword arguments for `cls` read from a parsed document via each field's metadata.

    An attribute whose elements are all absent is left out, so it takes its default.
    """
    kwargs: dict[str, Any] = {}
    for field in xml_fields_of(cls):
        for path in field.paths:
            value = lookup(raw, path)
            if value is not None:
                break
        else:
            continue
        try:
            kwargs[field.name] = field.convert(value)
        except ParseError as exc:
            raise ParseError(f"{'/'.join(field.paths[0])}: {exc.message}") from None
    return kwargs
