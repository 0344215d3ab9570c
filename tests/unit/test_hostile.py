"""Hostile inputs each raise our own error type, never anything else."""

from __future__ import annotations

import pytest

from wxhook.core import (
    AccountKeys,
    CryptoError,
    ParseError,
    ProtocolError,
    SafeModeCrypto,
    compute_signature,
    decode,
    parse_message,
    parse_xml,
)

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx2c2769f8efd9abc2"
TOKEN = "spamtest"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><Content>&lol4;</Content><MsgType>text</MsgType></xml>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><MsgType>text</MsgType><Content>&xxe;</Content></xml>"""

EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:1/x.dtd"><xml/>'

DEEP = b"<xml>" + b"<a>" * 10_000 + b"x" + b"</a>" * 10_000 + b"</xml>"
HUGE = b"<xml><Content>" + b"x" * (5 * 1024 * 1024) + b"</Content><MsgType>text</MsgType></xml>"


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        EXTERNAL_DTD,
        DEEP,
        HUGE,
        b"<xml><MsgType>text</MsgType>",
        b"not xml",
        b"\xff\xfe\x00<\x00x",
        b"<xml><MsgType>text</MsgType></xml><xml/>",
        b"",
    ],
    ids=[
        "billion-laughs",
        "external-entity",
        "external-dtd",
        "deep",
        "5MB",
        "truncated",
        "text",
        "utf16",
        "two-roots",
        "empty",
    ],
)
def test_hostile_xml_raises_parse_error(body):
    with pytest.raises(ParseError):
        parse_message(parse_xml(body))


def test_missing_msgtype_is_a_clear_parse_error_not_a_keyerror():
    with pytest.raises(ParseError, match="no MsgType"):
        parse_message(parse_xml(b"<xml><ToUserName>gh</ToUserName></xml>"))


def test_nested_msgtype_is_a_parse_error():
    with pytest.raises(ParseError):
        parse_message(parse_xml(b"<xml><MsgType><a>1</a></MsgType></xml>"))


def test_garbage_numbers_are_parse_errors_naming_the_field():
    with pytest.raises(ParseError, match="CreateTime"):
        parse_message(parse_xml(b"<xml><MsgType>text</MsgType><CreateTime>soon</CreateTime></xml>"))


def _safe_request(encrypt: str, ts: str = "1409735669", nonce: str = "1320562132"):
    query = {
        "signature": compute_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": compute_signature(TOKEN, ts, nonce, encrypt),
    }
    body = f"<xml><ToUserName>gh_x</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return query, body.encode()


KEYS = AccountKeys.create(token=TOKEN, app_id=APPID, encoding_aes_key=KEY, mode="safe")


@pytest.mark.parametrize(
    "inner",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        DEEP,
        b"<xml><ToUserName>gh_x</ToUserName></xml>",
        b"garbage",
    ],
    ids=["billion-laughs", "external-entity", "deep", "no-msgtype", "garbage"],
)
def test_hostile_inner_document_in_safe_mode(inner):
    query, body = _safe_request(SafeModeCrypto(KEY, APPID).encrypt(inner))
    with pytest.raises(ParseError):
        decode(KEYS, query, body)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e[:-7],  # truncated base64
        lambda e: e[:20] + "!!!!" + e[24:],  # not base64
        lambda e: e[:-44] + "A" * 44,  # last blocks replaced: bad padding
    ],
    ids=["truncated", "not-base64", "bad-padding"],
)
def test_broken_ciphertext_in_safe_mode(mutate):
    good = SafeModeCrypto(KEY, APPID).encrypt(b"<xml><MsgType>text</MsgType></xml>")
    query, body = _safe_request(mutate(good))
    with pytest.raises(CryptoError):
        decode(KEYS, query, body)


def test_wrong_appid_in_safe_mode():
    sealed = SafeModeCrypto(KEY, "wxsomeoneelse").encrypt(b"<xml><MsgType>text</MsgType></xml>")
    query, body = _safe_request(sealed)
    with pytest.raises(CryptoError, match="wxsomeoneelse"):
        decode(KEYS, query, body)


def test_every_protocol_error_carries_a_4xx_status():
    for body in (BILLION_LAUGHS, HUGE, b""):
        try:
            parse_message(parse_xml(body))
        except ProtocolError as exc:
            assert 400 <= exc.status < 500


def test_odd_digits_in_a_list_of_indexes_do_not_escape_as_value_error():
    doc = b"<xml><MsgType>event</MsgType><Event>PUBLISHJOBFINISH</Event><PublishEventInfo><publish_id>1</publish_id><fail_idx>\xc2\xb2</fail_idx><fail_idx>--1</fail_idx><fail_idx>3</fail_idx></PublishEventInfo></xml>"
    assert parse_message(parse_xml(doc)).fail_idx == [3]
