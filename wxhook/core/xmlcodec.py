"""WeChat's flat XML dialect in and out: hostile-input-safe parsing, CDATA-safe rendering."""

from __future__ import annotations

import re
from typing import TypeAlias
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler, LexicalHandler, property_lexical_handler
from xml.sax.xmlreader import AttributesImpl

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
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
    # Printable text holds none of them (controls, surrogates and noncharacters are not
    # printable).
    return text if text.isprintable() else _C0_TEXT.sub("", text)


class _Element:
    """An open element: its children, and its text in parts with where CDATA content lies."""

    __slots__ = ("children", "first", "last", "parts")

    def __init__(self) -> None:
        self.children: XmlDict = {}
        self.parts: list[str] = []
        # parts[first:last] runs from the first CDATA content to the last; first < 0: none.
        self.first = -1
        self.last = -1

    def value(self) -> XmlValue:
        """The children, or else the text: CDATA content is kept verbatim, and whitespace
        outside CDATA is layout (pretty-printed pushes), stripped at both ends."""
        if self.children:
            return self.children
        parts, first, last = self.parts, self.first, self.last
        if first < 0:
            return "".join(parts).strip()
        head, tail = "".join(parts[:first]).lstrip(), "".join(parts[last:]).rstrip()
        return head + "".join(parts[first:last]) + tail


class _Builder(ContentHandler, LexicalHandler):
    """SAX events to the dict parse_xml returns: nested dicts, repeated children as lists. It
    hears where CDATA sections begin and end, which ElementTree does not tell apart from text."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[_Element] = []
        self.root: XmlDict | None = None
        self.in_cdata = False

    def startElement(self, name: str, attrs: AttributesImpl) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise ParseError(f"XML nested deeper than {MAX_DEPTH} levels")
        self.stack.append(_Element())

    def endElement(self, name: str) -> None:
        element = self.stack.pop()
        if not self.stack:  # the root: its children are the document, its own text is not
            self.root = element.children
            return
        value = element.value()
        parent = self.stack[-1].children
        if name not in parent:
            parent[name] = value
        elif isinstance(existing := parent[name], list):
            existing.append(value)
        else:
            parent[name] = [existing, value]

    def characters(self, content: str) -> None:
        element = self.stack[-1]
        if self.in_cdata:
            if element.first < 0:
                element.first = len(element.parts)
            element.last = len(element.parts) + 1
        element.parts.append(content)

    def startCDATA(self) -> None:
        self.in_cdata = True

    def endCDATA(self) -> None:
        self.in_cdata = False


def parse_xml(body: bytes, *, max_bytes: int = MAX_BYTES) -> XmlDict:
    """Parse one WeChat XML document into a dict of its root's children.

    defusedxml's expat reader refuses a DOCTYPE (so no DTD, entity declaration or external
    reference is ever read), and each of those also on its own; the builder refuses nesting
    deeper than MAX_DEPTH. Every refusal and every malformed body is a ParseError.
    """
    if len(body) > max_bytes:
        raise BodyTooLarge(f"XML body of {len(body)} bytes exceeds the {max_bytes}-byte limit")
    body = clean_bytes(body)
    if not body:
        raise ParseError("empty body: expected an <xml> document")
    builder = _Builder()
    reader = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    reader.setContentHandler(builder)
    reader.setProperty(property_lexical_handler, builder)
    try:
        reader.feed(body)
        reader.close()
    except SAXParseException as exc:
        raise ParseError(
            f"malformed XML: {exc.getMessage()} at line {exc.getLineNumber()}"
        ) from exc
    except DTDForbidden as exc:
        raise ParseError("DOCTYPE is not allowed in a WeChat push") from exc
    except (EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise ParseError(f"hostile XML refused: {type(exc).__name__}") from exc
    except (ValueError, LookupError) as exc:  # an encoding declaration expat cannot use
        raise ParseError(f"malformed XML: {exc}") from exc
    if builder.root is None:
        raise ParseError("malformed XML: no root element")
    return builder.root


def cdata(text: str) -> str:
    """Wrap text in CDATA; a `]]>` inside, which would end the section, is split across two."""
    if text.isprintable() and "]]>" not in text:  # ids, names, one-line text: as they are
        return "<![CDATA[" + text + "]]>"
    return "<![CDATA[" + clean_text(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_fields(fields: Fields) -> str:
    """Render element name -> value in order."""
    out: list[str] = []
    for name, value in fields.items():
        if isinstance(value, str):  # the common case first
            out.append(f"<{name}>{cdata(value)}</{name}>")
        elif isinstance(value, list):
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
