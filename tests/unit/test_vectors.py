"""Every official (and self-generated edge) vector in vectors.json, both directions."""

from __future__ import annotations

import base64

import pytest
from conftest import load_vectors

from wxhook.core import AccountKeys, SafeModeCrypto, compute_signature, decode, parse_xml, seal
from wxhook.core.crypto import aes_key_from_encoding_key, unpad
from wxhook.core.signature import check_msg_signature, check_signature

V = load_vectors()


def fixed(random16: str):
    """An injectable random source that yields the vector's 16-byte prefix."""
    return lambda n: random16.encode()[:n]


@pytest.mark.parametrize("v", V["signature_only"], ids=lambda v: v["source"][:40])
def test_signature_vectors(v):
    inputs = v.get("inputs") or [v["token"], v["timestamp"], v["nonce"]]
    assert compute_signature(*inputs) == v["signature"]
    if "token" in v:
        check_signature(v["token"], v["timestamp"], v["nonce"], v["signature"])


def test_get_verification_vector_answers_echostr():
    v = V["signature_only"][0]
    keys = AccountKeys.create(token=v["token"])
    query = {k: v[k] for k in ("signature", "timestamp", "nonce", "echostr")}
    from wxhook.core import verify_url

    assert verify_url(keys, query) == "4375120948345356249"


def test_v1_official_key_derivation():
    key = aes_key_from_encoding_key(V["official_wxbizmsgcrypt_sample"]["encoding_aes_key"])
    assert key.hex() == "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"


def _decrypt_cases():
    s = V["official_wxbizmsgcrypt_sample"]
    yield "V1", s["token"], s["encoding_aes_key"], s["appid"], s, s["decrypted"]["msg"]
    s = V["official_msgpush_safe"]
    r = s["request"]
    yield "V4", s["token"], s["encoding_aes_key"], s["appid"], r, s["decrypted"]["msg"]
    s = V["wechatpy_work_crypto_tests"]
    yield (
        "V3",
        s["token"],
        s["encoding_aes_key"],
        s["appid_or_corpid"],
        s["decrypt"],
        s["decrypt"]["msg"],
    )
    for g in V["self_generated"]:
        yield g["note"][:12], g["token"], g["encoding_aes_key"], g["appid"], g, g["msg"]


@pytest.mark.parametrize("name,token,aes,appid,req,msg", list(_decrypt_cases()))
def test_decrypt_vectors(name, token, aes, appid, req, msg):
    check_msg_signature(token, req["timestamp"], req["nonce"], req["Encrypt"], req["msg_signature"])
    assert SafeModeCrypto(aes, appid).decrypt(req["Encrypt"]) == msg.encode()


@pytest.mark.parametrize("g", V["self_generated"], ids=lambda g: g["note"][:12])
def test_self_generated_encrypt_and_pad(g):
    crypto = SafeModeCrypto(g["encoding_aes_key"], g["appid"], random=fixed(g["random16"]))
    assert crypto.encrypt(g["msg"].encode()) == g["Encrypt"]
    sig = compute_signature(g["token"], g["timestamp"], g["nonce"], g["Encrypt"])
    assert sig == g["msg_signature"]
    # The pad value the vector names is what the 32-byte PKCS#7 really used.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = aes_key_from_encoding_key(g["encoding_aes_key"])
    d = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = d.update(base64.b64decode(g["Encrypt"])) + d.finalize()
    assert plain[-1] == g["pad"]
    assert len(unpad(plain)) == len(plain) - g["pad"]


def test_v4_reply_envelope_matches_official_example():
    s = V["official_msgpush_safe"]
    reply = s["reply"]
    crypto = SafeModeCrypto(s["encoding_aes_key"], s["appid"], random=fixed(reply["random16"]))
    assert crypto.encrypt(reply["msg"].encode()) == reply["Encrypt"]
    sig = compute_signature(s["token"], reply["TimeStamp"], reply["Nonce"], reply["Encrypt"])
    assert sig == reply["MsgSignature"]


def test_v4_reply_through_seal_builds_the_documented_envelope():
    s = V["official_msgpush_safe"]
    r, reply = s["request"], s["reply"]
    keys = AccountKeys.create(
        token=s["token"],
        app_id=s["appid"],
        encoding_aes_key=s["encoding_aes_key"],
        mode="safe",
        random=fixed(reply["random16"]),
    )
    from wxhook.core import Decoded, TextMessage

    request = Decoded(TextMessage(), True, r["timestamp"], reply["Nonce"])
    out = parse_xml(seal(keys, reply["msg"].encode(), request, now=int(reply["TimeStamp"])))
    assert out == {
        "Encrypt": reply["Encrypt"],
        "MsgSignature": reply["MsgSignature"],
        "TimeStamp": reply["TimeStamp"],
        "Nonce": reply["Nonce"],
    }


@pytest.mark.parametrize("case", V["official_java_sample_fixed_random"]["cases"])
def test_v2_java_sample_fixed_random(case):
    s = V["official_java_sample_fixed_random"]
    crypto = SafeModeCrypto(s["encoding_aes_key"], s["appid"], random=fixed(s["random16"]))
    assert crypto.encrypt(case["msg"].encode()) == case["Encrypt"]
    assert crypto.decrypt(case["Encrypt"]).decode() == case["msg"]
    if "msg_signature_self_computed" in case:
        sig = compute_signature(s["token"], s["timestamp"], s["nonce"], case["Encrypt"])
        assert sig == case["msg_signature_self_computed"]


def test_v3_wechatpy_encrypt_fixed_random():
    s = V["wechatpy_work_crypto_tests"]
    e = s["encrypt_fixed_random"]
    crypto = SafeModeCrypto(
        s["encoding_aes_key"], s["appid_or_corpid"], random=fixed(e["random16"])
    )
    assert crypto.encrypt(e["msg"].encode()) == e["Encrypt"]
    sig = compute_signature(s["token"], e["timestamp"], e["nonce"], e["Encrypt"])
    assert sig == e["MsgSignature"]


def test_v1_compatible_body_decodes_to_the_encrypted_document_only():
    s = V["official_wxbizmsgcrypt_sample"]
    keys = AccountKeys.create(
        token=s["token"],
        app_id=s["appid"],
        encoding_aes_key=s["encoding_aes_key"],
        mode="compatible",
    )
    # Compatible mode: plaintext siblings beside Encrypt. Tamper with them: they must be ignored.
    body = (
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
        "<FromUserName><![CDATA[forged]]></FromUserName><CreateTime>1</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[forged]]></Content>"
        f"<MsgId>1</MsgId><Encrypt><![CDATA[{s['Encrypt']}]]></Encrypt></xml>"
    ).encode()
    query = {
        "signature": compute_signature(s["token"], s["timestamp"], s["nonce"]),
        "timestamp": s["timestamp"],
        "nonce": s["nonce"],
        "encrypt_type": "aes",
        "msg_signature": s["msg_signature"],
    }
    decoded = decode(keys, query, body)
    assert decoded.encrypted
    assert decoded.message.content == "abcdteT"
    assert decoded.message.source == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert decoded.message.id == 6054768590064713728
