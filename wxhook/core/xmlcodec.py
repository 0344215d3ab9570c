"""WeChat's flat XML dialect in and out: hostile-input-safe parsing, CDATA-safe rendering."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeAlias
from xml.parsers import expat

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

# The shape of nearly every push: <xml>, then flat children that each hold one CDATA section or
# plain text, then </xml>. A document of exactly this shape has no DOCTYPE, entity, reference,
# comment, processing instruction, attribute, nesting or CR to normalise, so reading it with one
# regular expression gives what expat gives, without a callback per element. Anything else,
# hostile input included, goes to expat below.
_WS = "[ \t\n]*"
# One child: its name, then either the content of one CDATA section (up to the first "]]>") or
# plain text.
_CHILD = (
    rf"<([A-Za-z_][A-Za-z0-9_.-]*)>"
    rf"(?:{_WS}<!\[CDATA\[((?:[^\]]++|\](?!\]>))*+)\]\]>{_WS}|([^<&\]]*+))</\1>"
)
# Between the root's tags: children, whitespace, and anything else captured as the 4th group
# (then the document is not flat). One pass checks the shape and reads the values.
_FLAT_CHILDREN = re.compile(rf"{_CHILD}|([^ \t\n])")


def clean_bytes(body: bytes) -> bytes:
    """Drop the BOM, leading whitespace and illegal C0 controls before parsing."""
    if body.startswith(_BOM):
        body = body[3:]
    return body.lstrip().translate(None, _C0)


def clean_text(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry, so rendered output always parses."""
    if len(text) > 64 and text.isascii():
        # Long ASCII (an Encrypt envelope): only C0 controls can be illegal, and bytes.translate
        # finds them several times faster than a per-character check.
        raw = text.encode()
        kept = raw.translate(None, _C0)
        return text if len(kept) == len(raw) else kept.decode()
    # Printable text holds none of them (controls, surrogates and noncharacters are not
    # printable): the common case skips the substitution.
    return text if text.isprintable() else _C0_TEXT.sub("", text)


def _parse_flat(body: bytes) -> XmlDict | None:
    """The flat fast path; None when the document is not of that shape."""
    if b"\r" in body:  # CR would need expat's line-end normalisation
        return None
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    text = text.rstrip(" \t\n")
    if not (text.startswith("<xml>") and text.endswith("</xml>")):
        return None
    # U+FFFE and U+FFFF are not XML characters (isascii() is a flag, not a pass over the text).
    if not text.isascii() and ("\ufffe" in text or "\uffff" in text):
        return None
    found = _FLAT_CHILDREN.findall(text, 5, len(text) - 6)
    # CDATA is verbatim; whitespace outside CDATA is layout (pretty-printed pushes). Anything
    # but a child or whitespace matches the 4th group, with the name "" (a child's is never).
    doc: XmlDict = {name: in_cdata or plain.strip() for name, in_cdata, plain, _ in found}
    if "" in doc:
        return None
    if len(doc) == len(found):
        return doc
    doc = {}  # a repeated child: its values in a list, in order
    for name, in_cdata, plain, _ in found:
        value = in_cdata or plain.strip()
        if name in doc:
            existing = doc[name]
            if isinstance(existing, list):
                existing.append(value)
            else:
                doc[name] = [existing, value]
        else:
            doc[name] = value
    return doc


def _refuse(what: str) -> ParseError:
    return ParseError(f"hostile XML refused: {what}")


def _parse_expat(body: bytes) -> XmlDict:
    """Any well-formed document: nested dicts, repeated children as lists, CDATA kept apart."""
    # (name, children, text segments with their in-CDATA flag) for each open element.
    stack: list[tuple[str, XmlDict, list[tuple[str, bool]]]] = []
    result: list[XmlDict] = []
    in_cdata = False

    def start(name: str, attrs: object) -> None:
        if len(stack) >= MAX_DEPTH:
            raise ParseError(f"XML nested deeper than {MAX_DEPTH} levels")
        stack.append((name, {}, []))

    def end(name: str) -> None:
        _, children, segments = stack.pop()
        value: XmlValue = children if children else _join(segments)
        if not stack:
            result.append(children)
            return
        parent = stack[-1][1]
        if name in parent:
            existing = parent[name]
            if isinstance(existing, list):
                existing.append(value)
            else:
                parent[name] = [existing, value]
        else:
            parent[name] = value

    def characters(content: str) -> None:
        if stack:
            stack[-1][2].append((content, in_cdata))

    def cdata_start() -> None:
        nonlocal in_cdata
        in_cdata = True

    def cdata_end() -> None:
        nonlocal in_cdata
        in_cdata = False

    def doctype(*args: object) -> None:
        raise ParseError("DOCTYPE is not allowed in a WeChat push")

    def entity(*args: object) -> None:
        raise _refuse("EntitiesForbidden")

    def external(*args: object) -> int:
        raise _refuse("ExternalReferenceForbidden")

    parser = expat.ParserCreate()
    parser.buffer_text = True
    # No DTD is ever read (a DOCTYPE stops the parse), so no entity can be declared or fetched;
    # the entity handlers are a second lock, as in defusedxml.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.StartCdataSectionHandler = cdata_start
    parser.EndCdataSectionHandler = cdata_end
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        message = expat.ErrorString(exc.code) if exc.code else str(exc)
        raise ParseError(f"malformed XML: {message} at line {exc.lineno}") from exc
    except (ValueError, UnicodeError) as exc:
        raise ParseError(f"malformed XML: {exc}") from exc
    if not result:
        raise ParseError("malformed XML: no root element")
    return result[0]


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


