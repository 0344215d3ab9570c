"""Safe-mode crypto failures: each is our CryptoError with the official code and a usable hint."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wxhook.core import CryptoError, ErrorCode, SafeModeCrypto
from wxhook.core.crypto import aes_key_from_encoding_key, pad, unpad

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx2c2769f8efd9abc2"


def raw_encrypt(plain: bytes) -> str:
    """Encrypt bytes exactly as given (no padding added), to forge broken payloads."""
    key = aes_key_from_encoding_key(KEY)
    e = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(e.update(plain) + e.finalize()).decode()


@pytest.mark.parametrize("bad", ["", "short", KEY[:-1], KEY + "A", KEY[:-1] + "!", "é" * 43])
def test_encoding_aes_key_is_validated_with_a_clear_error(bad):
    with pytest.raises(CryptoError) as info:
        SafeModeCrypto(bad, APPID)
    assert info.value.code == ErrorCode.ILLEGAL_AES_KEY
    assert "43" in str(info.value)


@pytest.mark.parametrize("size", [0, 1, 14, 15, 16, 17, 31, 32, 33, 1000])
def test_pad_is_pkcs7_over_32_byte_blocks(size):
    padded = pad(b"x" * size)
    assert len(padded) % 32 == 0
    assert 1 <= padded[-1] <= 32
    assert unpad(padded) == b"x" * size


def test_pad_values_17_to_32_decrypt():
    crypto = SafeModeCrypto(KEY, APPID, random=lambda n: b"r" * n)
    for length in range(64):
        msg = b"m" * length
        assert crypto.decrypt(crypto.encrypt(msg)) == msg


def test_bad_pad_byte_is_illegal_buffer_with_key_hint():
    plain = b"r" * 16 + struct.pack(">I", 3) + b"abc" + APPID.encode()
    forged = plain + b"\x00" * (64 - len(plain))  # pad byte 0 is outside 1..32
    with pytest.raises(CryptoError) as info:
        SafeModeCrypto(KEY, APPID).decrypt(raw_encrypt(forged))
    assert info.value.code == ErrorCode.ILLEGAL_BUFFER
    assert "EncodingAESKey is probably wrong" in str(info.value)


def test_inconsistent_pad_bytes_are_refused():
    plain = b"r" * 16 + struct.pack(">I", 3) + b"abc" + APPID.encode()
    n = 64 - len(plain)
    forged = plain + bytes([7]) * (n - 1) + bytes([n])
    with pytest.raises(CryptoError) as info:
        SafeModeCrypto(KEY, APPID).decrypt(raw_encrypt(forged))
    assert info.value.code == ErrorCode.ILLEGAL_BUFFER


def test_length_field_beyond_payload_says_the_key_is_probably_wrong():
    plain = pad(b"r" * 16 + struct.pack(">I", 5000) + b"abc" + APPID.encode())
    with pytest.raises(CryptoError) as info:
        SafeModeCrypto(KEY, APPID).decrypt(raw_encrypt(plain))
    assert info.value.code == ErrorCode.ILLEGAL_BUFFER
    assert "EncodingAESKey is probably wrong" in str(info.value)


def test_wrong_appid_names_the_appid_found():
    sealed = SafeModeCrypto(KEY, "wxOTHERAPPID0000").encrypt(b"<xml/>")
    with pytest.raises(CryptoError) as info:
        SafeModeCrypto(KEY, APPID).decrypt(sealed)
    assert info.value.code == ErrorCode.VALIDATE_APPID
    assert "wxOTHERAPPID0000" in str(info.value)


def test_wrong_key_fails_as_crypto_error():
    sealed = SafeModeCrypto(KEY, APPID).encrypt(b"<xml><a>1</a></xml>")
    other = SafeModeCrypto("A" * 43, APPID)
    with pytest.raises(CryptoError) as info:
        other.decrypt(sealed)
    assert info.value.code in (ErrorCode.ILLEGAL_BUFFER, ErrorCode.VALIDATE_APPID)


@pytest.mark.parametrize(
    "text,code",
    [
        ("not base64 at all!", ErrorCode.DECODE_BASE64),
        ("QUJD", ErrorCode.DECRYPT_AES),  # 3 bytes: not a whole AES block
        ("", ErrorCode.DECRYPT_AES),
    ],
)
def test_garbage_ciphertext(text, code):
    with pytest.raises(CryptoError) as info:
        SafeModeCrypto(KEY, APPID).decrypt(text)
    assert info.value.code == code


def test_truncated_base64_is_our_error():
    sealed = SafeModeCrypto(KEY, APPID).encrypt(b"<xml><a>1</a></xml>")
    for cut in (1, 2, 5, 10, len(sealed) // 2):
        with pytest.raises(CryptoError):
            SafeModeCrypto(KEY, APPID).decrypt(sealed[:-cut])


def test_random_prefix_comes_from_the_injected_source():
    calls = []

    def rnd(n):
        calls.append(n)
        return b"0123456789abcdef"

    crypto = SafeModeCrypto(KEY, APPID, random=rnd)
    assert crypto.encrypt(b"a") == crypto.encrypt(b"a")
    assert calls == [16, 16]
    # The default source is os.urandom: two encryptions differ.
    real = SafeModeCrypto(KEY, APPID)
    assert real.encrypt(b"a") != real.encrypt(b"a")
