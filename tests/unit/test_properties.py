"""Property tests: random content survives encrypt/decrypt and render/parse unchanged."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from wxhook.core import (
    AccountKeys,
    Decoded,
    SafeModeCrypto,
    TextMessage,
    TextReply,
    compute_signature,
    decode,
    encode,
    parse_xml,
    render_reply,
    seal,
)
from wxhook.core.xmlcodec import render_document
from wxhook.simulator import message

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx2c2769f8efd9abc2"
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# Text as users and LLMs produce it: emoji, CJK, CDATA terminators, control characters.
nasty_text = st.lists(
    st.one_of(
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
        st.sampled_from(["]]>", "]]", "<![CDATA[", "😀", "你好", "\x1d", "\x00", "&", "<", "\n"]),
    ),
    max_size=30,
).map("".join)


def expected(text: str) -> str:
    """What any XML parser returns: illegal characters dropped, line ends normalised to LF."""
    return ILLEGAL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.binary(min_size=16, max_size=16))
def test_encrypt_decrypt_round_trip(payload, prefix):
    crypto = SafeModeCrypto(KEY, APPID, random=lambda n: prefix)
    assert crypto.decrypt(crypto.encrypt(payload)) == payload


@settings(max_examples=300, deadline=None)
@given(nasty_text)
def test_render_parse_round_trip(text):
    out = render_reply(text, TextMessage(source="o", target="gh"), now=1)
    if not expected(text).strip():
        assert out == b""  # blank text is no reply: WeChat shows an error for an empty Content
        return
    # Surrounding whitespace inside CDATA is content and survives; illegal characters are dropped.
    assert parse_xml(out)["Content"] == expected(text)


class _OwnText(TextReply):
    """A subclass takes render_reply's general path, not the fast one for str and TextReply."""


@settings(max_examples=300, deadline=None)
@given(nasty_text, nasty_text, nasty_text)
def test_text_reply_fast_path_renders_as_the_general_path(text, source, target):
    to = TextMessage(source=source, target=target)
    general = render_reply(_OwnText(text), to, now=7)
    assert render_reply(text, to, now=7) == general
    assert render_reply(TextReply(text), to, now=7) == general


@settings(max_examples=100, deadline=None)
@given(nasty_text, nasty_text)
def test_safe_mode_full_round_trip(content, answer):
    keys = AccountKeys.create(token="t", app_id=APPID, encoding_aes_key=KEY, mode="safe")
    inner = message("text", user="oU", account="gh", Content=content, MsgId="1")
    encrypt = SafeModeCrypto(KEY, APPID).encrypt(inner)
    query = {
        "signature": compute_signature("t", "1", "2"),
        "timestamp": "1",
        "nonce": "2",
        "encrypt_type": "aes",
        "msg_signature": compute_signature("t", "1", "2", encrypt),
    }
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    request = decode(keys, query, body)
    assert request.message.content == expected(content)
    body = encode(keys, answer, request, now=9)
    if not expected(answer).strip():
        assert body == b""
        return
    envelope = parse_xml(body)
    reply = parse_xml(SafeModeCrypto(KEY, APPID).decrypt(envelope["Encrypt"]))
    assert reply["Content"] == expected(answer)


@settings(max_examples=200, deadline=None)
@given(nasty_text, st.binary(max_size=300))
def test_sealed_envelope_is_what_the_general_renderer_gives(nonce, plaintext):
    """seal() writes the reply envelope from a template; it must be byte for byte what
    render_document makes of the same four fields, whatever nonce the query carried."""
    keys = AccountKeys.create(
        token="t", app_id=APPID, encoding_aes_key=KEY, mode="safe", random=lambda n: b"r" * n
    )
    request = Decoded(
        message=TextMessage(source="o", target="gh"),
        encrypted=True,
        timestamp="1",
        nonce=nonce,
        keys=keys,
    )
    out = seal(keys, plaintext or b"x", request, now=9)
    assert keys.crypto is not None
    encrypt = keys.crypto.encrypt(plaintext or b"x")
    assert out == render_document(
        {
            "Encrypt": encrypt,
            "MsgSignature": compute_signature("t", "9", nonce, encrypt),
            "TimeStamp": 9,
            "Nonce": nonce,
        }
    )
