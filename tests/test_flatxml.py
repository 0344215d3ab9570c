"""The C reader of flat documents (wxhook/core/_flatxml.c) against the Python path it speeds up.

For any body, the C reader must give exactly what the Python path gives for a body that needs no
cleaning and is of the flat shape, and None for every other body (which then takes the Python
path): random token soups, mutated real pushes and random bytes are all checked that way.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from helpers import python_only
from hypothesis import given, settings
from hypothesis import strategies as st

from wxhook.core import BodyTooLarge, ParseError, decode, parse_xml, xmlcodec
from wxhook.core.xmlcodec import _parse_flat, clean_bytes, parse_envelope

SAMPLES = sorted((Path(__file__).parent / "samples").rglob("*.xml"))


def test_the_c_reader_is_built():
    """The test environment builds it (scripts/test.sh installs with a C compiler at hand); a
    missing one would leave every other test here comparing the Python path with itself."""
    assert xmlcodec._parse_plain is not None, "wxhook/core/_flatxml.c was not compiled"


parse_c = xmlcodec._parse_plain or (lambda body: None)


def python_reading(body: bytes) -> dict | None:
    """What the C reader must return: the Python fast path's dict, for a body that cleaning
    leaves as it is; None otherwise."""
    return _parse_flat(body) if clean_bytes(body) == body else None


def check(body: bytes) -> None:
    got = parse_c(body)
    assert got == python_reading(body), body
    cleaned = clean_bytes(body)  # the C reader also stands in for _parse_flat after cleaning
    assert parse_c(cleaned) == _parse_flat(cleaned), cleaned
    if got is not None:  # same values, and of the same types (lists for repeated children)
        assert [type(v) for v in got.values()] == [type(v) for v in python_reading(body).values()]
    with python_only():
        try:
            slow = parse_xml(body)
        except ParseError:
            with pytest.raises(ParseError):
                parse_xml(body)
            return
    assert parse_xml(body) == slow


_TOKENS = [
    "<A>", "</A>", "<B>", "</B>", "<a.b-c_1>", "</a.b-c_1>", "<A/>", "<_>", "</_>", "<1>",
    "<![CDATA[", "]]>", "]]", "]", "<", ">", "&", "&amp;", "&#20320;", " ", "\n", "\t", "\r",
    "\x0b", "\x00", "\x1d", "\u3000", "\xa0", "\x85", "x", "你好", "😀", "\ufffe", "\uffff",
    "<!-- c -->", "<?pi x?>", '<A k="v">', "<!DOCTYPE xml>", "</xml>", "<xml>", "42",
]  # fmt: skip
_EDGES = ["", " ", "\n", "\t", "\r\n", "\ufeff", "\x01", " \n "]


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(_EDGES),
    st.lists(st.sampled_from(_TOKENS), max_size=24),
    st.sampled_from(_EDGES),
)
def test_token_soups_read_as_the_python_path_reads_them(before, tokens, after):
    check(f"{before}<xml>{''.join(tokens)}</xml>{after}".encode())


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes(body):
    check(body)
    check(b"<xml>" + body + b"</xml>")


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_and_its_mutations(path):
    body = path.read_bytes()
    check(body)
    rng = random.Random(path.name)
    alphabet = b"<>/![]&CDATxml \t\n\r\x00\x1d\xef\xbf\xbe\xff"
    for _ in range(60):
        mutated = bytearray(body)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(mutated) + 1)
            action = rng.randrange(3)
            if action == 0 and at < len(mutated):
                del mutated[at]
            elif action == 1:
                mutated.insert(at, rng.choice(alphabet))
            else:
                del mutated[at:]
        check(bytes(mutated))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<xml></xml>", {}),
        (b"<xml><A>1</A><B><![CDATA[ x ]]></B></xml>\n", {"A": "1", "B": " x "}),
        (b"<xml><A> 1\t</A></xml>", {"A": "1"}),
        ("<xml><A>\u3000一\xa0</A></xml>".encode(), {"A": "一"}),  # str.strip()'s whitespace
        (
            b"<xml><A>1</A><A>2</A><B>3</B><A><![CDATA[4]]></A></xml>",
            {"A": ["1", "2", "4"], "B": "3"},
        ),
        (b"<xml><A><![CDATA[a]]]]></A></xml>", {"A": "a]]"}),
        (b"<xml><A>\n  <![CDATA[<b>&amp;</b>]]>\n</A></xml>", {"A": "<b>&amp;</b>"}),
    ],
)
def test_flat_documents_are_read_by_c(body, expected):
    got = parse_c(body)
    assert got == expected
    with python_only():
        assert parse_xml(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf<xml><A>1</A></xml>",  # BOM: cleaned first, by the Python path
        b" <xml><A>1</A></xml>",
        b"<xml><A>a\x1db</A></xml>",  # a C0 control: cleaned first
        b"<xml><A>a\r\nb</A></xml>",
        b"<xml><A>\xff</A></xml>",
        "<xml><A>\ufffe</A></xml>".encode(),
        b"<xml><A>1</B></xml>",
        b"<xml><A><![CDATA[x]]>y</A></xml>",
        b"<xml><A><![CDATA[x]]><![CDATA[y]]></A></xml>",
        b"<xml><A><B>1</B></A></xml>",
        b"<xml><A>&lt;</A></xml>",
        b"<xml><A><![CDATA[never closed</A></xml>",
        b"<xml><A>1</A",
        b"<xml>",
        b"",
    ],
)
def test_anything_else_is_left_to_the_python_path(body):
    assert parse_c(body) is None
    check(body)


def test_a_body_that_is_not_bytes_is_left_to_the_python_path():
    assert parse_c(bytearray(b"<xml><A>1</A></xml>")) is None
    assert parse_c(memoryview(b"<xml><A>1</A></xml>")) is None


def test_the_size_limit_holds_before_the_c_reader():
    body = b"<xml><A>" + b"x" * 100 + b"</A></xml>"
    with pytest.raises(BodyTooLarge):
        parse_xml(body, max_bytes=50)
    with pytest.raises(BodyTooLarge):
        parse_envelope(body, max_bytes=50)


def test_a_push_is_decoded_the_same_with_and_without_the_c_reader():
    from wxhook.core import AccountKeys, compute_signature

    keys = AccountKeys.create(token="t")
    query = {"signature": compute_signature("t", "1", "2"), "timestamp": "1", "nonce": "2"}
    for path in SAMPLES:
        body = path.read_bytes()
        try:
            fast = decode(keys, query, body)
        except ParseError:
            continue
        with python_only():
            slow = decode(keys, query, body)
        assert fast.message == slow.message, path
        assert dict(fast.message.raw) == dict(slow.message.raw), path


def test_a_body_that_needed_cleaning_is_read_by_c_after_it(monkeypatch):
    """WeChat has sent C0 controls in user text: cleaned first, then still read by the C
    reader, not by the regular expression."""

    def refuse(body):
        raise AssertionError("the Python flat reader was used")

    monkeypatch.setattr(xmlcodec, "_parse_flat", refuse)
    assert parse_xml(b"\xef\xbb\xbf <xml><A>a\x1db</A><B>1</B></xml>") == {"A": "ab", "B": "1"}
