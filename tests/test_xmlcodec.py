"""XML in and out: tolerant of WeChat's quirks, closed to hostile documents."""

from __future__ import annotations

import pytest

from wxhook.core import parse_xml
from wxhook.core.xmlcodec import cdata, render_document


def test_control_character_in_user_text_parses():
    # WeRoBot#420: a \x1d in Content made other SDKs fail and the user saw an error notice.
    doc = parse_xml(b"<xml><Content><![CDATA[a\x1db\x00c\td\ne]]></Content></xml>")
    assert doc["Content"] == "abc\td\ne"


@pytest.mark.parametrize(
    "prefix",
    [
        b"",
        b"  \n\t",
        b"\xef\xbb\xbf",
        b'<?xml version="1.0" encoding="utf-8"?>\n',
        b'\n<?xml version="1.0"?>',
    ],
)
def test_leading_whitespace_bom_and_declaration_are_tolerated(prefix):
    assert parse_xml(prefix + b"<xml><A>1</A></xml>") == {"A": "1"}


def test_empty_elements_become_empty_strings():
    doc = parse_xml(b"<xml><A/><B></B><C><![CDATA[]]></C></xml>")
    assert doc == {"A": "", "B": "", "C": ""}


def test_cdata_is_verbatim_and_layout_whitespace_is_dropped():
    doc = parse_xml(b"<xml><A>\n  <![CDATA[  two spaces  ]]>\n</A><B>\n 42 \n</B></xml>")
    assert doc == {"A": "  two spaces  ", "B": "42"}


def test_split_cdata_joins_back():
    doc = parse_xml("<xml><C><![CDATA[hi 😀 ]]]]><![CDATA[> end]]></C></xml>".encode())
    assert doc["C"] == "hi 😀 ]]> end"


def test_repeated_children_become_lists_single_stays_mapping():
    doc = parse_xml(
        b"<xml><L><item><x>1</x></item><item><x>2</x></item></L><M><item><x>3</x></item></M></xml>"
    )
    assert doc["L"] == {"item": [{"x": "1"}, {"x": "2"}]}
    assert doc["M"] == {"item": {"x": "3"}}


def test_cdata_helper_splits_terminator_and_drops_illegal_characters():
    assert cdata("a]]>b\x01") == "<![CDATA[a]]]]><![CDATA[>b]]>"
    assert parse_xml(render_document({"V": "x]]>]]>y\x0b"})) == {"V": "x]]>]]>y"}


def test_render_keeps_ints_bare_and_nests():
    out = render_document({"N": 5, "D": {"K": "v"}, "L": [{"a": "1"}, {"a": "2"}]})
    assert out == (
        b"<xml><N>5</N><D><K><![CDATA[v]]></K></D><L><a><![CDATA[1]]></a></L>"
        b"<L><a><![CDATA[2]]></a></L></xml>"
    )


# The flat fast path must read every document exactly as expat does, or leave it to expat.

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from wxhook.core import ParseError  # noqa: E402
from wxhook.core.xmlcodec import _parse_expat, _parse_flat, clean_bytes  # noqa: E402

_TOKENS = [
    "<xml>", "</xml>", "<A>", "</A>", "<B>", "</B>", "<a.b-c_1>", "</a.b-c_1>", "<A/>",
    "<![CDATA[", "]]>", "]]", "]", "<", ">", "&", "&amp;", "&lt;", "&#20320;", "&x;",
    " ", "\n", "\t", "\r", "\r\n", "\u3000", "x", "你好", "😀", "\ufffe", "<!-- c -->",
    "<?pi x?>", '<A k="v">', "<!DOCTYPE xml>", "<x:y>", "</x:y>", "42",
]  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=24))
def test_flat_fast_path_agrees_with_expat(tokens):
    body = clean_bytes(("<xml>" + "".join(tokens) + "</xml>").encode())
    flat = _parse_flat(body)
    if flat is None:
        return
    assert flat == _parse_expat(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><A>&lt;</A></xml>",
        b"<xml><A>a\r\nb</A></xml>",
        b"<xml><A><![CDATA[x]]>y]]></A></xml>",
        b"<xml><A><B>1</B></A></xml>",
        b'<xml><A k="v">1</A></xml>',
        b"<xml><A>1</A><!-- c --></xml>",
        b'<?xml version="1.0"?><xml><A>1</A></xml>',
        b"<xml><A>1</B></xml>",
        b"<xml><A>1</A></xml><xml/>",
        b"<root><A>1</A></root>",
        b"<xml><A>\xff</A></xml>",
        "<xml><A>\ufffe</A></xml>".encode(),
    ],
)
def test_anything_but_the_flat_shape_goes_to_expat(body):
    assert _parse_flat(clean_bytes(body)) is None


