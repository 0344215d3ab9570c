"""decode() and encode(): the two entry points the server calls, in every mode."""

from __future__ import annotations

import pytest

from wxhook.core import (
    AccountKeys,
    ClickEvent,
    CryptoError,
    ErrorCode,
    ProtocolError,
    SafeModeCrypto,
    SignatureError,
    SubscribeScanEvent,
    TextMessage,
    compute_signature,
    decode,
    dedup_key,
    encode,
    parse_message,
    parse_xml,
    verify_url,
)

TOKEN, APPID, KEY = "tok", "wx1234567890abcdef", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEXT = b"<xml><ToUserName>gh_a</ToUserName><FromUserName>oU</FromUserName><CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>6054768590064713728</MsgId></xml>"


def signed(ts="1700000000", nonce="42", **extra):
    return {
        "signature": compute_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        **extra,
    }


def encrypted_request(inner: bytes, keys_app=APPID, token=TOKEN):
    encrypt = SafeModeCrypto(KEY, keys_app).encrypt(inner)
    q = signed(
        encrypt_type="aes", msg_signature=compute_signature(token, "1700000000", "42", encrypt)
    )
    return q, f"<xml><ToUserName>gh_a</ToUserName><Encrypt>{encrypt}</Encrypt></xml>".encode()


PLAIN = AccountKeys.create(token=TOKEN)
SAFE = AccountKeys.create(token=TOKEN, app_id=APPID, encoding_aes_key=KEY, mode="safe")
COMPAT = AccountKeys.create(token=TOKEN, app_id=APPID, encoding_aes_key=KEY, mode="compatible")


def test_verify_url_echoes_and_refuses_bad_signatures():
    assert verify_url(PLAIN, signed(echostr="abc")) == "abc"
    with pytest.raises(SignatureError):
        verify_url(PLAIN, {**signed(echostr="abc"), "signature": "0" * 40})
    with pytest.raises(SignatureError):
        verify_url(PLAIN, {"echostr": "abc"})


def test_plain_decode_and_reply():
    d = decode(PLAIN, signed(), TEXT)
    assert isinstance(d.message, TextMessage) and d.message.content == "hi" and not d.encrypted
    doc = parse_xml(encode(PLAIN, "pong", d, now=1700000001))
    assert doc["Content"] == "pong" and doc["ToUserName"] == "oU" and doc["FromUserName"] == "gh_a"


def test_bad_signature_on_post_is_403_before_parsing():
    with pytest.raises(SignatureError) as info:
        decode(PLAIN, {**signed(), "signature": "f" * 40}, b"garbage")
    assert info.value.status == 403


@pytest.mark.parametrize("keys", [SAFE, COMPAT], ids=["safe", "compatible"])
def test_encrypted_decode_and_encrypted_reply(keys):
    q, body = encrypted_request(TEXT)
    d = decode(keys, q, body)
    assert d.encrypted and d.message.content == "hi"
    out = parse_xml(encode(keys, "pong", d, now=1700000009))
    assert set(out) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert out["TimeStamp"] == "1700000009" and out["Nonce"] == "42"
    assert out["MsgSignature"] == compute_signature(TOKEN, "1700000009", "42", out["Encrypt"])
    inner = parse_xml(SafeModeCrypto(KEY, APPID).decrypt(out["Encrypt"]))
    assert inner["Content"] == "pong" and inner["ToUserName"] == "oU"


def test_compatible_mode_accepts_plaintext_and_answers_plaintext():
    d = decode(COMPAT, signed(), TEXT)
    assert not d.encrypted
    assert parse_xml(encode(COMPAT, "x", d, now=1))["Content"] == "x"


def test_safe_mode_refuses_plaintext():
    with pytest.raises(ProtocolError, match="safe mode"):
        decode(SAFE, signed(), TEXT)


def test_msg_signature_mismatch_hint_names_msg_signature():
    q, body = encrypted_request(TEXT)
    q["msg_signature"] = q["signature"]  # the classic mistake: checking the wrong one
    with pytest.raises(SignatureError) as info:
        decode(SAFE, q, body)
    assert "msg_signature, not signature" in str(info.value)
    assert info.value.status == 403


def test_encrypted_push_to_plain_account_explains_the_mode():
    q, body = encrypted_request(TEXT)
    with pytest.raises(ProtocolError, match="EncodingAESKey"):
        decode(PLAIN, q, body)


def test_encrypted_body_without_encrypt_element():
    with pytest.raises(CryptoError) as info:
        decode(SAFE, signed(encrypt_type="aes", msg_signature="x"), TEXT)
    assert info.value.code == ErrorCode.PARSE_XML


