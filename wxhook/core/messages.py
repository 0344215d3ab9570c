"""Typed, frozen classes for WeChat's ordinary messages, and the base every push shares.

Class and attribute names follow the seed catalogue (wechatpy's names), so handler code written
against it reads the same here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Self

from .fields import decimal, integer, read_fields, xml
from .xmlcodec import XmlValue

_EMPTY: Mapping[str, XmlValue] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseMessage:
    """What every push carries: who sent it to whom, when, and of which type."""

    MSG_TYPE: ClassVar[str] = ""

    id: int = xml("MsgId", convert=integer, fallback=(("MsgID",),), default=0)
    source: str = xml("FromUserName")
    target: str = xml("ToUserName")
    create_time: int = xml("CreateTime", convert=integer, default=0)
    type: str = ""
    raw: Mapping[str, XmlValue] = dataclasses.field(
        default_factory=lambda: _EMPTY, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not self.type:
            object.__setattr__(self, "type", self.MSG_TYPE)

    @classmethod
    def from_raw(cls, raw: Mapping[str, XmlValue], **overrides: Any) -> Self:
        """Build from a parsed document; `raw` keeps every field as received."""
        kwargs = read_fields(cls, raw)
        kwargs.update(overrides)
        view = MappingProxyType(raw) if isinstance(raw, dict) else MappingProxyType(dict(raw))
        return cls(raw=view, **kwargs)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextMessage(BaseMessage):
    """A text message."""

    MSG_TYPE = "text"
    content: str = xml("Content")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageMessage(BaseMessage):
    """An image message; `image` is the PicUrl WeChat generated."""

    MSG_TYPE = "image"
    image: str = xml("PicUrl")
    media_id: str = xml("MediaId")


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceMessage(BaseMessage):
    """A voice message; `recognition` is usually empty now that WeChat retired speech-to-text."""

    MSG_TYPE = "voice"
    media_id: str = xml("MediaId")
    format: str = xml("Format")
    recognition: str = xml("Recognition")
    media_id_16k: str = xml("MediaId16K")


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoMessage(BaseMessage):
    """A video message."""

    MSG_TYPE = "video"
    media_id: str = xml("MediaId")
    thumb_media_id: str = xml("ThumbMediaId")


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortVideoMessage(BaseMessage):
    """A short video (小视频) message."""

    MSG_TYPE = "shortvideo"
    media_id: str = xml("MediaId")
    thumb_media_id: str = xml("ThumbMediaId")


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationMessage(BaseMessage):
    """A location message; Location_X is the latitude and Location_Y the longitude."""

    MSG_TYPE = "location"
    location_x: float = xml("Location_X", convert=decimal, default=0.0)
    location_y: float = xml("Location_Y", convert=decimal, default=0.0)
    scale: int = xml("Scale", convert=integer, default=0)
    label: str = xml("Label")

    @property
    def location(self) -> tuple[float, float]:
        """(latitude, longitude)."""
        return (self.location_x, self.location_y)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkMessage(BaseMessage):
    """A link message."""

    MSG_TYPE = "link"
    title: str = xml("Title")
    description: str = xml("Description")
    url: str = xml("Url")


@dataclass(frozen=True, slots=True, kw_only=True)
class MiniProgramPageMessage(BaseMessage):
    """A mini program page card sent into the chat."""

    MSG_TYPE = "miniprogrampage"
    app_id: str = xml("AppId")
    title: str = xml("Title")
    page_path: str = xml("PagePath")
    thumb_url: str = xml("ThumbUrl")
    thumb_media_id: str = xml("ThumbMediaId")


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMessage(BaseMessage):
    """A MsgType wxhook does not know yet; `type` keeps it as sent and `raw` has every field."""


MESSAGE_CLASSES: tuple[type[BaseMessage], ...] = (
    TextMessage,
    ImageMessage,
    VoiceMessage,
    VideoMessage,
    ShortVideoMessage,
    LocationMessage,
    LinkMessage,
    MiniProgramPageMessage,
)
