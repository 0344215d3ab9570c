"""WeChat's flat XML dialect in and out: hostile-input-safe parsing, CDATA-safe rendering."""

from __future__ import annotations

import re
import xml.sax
import xml.sax.handler
from typing import Any, TypeAlias

from defusedxml import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser

from .errors import BodyTooLarge, ParseError

XmlValue: TypeAlias = "str | XmlDict | list[XmlValue]"
XmlDict: TypeAlias = dict[str, XmlValue]
# What the renderer takes: str becomes CDATA, int stays bare, dicts nest, lists repeat.
Fields: TypeAlias = "dict[str, str | int | Fields | list[Fields]]"

MAX_DEPTH = 16
MAX_BYTES = 1 << 20  # real pushes are a few KB; anything near a megabyte is not WeChat.

# XML 1.0 forbids C0 controls other than tab, LF, CR even inside CDATA; WeChat has sent \x1d in
# user text (offu/WeRoBot#420), which makes a strict parser fail and the user see an error.
_C0 = bytes(c for c in range(32) if c not in (9, 10, 13))
_C0_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_BOM = b"\xef\xbb\xbf"


def clean_bytes(body: bytes) -> bytes:
    """Drop the BOM, leading whitespace and illegal C0 controls before parsing."""
    if body.startswith(_BOM):
        body = body[3:]
    return body.lstrip().translate(None, _C0)


def clean_text(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry, so rendered output always parses."""
    return _C0_TEXT.sub("", text)


class _Builder(xml.sax.handler.ContentHandler):
    """Builds nested dicts; repeated children become lists; remembers CDATA segments."""

    def __init__(self) -> None:
        super().__init__()
        self.root: XmlDict | None = None
        self._stack: list[tuple[str, XmlDict, list[tuple[str, bool]]]] = []
        self._in_cdata = False

    # ContentHandler
    def startElement(self, name: str, attrs: Any) -> None:
        if len(self._stack) >= MAX_DEPTH:
            raise ParseError(f"XML nested deeper than {MAX_DEPTH} levels")
        self._stack.append((name, {}, []))

    def endElement(self, name: str) -> None:
        _, children, segments = self._stack.pop()
        value: XmlValue = children if children else _join(segments)
        if not self._stack:
            self.root = children
            return
        parent = self._stack[-1][1]
        if name in parent:
            existing = parent[name]
            if isinstance(existing, list):
                existing.append(value)
            else:
                parent[name] = [existing, value]
        else:
            parent[name] = value

    def characters(self, content: str) -> None:
        if self._stack:
            self._stack[-1][2].append((content, self._in_cdata))

    # LexicalHandler
    def startCDATA(self) -> None:
        self._in_cdata = True

    def endCDATA(self) -> None:
        self._in_cdata = False

    def comment(self, content: str) -> None:
        pass

    def startDTD(self, name: str, public_id: str, system_id: str) -> None:
        raise ParseError("DOCTYPE is not allowed in a WeChat push")

    def endDTD(self) -> None:
        pass


def _join(segments: list[tuple[str, bool]]) -> str:
    # CDATA content is kept verbatim; whitespace outside CDATA is layout (pretty-printed pushes).
    if len(segments) == 1:  # the common case: one bare value or one CDATA section
        text, is_cdata = segments[0]
        return text if is_cdata else text.strip()
    if not any(is_cdata for _, is_cdata in segments):
        return "".join(text for text, _ in segments).strip()
    first = next(i for i, (_, c) in enumerate(segments) if c)
    last = max(i for i, (_, c) in enumerate(segments) if c)
    head = "".join(t for t, _ in segments[:first]).lstrip()
    tail = "".join(t for t, _ in segments[last + 1 :]).rstrip()
    return head + "".join(t for t, _ in segments[first : last + 1]) + tail


def parse_xml(body: bytes, *, max_bytes: int = MAX_BYTES) -> XmlDict:
    """Parse one WeChat XML document into a dict of its root's children."""
    if len(body) > max_bytes:
        raise BodyTooLarge(f"XML body of {len(body)} bytes exceeds the {max_bytes}-byte limit")
    body = clean_bytes(body)
    if not body:
        raise ParseError("empty body: expected an <xml> document")
    builder = _Builder()
    parser = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setContentHandler(builder)
    parser.setProperty(xml.sax.handler.property_lexical_handler, builder)
    try:
        parser.feed(body)
        parser.close()
    except ParseError:
        raise
    except DefusedXmlException as exc:
        raise ParseError(f"hostile XML refused: {type(exc).__name__}") from exc
    except xml.sax.SAXParseException as exc:
        raise ParseError(
            f"malformed XML: {exc.getMessage()} at line {exc.getLineNumber()}"
        ) from exc
    except (xml.sax.SAXException, ValueError, UnicodeError) as exc:
        raise ParseError(f"malformed XML: {exc}") from exc
    if builder.root is None:
        raise ParseError("malformed XML: no root element")
    return builder.root


def cdata(text: str) -> str:
    """Wrap text in CDATA; a `]]>` inside is split across two sections (PROTOCOL.md 5)."""
    return "<![CDATA[" + clean_text(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_fields(fields: Fields) -> str:
    """Render element name -> value in order."""
    out: list[str] = []
    for name, value in fields.items():
        if isinstance(value, list):
            out.extend(f"<{name}>{render_fields(item)}</{name}>" for item in value)
        elif isinstance(value, dict):
            out.append(f"<{name}>{render_fields(value)}</{name}>")
        elif isinstance(value, int):
            out.append(f"<{name}>{value}</{name}>")
        else:
            out.append(f"<{name}>{cdata(value)}</{name}>")
    return "".join(out)


def render_document(fields: Fields) -> bytes:
    """A whole `<xml>` document as UTF-8 bytes."""
    return ("<xml>" + render_fields(fields) + "</xml>").encode()