def test_empty_reply_is_never_encrypted():
    q, body = encrypted_request(TEXT)
    assert encode(SAFE, None, decode(SAFE, q, body), now=1) == b""


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"token": ""}, "token"),
        ({"token": "t", "mode": "safe"}, "EncodingAESKey"),
        ({"token": "t", "encoding_aes_key": "short", "app_id": "wx"}, "43"),
        ({"token": "t", "encoding_aes_key": KEY}, "AppID"),
        ({"token": "t", "mode": "secure"}, "mode"),
    ],
)
def test_account_settings_are_validated_up_front(kwargs, match):
    with pytest.raises(ProtocolError, match=match):
        AccountKeys.create(**kwargs)


def ev(body: str):
    return parse_message(
        parse_xml(
            f"<xml><ToUserName>gh</ToUserName><FromUserName>oU</FromUserName><CreateTime>5</CreateTime>{body}</xml>".encode()
        )
    )


def test_dedup_key_messages_use_msgid_and_sender():
    a = ev("<MsgType>text</MsgType><MsgId>1</MsgId>")
    b = parse_message(
        parse_xml(
            b"<xml><ToUserName>gh</ToUserName><FromUserName>oOTHER</FromUserName><CreateTime>5</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>"
        )
    )
    assert dedup_key(a) != dedup_key(b)
    assert dedup_key(a) == dedup_key(
        ev("<MsgType>text</MsgType><MsgId>1</MsgId><Content>retry</Content>")
    )


def test_dedup_key_events_in_one_second_stay_apart():
    sub = ev("<MsgType>event</MsgType><Event>subscribe</Event>")
    loc = ev("<MsgType>event</MsgType><Event>LOCATION</Event><Latitude>1</Latitude>")
    c1 = ev("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>A</EventKey>")
    c2 = ev("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>B</EventKey>")
    keys = {dedup_key(m) for m in (sub, loc, c1, c2)}
    assert len(keys) == 4
    assert isinstance(c1, ClickEvent)
    # The documented floor: the same user and CreateTime of the same event is one push.
    assert dedup_key(c1) == dedup_key(
        ev("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>A</EventKey>")
    )


def test_dedup_key_job_finish_and_platform_events():
    j1 = ev("<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>1</MsgID>")
    j2 = ev("<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>2</MsgID>")
    p1 = ev("<MsgType>event</MsgType><Event>user_info_modified</Event><OpenID>o1</OpenID>")
    p2 = ev("<MsgType>event</MsgType><Event>user_info_modified</Event><OpenID>o2</OpenID>")
    assert dedup_key(j1) != dedup_key(j2)
    assert dedup_key(p1) != dedup_key(p2)


def test_subscribe_scan_keeps_raw_key():
    m = ev(
        "<MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_0</EventKey><Ticket>T</Ticket>"
    )
    assert (
        isinstance(m, SubscribeScanEvent) and m.scene_id == "0" and m.raw["EventKey"] == "qrscene_0"
    )


def test_stale_or_future_timestamps_are_refused_when_asked():
    q = signed(ts="1000000000")
    with pytest.raises(SignatureError, match="clock"):
        decode(PLAIN, q, TEXT, now=1700000000, max_skew=300)
    assert decode(PLAIN, q, TEXT, now=1000000100, max_skew=300).message.content == "hi"
    assert decode(PLAIN, q, TEXT, now=1700000000).message.content == "hi"  # off by default


def test_dedup_key_tells_nested_ids_apart():
    def publish(pid):
        return ev(
            f"<MsgType>event</MsgType><Event>PUBLISHJOBFINISH</Event><PublishEventInfo><publish_id>{pid}</publish_id><publish_status>0</publish_status></PublishEventInfo>"
        )

    def sent(tid):
        return ev(
            f"<MsgType>event</MsgType><Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent><List><TemplateId>{tid}</TemplateId><MsgID>1</MsgID><ErrorCode>0</ErrorCode></List></SubscribeMsgSentEvent>"
        )

    assert dedup_key(publish(1)) != dedup_key(publish(2))
    assert dedup_key(publish(1)) == dedup_key(publish(1))
    assert dedup_key(sent("T1")) != dedup_key(sent("T2"))


def test_dedup_key_is_short_whatever_the_push_holds():
    huge = ev(f"<MsgType>event</MsgType><Event>CLICK</Event><EventKey>{'k' * 200_000}</EventKey>")
    assert len(dedup_key(huge)) < 40 and "oU" not in dedup_key(huge)


def test_dedup_key_tells_msgtypes_and_accounts_apart():
    """Two device pushes of different types in one second are two pushes, and one push that
    reaches two configured accounts sharing a store is handled by each."""
    from wxhook.core import parse_message

    def device(msg_type: str):
        return parse_message(
            {
                "ToUserName": "gh_a",
                "FromUserName": "oU",
                "CreateTime": "1700000000",
                "MsgType": msg_type,
                "DeviceType": "gh_a",
                "DeviceID": "dev1",
                "OpenID": "oU",
            }
        )

    assert dedup_key(device("device_text")) != dedup_key(device("device_status"))
    one = device("device_text")
    assert dedup_key(one, "shop") != dedup_key(one, "brand")
    assert dedup_key(one, "shop") == dedup_key(device("device_text"), "shop")
