"""Passive replies (the body of the answer to a push): frozen objects rendering to XML that
always parses, addressed back to the push's sender."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import ReplyError
from .events import BaseEvent
from .messages import BaseMessage
from .xmlcodec import Fields, cdata, clean_text, render_fields

log = logging.getLogger("wxhook.core")

MAX_ARTICLES = 8
# Since 2018-10-12 a reply to a user's message may carry one article only; events allow 8.
MAX_ARTICLES_TO_MESSAGE = 1


@dataclass(frozen=True, slots=True)
class Reply:
    """Base of every passive reply."""

    MSG_TYPE: ClassVar[str] = ""

    def body(self, message: BaseMessage) -> Fields | None:
        """The elements after the common header, or None when nothing should be sent."""
        return {}


@dataclass(frozen=True, slots=True)
class TextReply(Reply):
    """A text reply; newlines are shown as such."""

    MSG_TYPE = "text"
    content: str

    def body(self, message: BaseMessage) -> Fields | None:
        # "No reply" is an empty body; XML with an empty Content makes WeChat show an error.
        return {"Content": self.content} if clean_text(self.content).strip() else None


@dataclass(frozen=True, slots=True)
class ImageReply(Reply):
    """An image reply; the media must be uploaded first."""

    MSG_TYPE = "image"
    media_id: str

    def body(self, message: BaseMessage) -> Fields | None:
        return {"Image": {"MediaId": self.media_id}}


@dataclass(frozen=True, slots=True)
class VoiceReply(Reply):
    """A voice reply."""

    MSG_TYPE = "voice"
    media_id: str

    def body(self, message: BaseMessage) -> Fields | None:
        return {"Voice": {"MediaId": self.media_id}}


@dataclass(frozen=True, slots=True)
class VideoReply(Reply):
    """A video reply."""

    MSG_TYPE = "video"
    media_id: str
    title: str = ""
    description: str = ""

    def body(self, message: BaseMessage) -> Fields | None:
        video: Fields = {"MediaId": self.media_id}
        if self.title:
            video["Title"] = self.title
        if self.description:
            video["Description"] = self.description
        return {"Video": video}


@dataclass(frozen=True, slots=True)
class MusicReply(Reply):
    """A music reply; WeChat requires the thumbnail's media id."""

    MSG_TYPE = "music"
    thumb_media_id: str
    title: str = ""
    description: str = ""
    music_url: str = ""
    hq_music_url: str = ""

    def body(self, message: BaseMessage) -> Fields | None:
        return {
            "Music": {
                "Title": self.title,
                "Description": self.description,
                "MusicUrl": self.music_url,
                "HQMusicUrl": self.hq_music_url,
                "ThumbMediaId": self.thumb_media_id,
            }
        }


@dataclass(frozen=True, slots=True)
class Article:
    """One item of a news reply."""

    title: str
    description: str = ""
    image: str = ""
    url: str = ""

    def render(self) -> Fields:
        """The <item> element's children."""
        return {
            "Title": self.title,
            "Description": self.description,
            "PicUrl": self.image,
            "Url": self.url,
        }


@dataclass(frozen=True, slots=True)
class NewsReply(Reply):
    """A news (图文) reply of 1 to 8 articles; a user message gets only the first."""

    MSG_TYPE = "news"
    articles: Sequence[Article]

    def __post_init__(self) -> None:
        object.__setattr__(self, "articles", tuple(self.articles))
        if not 1 <= len(self.articles) <= MAX_ARTICLES:
            raise ReplyError(
                f"a news reply holds 1 to {MAX_ARTICLES} articles, got {len(self.articles)}"
            )

    def body(self, message: BaseMessage) -> Fields | None:
        articles = self.articles
        if not isinstance(message, BaseEvent) and len(articles) > MAX_ARTICLES_TO_MESSAGE:
            log.warning(
                "news reply to a %s message cut from %d articles to 1 (WeChat's rule since 2018)",
                message.type,
                len(articles),
            )
            articles = articles[:MAX_ARTICLES_TO_MESSAGE]
        return {"ArticleCount": len(articles), "Articles": {"item": [a.render() for a in articles]}}


@dataclass(frozen=True, slots=True)
class TransferCustomerServiceReply(Reply):
    """Hand this user message to customer service, to one agent when `kf_account` is set."""

    MSG_TYPE = "transfer_customer_service"
    kf_account: str | None = None

    def body(self, message: BaseMessage) -> Fields | None:
        if isinstance(message, BaseEvent):
            # WeChat forwards user messages only; for an event the reply would be invalid.
            log.warning("transfer_customer_service ignored: it answers messages, not events")
            return None
        return {"TransInfo": {"KfAccount": self.kf_account}} if self.kf_account else {}


def as_reply(value: object) -> Reply | None:
    """A handler's return value as a Reply: a str is a text reply, None is no reply."""
    if value is None or isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return TextReply(value) if clean_text(value).strip() else None
    raise ReplyError(
        f"a handler returned {type(value).__name__}; return None, a str or a reply object"
    )


def render_reply(reply: Reply | str | None, message: BaseMessage, *, now: int) -> bytes:
    """The reply's plaintext XML addressed back to the message's sender; b"" for no reply."""
    if type(reply) is str or type(reply) is TextReply:
        # Text, as a str or a TextReply: Content only, and an empty one is no reply at all.
        content = reply if isinstance(reply, str) else reply.content
        if not content.isprintable():
            content = clean_text(content)
        if not content.strip():
            return b""
        msg_type, inner = "<![CDATA[text]]>", f"<Content>{cdata(content)}</Content>"
    else:
        resolved = as_reply(reply)
        if resolved is None:
            return b""
        body = resolved.body(message)
        if body is None:
            return b""
        msg_type, inner = cdata(resolved.MSG_TYPE), render_fields(body)
    # Every passive reply goes back to the push's sender (ToUserName) from the account.
    return (
        f"<xml><ToUserName>{cdata(message.source)}</ToUserName>"
        f"<FromUserName>{cdata(message.target)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType>{msg_type}</MsgType>{inner}</xml>"
    ).encode()


def custom_message(openid: str, reply: Reply | str) -> dict[str, Any]:
    """The customer-service message JSON for a reply object (what message/custom/send takes)."""
    value = as_reply(reply)
    payload: dict[str, Any] = {"touser": openid}
    if isinstance(value, TextReply):
        payload |= {"msgtype": "text", "text": {"content": value.content}}
    elif isinstance(value, ImageReply):
        payload |= {"msgtype": "image", "image": {"media_id": value.media_id}}
    elif isinstance(value, VoiceReply):
        payload |= {"msgtype": "voice", "voice": {"media_id": value.media_id}}
    elif isinstance(value, VideoReply):
        video = {"media_id": value.media_id, "title": value.title}
        payload |= {"msgtype": "video", "video": video | {"description": value.description}}
    elif isinstance(value, MusicReply):
        music = {
            "title": value.title,
            "description": value.description,
            "musicurl": value.music_url,
            "hqmusicurl": value.hq_music_url,
            "thumb_media_id": value.thumb_media_id,
        }
        payload |= {"msgtype": "music", "music": music}
    elif isinstance(value, NewsReply):
        articles = [
            {"title": a.title, "description": a.description, "url": a.url, "picurl": a.image}
            for a in value.articles[:1]  # customer-service news carries one article
        ]
        payload |= {"msgtype": "news", "news": {"articles": articles}}
    else:
        kind = type(value).__name__ if value is not None else "None"
        raise ReplyError(f"{kind} cannot be sent as a customer-service message")
    return payload
