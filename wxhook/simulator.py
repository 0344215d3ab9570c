"""WeChat's side of the protocol for tests and plugin authors: signed, maybe encrypted pushes."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping

from .catalogue import DEFAULT_ACCOUNT, DEFAULT_USER, find
from .core import AccountKeys, ParseError, compute_signature, parse_xml
from .core.signature import check_msg_signature
from .core.xmlcodec import Fields, XmlDict, render_document


def push(
    keys: AccountKeys,
    document: bytes,
    *,
    encrypted: bool | None = None,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """Query parameters and body WeChat would send for `document` (encrypted per the mode)."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or str(secrets.randbelow(10**9))
    query = {
        "signature": compute_signature(keys.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    if encrypted is None:
        encrypted = keys.mode != "plain"
    if not encrypted:
        return query, document
    if keys.crypto is None:
        raise ValueError("an encrypted push needs an account with an EncodingAESKey")
    encrypt = keys.crypto.encrypt(document)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = compute_signature(keys.token, timestamp, nonce, encrypt)
    try:
        plain = parse_xml(document)
    except ParseError:  # a hostile document, sent on purpose: encrypt it as it is
        plain = {}
    # The envelope names the same account as the ciphertext, as WeChat's does.
    body: Fields = {"ToUserName": str(plain.get("ToUserName", "")), "Encrypt": encrypt}
    if keys.mode == "compatible":
        # Compatible mode sends the plaintext fields beside Encrypt, as WeChat does.
        # (the flat ones: a nested copy adds nothing, the server reads only the ciphertext).
        flat = {k: v for k, v in plain.items() if isinstance(v, str)}
        body = {**flat, **body}
    return query, render_document(body)


def verification(keys: AccountKeys, echostr: str | None = None) -> dict[str, str]:
    """The GET query WeChat sends when the URL is saved in the MP console."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
    return {
        "signature": compute_signature(keys.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": echostr or str(int.from_bytes(os.urandom(8), "big")),
    }


def open_reply(keys: AccountKeys, body: bytes) -> XmlDict:
    """The reply document in a response body, checked and decrypted if it is an envelope."""
    plaintext = reply_plaintext(keys, body)
    return parse_xml(plaintext) if plaintext else {}


def reply_plaintext(keys: AccountKeys, body: bytes) -> bytes:
    """The reply XML in a response body: the body itself, or its envelope checked and decrypted."""
    if not body:
        return b""
    document = parse_xml(body)
    encrypt = document.get("Encrypt")
    if isinstance(encrypt, str) and keys.crypto is not None:
        ts, nonce, sig = (str(document.get(k, "")) for k in ("TimeStamp", "Nonce", "MsgSignature"))
        check_msg_signature(keys.token, ts, nonce, encrypt, sig)
        return keys.crypto.decrypt(encrypt)
    return body


def sample(
    type_name: str,
    *,
    user: str = DEFAULT_USER,
    account: str = DEFAULT_ACCOUNT,
    create_time: int | None = None,
    msg_id: int | None = None,
    **fields: str,
) -> bytes:
    """A realistic push of any type in the catalogue (`sample("CLICK", EventKey="MENU_HELP")`).

    The type is a MsgType (`text`), an Event as WeChat spells it (`subscribe`, `CLICK`), a refined
    name (`subscribe_scan`) or a class name; `fields` override elements (`A/B` nests).
    """
    return find(type_name).document(
        user=user,
        account=account,
        create_time=int(time.time()) if create_time is None else create_time,
        msg_id=msg_id,
        overrides=fields,
    )


def event(
    name: str, *, user: str = "oSIMULATED_USER", account: str = "gh_simulated", **fields: str
) -> bytes:
    """A minimal event push (`event("subscribe", EventKey="qrscene_1")`)."""
    return message("event", user=user, account=account, Event=name, **fields)  # type: ignore[arg-type]


def message(
    msg_type: str,
    *,
    user: str = "oSIMULATED_USER",
    account: str = "gh_simulated",
    create_time: int | None = None,
    **fields: str | Mapping[str, str],
) -> bytes:
    """A minimal push of any MsgType (`message("text", Content="hi", MsgId="1")`)."""
    doc: Fields = {
        "ToUserName": account,
        "FromUserName": user,
        "CreateTime": int(time.time()) if create_time is None else create_time,
        "MsgType": msg_type,
    }
    doc.update({k: dict(v) if isinstance(v, Mapping) else v for k, v in fields.items()})
    return render_document(doc)
