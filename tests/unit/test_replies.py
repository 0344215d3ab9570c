"""Replies render to well-formed XML addressed back to the sender, whatever the text holds."""

from __future__ import annotations

import pytest

from wxhook.core import (
    Article,
    ClickEvent,
    ImageReply,
    MusicReply,
    NewsReply,
    ReplyError,
    SubscribeEvent,
    TextMessage,
    TextReply,
    TransferCustomerServiceReply,
    VideoReply,
    VoiceReply,
    parse_xml,
    render_reply,
)

MSG = TextMessage(source="oUSER", target="gh_ACCOUNT", create_time=1, id=7, content="hi")
EVENT = SubscribeEvent(source="oUSER", target="gh_ACCOUNT", create_time=1)


def rendered(reply, to=MSG):
    return parse_xml(render_reply(reply, to, now=1700000000))


def header(msg_type):
    return {
        "ToUserName": "oUSER",
        "FromUserName": "gh_ACCOUNT",
        "CreateTime": "1700000000",
        "MsgType": msg_type,
    }


def test_str_is_a_text_reply_addressed_back():
    assert rendered("你好 😀") == {**header("text"), "Content": "你好 😀"}
    assert rendered(TextReply("x")) == rendered("x")


def test_none_is_no_reply():
    assert render_reply(None, MSG, now=1) == b""


def test_media_replies():
    assert rendered(ImageReply("m1"))["Image"] == {"MediaId": "m1"}
    assert rendered(VoiceReply("m2"))["Voice"] == {"MediaId": "m2"}
    assert rendered(VideoReply("m3", title="t"))["Video"] == {"MediaId": "m3", "Title": "t"}
    music = rendered(MusicReply("thumb", title="song", music_url="u", hq_music_url="hq"))["Music"]
    assert music == {
        "Title": "song",
        "Description": "",
        "MusicUrl": "u",
        "HQMusicUrl": "hq",
        "ThumbMediaId": "thumb",
    }


def test_news_to_an_event_keeps_up_to_8_articles():
    articles = [Article(f"t{i}", "d", "http://p", "http://u") for i in range(8)]
    doc = rendered(NewsReply(articles), to=EVENT)
    assert doc["ArticleCount"] == "8"
    assert [a["Title"] for a in doc["Articles"]["item"]] == [f"t{i}" for i in range(8)]


def test_news_to_a_user_message_is_cut_to_one_article():
    doc = rendered(NewsReply([Article("a"), Article("b")]), to=MSG)
    assert doc["ArticleCount"] == "1"
    assert doc["Articles"]["item"]["Title"] == "a"


@pytest.mark.parametrize("n", [0, 9])
def test_news_limits_are_enforced(n):
    with pytest.raises(ReplyError):
        NewsReply([Article("a")] * n)


def test_transfer_customer_service():
    assert rendered(TransferCustomerServiceReply()) == header("transfer_customer_service")
    assert rendered(TransferCustomerServiceReply("kf1@gh"))["TransInfo"] == {"KfAccount": "kf1@gh"}
    # WeChat forwards user messages only; answering an event with it would be invalid.
    assert render_reply(TransferCustomerServiceReply(), ClickEvent(key="k"), now=1) == b""


def test_cdata_terminator_and_controls_in_any_value_stay_well_formed():
    nasty = "a]]><injected/>]]]]>\x01\x1d b"
    assert rendered(nasty)["Content"] == "a]]><injected/>]]]]> b"
    assert (
        rendered(NewsReply([Article(nasty, nasty, nasty, nasty)]), to=EVENT)["Articles"]["item"][
            "Url"
        ]
        == "a]]><injected/>]]]]> b"
    )


def test_a_handler_returning_something_else_is_a_reply_error():
    with pytest.raises(ReplyError):
        render_reply(42, MSG, now=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("blank", ["", "   ", "\x01\x02", "\n"])
def test_blank_text_is_no_reply_not_an_empty_content(blank):
    assert render_reply(blank, MSG, now=1) == b""
    assert render_reply(TextReply(blank), MSG, now=1) == b""