def _cleaned(body: bytes, max_bytes: int) -> bytes:
    """The body within its size limit, cleaned (clean_bytes), and not empty."""
    if len(body) > max_bytes:
        raise BodyTooLarge(f"XML body of {len(body)} bytes exceeds the {max_bytes}-byte limit")
    body = clean_bytes(body)
    if not body:
        raise ParseError("empty body: expected an <xml> document")
    return body


# The C reader (_flatxml.c), built at install when a C compiler is there: for a body that needs
# no cleaning and is of the flat shape, the dict _parse_flat gives, several times faster; None
# for anything else. It stands in for _parse_flat on cleaned bodies, and is tried first on the
# body as received, which then skips the cleaning. Without it, _parse_flat reads them all.
_parse_plain: Callable[[bytes], XmlDict | None] | None
try:
    from ._flatxml import parse as _parse_plain
except ImportError:  # pragma: no cover - installed without a C compiler
    _parse_plain = None


def _parse_cleaned(body: bytes) -> XmlDict:
    flat = (_parse_plain or _parse_flat)(body)
    return flat if flat is not None else _parse_expat(body)


def _read_plain(body: bytes, max_bytes: int) -> XmlDict | None:
    """The C reader's dict for a body within the size limit, or None (no reader, or a body it
    leaves to the Python path)."""
    if _parse_plain is None or len(body) > max_bytes:
        return None
    return _parse_plain(body)


def parse_xml(body: bytes, *, max_bytes: int = MAX_BYTES) -> XmlDict:
    """Parse one WeChat XML document into a dict of its root's children."""
    doc = _read_plain(body, max_bytes)
    return doc if doc is not None else _parse_cleaned(_cleaned(body, max_bytes))


# The safe-mode envelope as documented (PROTOCOL.md 2): ToUserName and Encrypt, each one CDATA
# section, nothing else. Read with three substring searches, not a character-by-character pass
# over the base64 text; any other shape, or anything unusual inside, goes to parse_xml.
_ENVELOPE_HEAD = b"<xml><ToUserName><![CDATA["
_ENVELOPE_MID = b"]]></ToUserName><Encrypt><![CDATA["
_ENVELOPE_TAIL = b"]]></Encrypt></xml>"


def parse_envelope(body: bytes, *, max_bytes: int = MAX_BYTES) -> XmlDict:
    """parse_xml for an encrypted push's body: the same result, faster for the usual shape."""
    doc = _read_plain(body, max_bytes)
    if doc is not None:
        return doc
    cleaned = _cleaned(body, max_bytes)
    head, mid = len(_ENVELOPE_HEAD), cleaned.find(_ENVELOPE_MID)
    if (
        mid > 0
        and cleaned.startswith(_ENVELOPE_HEAD)
        and cleaned.rstrip(b" \t\n").endswith(_ENVELOPE_TAIL)
        and b"]" not in cleaned[head:mid]  # "]]>" ends a CDATA section early
        and b"\r" not in cleaned  # line ends that expat would normalise
    ):
        encrypt = cleaned[mid + len(_ENVELOPE_MID) : cleaned.rindex(_ENVELOPE_TAIL)]
        to = cleaned[head:mid]
        if b"]" not in encrypt and encrypt.isascii() and to.isascii():
            return {"ToUserName": to.decode(), "Encrypt": encrypt.decode()}
    return _parse_cleaned(cleaned)


def cdata(text: str) -> str:
    """Wrap text in CDATA; a `]]>` inside is split across two sections (PROTOCOL.md 5)."""
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