def test_flat_and_expat_agree_on_every_sample():
    from pathlib import Path

    samples = sorted((Path(__file__).parent / "samples").rglob("*.xml"))
    assert samples
    for path in samples:
        body = clean_bytes(path.read_bytes())
        flat = _parse_flat(body)
        try:
            slow = _parse_expat(body)
        except ParseError:
            assert flat is None
            continue
        assert flat is None or flat == slow, path


@pytest.mark.parametrize(
    "text",
    ["a" * 100, "a" * 60 + "\x01\x1f" + "b" * 60 + "\t\n\r", "x\x00" * 40, "é" * 80 + "\x01"],
)
def test_clean_text_long_and_short_paths_agree(text):
    from wxhook.core.xmlcodec import _C0_TEXT, clean_text

    assert clean_text(text) == _C0_TEXT.sub("", text)


# The safe-mode envelope's fast path must read it exactly as the general parser does.

import re  # noqa: E402

from helpers import python_only  # noqa: E402

from wxhook.core import BodyTooLarge  # noqa: E402
from wxhook.core.xmlcodec import parse_envelope  # noqa: E402

_ENVELOPE_TOKENS = ["gh_1", "]", "]]>", "<", "&", "\r", "\x01", "é", " ", "\n", "=", "+/", "AB"]


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(st.sampled_from(_ENVELOPE_TOKENS), max_size=6),
    st.lists(st.sampled_from(_ENVELOPE_TOKENS), max_size=6),
    st.sampled_from(["", " ", "\n", "\ufeff", "<!-- c -->", "<A>1</A>"]),
)
def test_envelope_fast_path_agrees_with_parse_xml(to, encrypt, extra):
    body = (
        f"<xml><ToUserName><![CDATA[{''.join(to)}]]></ToUserName>"
        f"<Encrypt><![CDATA[{''.join(encrypt)}]]></Encrypt></xml>{extra}"
    ).encode()
    try:
        expected = parse_xml(body)
    except ParseError as exc:
        with pytest.raises(ParseError, match=re.escape(exc.message)):
            parse_envelope(body)
        with python_only(), pytest.raises(ParseError, match=re.escape(exc.message)):
            parse_envelope(body)
        return
    assert parse_envelope(body) == expected
    with python_only():
        assert parse_envelope(body) == expected


def test_envelope_fast_path_is_taken_for_wechats_envelope(monkeypatch):
    import wxhook.core.xmlcodec as xmlcodec

    body = b"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[QUJD+/==]]></Encrypt></xml>"

    def general(*args, **kwargs):
        raise AssertionError("the general parser was used")

    with pytest.raises(BodyTooLarge):
        parse_envelope(b" " * 10 + body, max_bytes=len(body))
    monkeypatch.setattr(xmlcodec, "_parse_plain", None)  # the Python path, not the C reader
    monkeypatch.setattr(xmlcodec, "_parse_cleaned", general)
    assert parse_envelope(body) == {"ToUserName": "gh_1", "Encrypt": "QUJD+/=="}
    with pytest.raises(AssertionError):  # a pretty-printed envelope takes the general path
        parse_envelope(body.replace(b"<Encrypt>", b"\n<Encrypt>"))


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1</CreateTime></xml>",
        b"<xml>\n  <ToUserName><![CDATA[gh_1]]></ToUserName>\n  <CreateTime>1</CreateTime>\n</xml>\n",
        "<xml><Content><![CDATA[你好 <b> & ]]]></Content><MsgId>7</MsgId></xml>".encode(),
    ],
)
def test_pushes_of_the_flat_shape_take_the_fast_path(body):
    assert _parse_flat(clean_bytes(body)) == _parse_expat(clean_bytes(body))
