"""XML in and out: tolerant of WeChat's quirks, closed to hostile documents."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wxhook.core import parse_xml
from wxhook.core.xmlcodec import cdata, clean_text, render_document


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


def test_text_around_cdata_loses_only_its_outer_layout_whitespace():
    doc = parse_xml(b"<xml><A> x <![CDATA[ y ]]> z </A><B> x <![CDATA[]]></B></xml>")
    assert doc == {"A": "x  y  z", "B": "x"}


def test_line_ends_are_normalised_as_xml_requires():
    doc = parse_xml(b"<xml><A><![CDATA[a\r\nb\rc]]></A><B>a\r\nb</B></xml>")
    assert doc == {"A": "a\nb\nc", "B": "a\nb"}


def test_entities_and_character_references_are_read():
    doc = parse_xml(b"<xml><A>&lt;b&gt; &amp; &#20320;</A></xml>")
    assert doc == {"A": "<b> & 你"}


def test_attributes_comments_and_processing_instructions_are_ignored():
    doc = parse_xml(b'<xml><!-- c --><A k="v">1</A><?pi x?></xml>')
    assert doc == {"A": "1"}


def test_the_safe_mode_envelope_reads_as_any_push():
    compact = b"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[QUJD+/==]]></Encrypt></xml>"
    pretty = (
        compact.replace(b"<T", b"\n  <T")
        .replace(b"<E", b"\n  <E")
        .replace(b"</xml>", b"\n</xml>\n")
    )
    assert parse_xml(compact) == parse_xml(pretty) == {"ToUserName": "gh_1", "Encrypt": "QUJD+/=="}


# Refusals: each one a ParseError, the XML ones made by defusedxml's reader.

from defusedxml import DTDForbidden  # noqa: E402

from wxhook.core import BodyTooLarge, ParseError  # noqa: E402
from wxhook.core.xmlcodec import MAX_DEPTH  # noqa: E402


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE xml><xml/>",
        b'<!DOCTYPE xml [<!ENTITY a "b">]><xml><A>&a;</A></xml>',
        b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><A>&xxe;</A></xml>',
        b'<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:1/x.dtd"><xml/>',
        b'<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p">%p;]><xml/>',
    ],
    ids=["doctype", "entity", "external-entity", "external-dtd", "parameter-entity"],
)
def test_any_doctype_is_refused_by_defusedxml(body):
    with pytest.raises(ParseError, match="DOCTYPE is not allowed") as caught:
        parse_xml(body)
    assert isinstance(caught.value.__cause__, DTDForbidden)
    assert caught.value.status == 400


def test_nesting_is_refused_past_max_depth():
    def nested(depth):  # the root counts as one level
        return b"<xml>" + b"<a>" * (depth - 1) + b"x" + b"</a>" * (depth - 1) + b"</xml>"

    assert parse_xml(nested(MAX_DEPTH))
    with pytest.raises(ParseError, match=f"deeper than {MAX_DEPTH}"):
        parse_xml(nested(MAX_DEPTH + 1))


def test_a_body_over_the_limit_is_refused_before_it_is_read():
    body = b"<xml><A>1</A></xml>"
    assert parse_xml(body, max_bytes=len(body)) == {"A": "1"}
    with pytest.raises(BodyTooLarge) as caught:  # layout whitespace counts too
        parse_xml(b" " + body, max_bytes=len(body))
    assert caught.value.status == 413


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b" \n\xef\xbb\xbf",
        b"not xml",
        b"<xml><A>1</A>",
        b"<xml><A>1</B></xml>",
        b"<xml/><xml/>",
        b"<xml><A>&x;</A></xml>",
        b"<xml><A>\xff</A></xml>",
        "<xml><A>\ufffe</A></xml>".encode(),
        b'<?xml version="1.0" encoding="ut-8"?><xml/>',  # an encoding Python does not know
        b'<?xml version="1.0" encoding="gbk"?><xml/>',  # a multi-byte one expat cannot take
        b"\xff\xfe<\x00x\x00",
    ],
)
def test_malformed_bodies_are_a_parse_error(body):
    with pytest.raises(ParseError) as caught:
        parse_xml(body)
    assert caught.value.status == 400


_TOKENS = [
    "<xml>", "</xml>", "<A>", "</A>", "<B>", "</B>", "<a.b-c_1>", "</a.b-c_1>", "<A/>",
    "<![CDATA[", "]]>", "]]", "]", "<", ">", "&", "&amp;", "&lt;", "&#20320;", "&#0;", "&x;",
    " ", "\n", "\t", "\r", "\r\n", "\u3000", "x", "你好", "😀", "\ufffe", "\x01", "\ufeff",
    "<!-- c -->", "<?pi x?>", '<A k="v">', "<!DOCTYPE xml>", "<x:y>", "</x:y>", "42",
    '<?xml version="1.0" encoding="latin-1"?>', '<?xml encoding="nope"?>',
]  # fmt: skip


def _shape_ok(value):
    if isinstance(value, str):
        return True
    if isinstance(value, list):
        return len(value) > 1 and all(not isinstance(v, list) and _shape_ok(v) for v in value)
    return isinstance(value, dict) and all(_shape_ok(v) for v in value.values())


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=24))
def test_any_token_soup_is_a_document_or_a_parse_error(tokens):
    body = ("".join(tokens[:2]) + "<xml>" + "".join(tokens[2:]) + "</xml>").encode()
    try:
        doc = parse_xml(body)
    except ParseError:
        return
    assert isinstance(doc, dict) and _shape_ok(doc)


@settings(max_examples=500, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
        st.tuples(st.text(max_size=20), st.booleans(), st.sampled_from(["", "\n  ", " "])),
        max_size=6,
    )
)
def test_cdata_is_verbatim_and_plain_text_is_stripped(fields):
    from xml.sax.saxutils import escape

    def write(text, in_cdata, layout):
        inner = cdata(text) if in_cdata else escape(clean_text(text))
        return f"{layout}{inner}{layout}"

    body = (
        "<xml>"
        + "".join(f"<{name}>{write(*spec)}</{name}>" for name, spec in fields.items())
        + "</xml>"
    )
    expected = {
        name: clean_text(text).replace("\r\n", "\n").replace("\r", "\n")
        if in_cdata
        else clean_text(text).replace("\r\n", "\n").replace("\r", "\n").strip()
        for name, (text, in_cdata, _) in fields.items()
    }
    assert parse_xml(body.encode()) == expected
