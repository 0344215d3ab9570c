"""Typed, frozen classes for WeChat's ordinary messages, and the base every push shares.

Class and attribute names follow the seed catalogue (wechatpy's names), so handler code written
against it reads the same here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Self

from .errors import ParseError
from .fields import decimal, integer, lookup, read_fields, text, xml
from .xmlcodec import XmlValue

_EMPTY: Mapping[str, XmlValue] = MappingProxyType({})
_MEDIA_ID = "media id, to download the file with the media API — 消息媒体 id"
_MEDIA_EXAMPLE = "yD8rP2kQ7sW1xZ4vB9nM3cL6tH0gF5jA8eU2oI7rT1yK4"
_THUMB_ID = "media id of the thumbnail — 缩略图的媒体 id"
_THUMB_EXAMPLE = "tN5bV8cX2zL7kJ4hG1fD9sA3qW6eR0tY5uI8oP2mQ7nB1"


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseMessage:
    """What every push carries: who sent it to whom, when, and of which type."""

    MSG_TYPE: ClassVar[str] = ""
    # (attribute, class variable): an attribute left empty takes the class's value.
    DEFAULTS_FROM: ClassVar[tuple[tuple[str, str], ...]] = (("type", "MSG_TYPE"),)

    id: int = xml(
        "MsgId",
        convert=integer,
        fallback=(("MsgID",),),
        default=0,
        doc="message id, 64-bit (MsgId; events mostly carry none and read 0) — 消息 id, 64 位整型",
    )
    source: str = xml(
        "FromUserName",
        doc="the sender's OpenID — 消息的来源用户,即发送消息的用户",
        example="oX3kT0a7Lq9vBw2ZrYc5NfHd8sEu",
    )
    target: str = xml(
        "ToUserName",
        doc="the account's original id (gh_…) — 消息的目标用户",
        example="gh_3c8a71f0b2d4",
    )
    create_time: int = xml(
        "CreateTime",
        convert=integer,
        default=0,
        doc="when WeChat sent it, Unix seconds — 消息的发送时间,UNIX 时间戳",
        example=1700000000,
    )
    type: str = ""
    raw: Mapping[str, XmlValue] = dataclasses.field(
        default_factory=lambda: _EMPTY, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        for name, source in self.DEFAULTS_FROM:
            if not getattr(self, name):
                object.__setattr__(self, name, getattr(self, source))

    @classmethod
    def from_raw(cls, raw: Mapping[str, XmlValue], **overrides: Any) -> Self:
        """Build from a parsed document; `raw` keeps every field as received."""
        view = MappingProxyType(raw) if isinstance(raw, dict) else MappingProxyType(dict(raw))
        try:
            fast = _BUILDERS[cls]
        except KeyError:
            fast = _BUILDERS[cls] = _builder(cls)
        if fast is not None and (not overrides or overrides.keys() <= fast[1]):
            try:
                return fast[0](raw, view, overrides)  # type: ignore[no-any-return]
            except ParseError:
                pass  # the keyword path below raises it with the field's path in the message
        kwargs = read_fields(cls, raw)
        kwargs.update(overrides)
        return cls(raw=view, **kwargs)


_Builder = Callable[[Mapping[str, XmlValue], Mapping[str, XmlValue], dict[str, Any]], Any]
# Per class: the direct constructor and the overrides it takes, or None for the keyword path.
_BUILDERS: dict[type, tuple[_Builder, frozenset[str]] | None] = {}


def _builder(cls: type[BaseMessage]) -> tuple[_Builder, frozenset[str]] | None:
    """What __init__ and __post_init__ do for a push, as one generated function that fills the
    slots directly (one object per push: keyword plumbing, frozen __setattr__ and a converter
    call per field were a third of decoding), the way dataclasses generates __init__. None when
    the class does something this does not know: its own __post_init__, or a field that is
    neither read from XML with a default nor one of type, event and raw; from_raw then takes
    the keyword path."""
    if cls.__post_init__ is not BaseMessage.__post_init__:
        return None
    ns: dict[str, Any] = {"cls": cls, "new": object.__new__, "isinstance": isinstance}
    lines = ["def build(raw, view, overrides):", "    get = raw.get", "    obj = new(cls)"]
    extra = {name for name, _ in cls.DEFAULTS_FROM} | {"raw"}
    for i, f in enumerate(dataclasses.fields(cls)):
        descriptor = getattr(cls, f.name, None)
        if type(descriptor).__name__ != "member_descriptor":
            return None
        ns[f"set{i}"] = descriptor.__set__  # type: ignore[union-attr]
        meta = f.metadata
        if not meta.get("path"):
            if f.name not in extra:
                return None
            if f.name == "raw":
                lines.append(f"    set{i}(obj, view)")
            else:
                ns[f"default{i}"] = getattr(cls, dict(cls.DEFAULTS_FROM)[f.name])
                lines.append(f"    set{i}(obj, overrides.get({f.name!r}) or default{i})")
            continue
        paths = (meta["path"], *meta["fallback"])
        if f.default_factory is not dataclasses.MISSING:
            ns[f"factory{i}"] = f.default_factory
            missing = f"factory{i}()"
        elif f.default is not dataclasses.MISSING:
            ns[f"default{i}"] = f.default
            missing = f"default{i}"
        else:
            return None
        ns[f"convert{i}"] = meta["convert"]
        if len(paths) == 1 and len(paths[0]) == 1 and meta["convert"] is text and f.default == "":
            # Most fields: the text of one element, "" when absent or nested.
            lines.append(f"    v = get({paths[0][0]!r})")
            lines.append(f"    set{i}(obj, v if isinstance(v, str) else '')")
            continue
        convert = f"convert{i}(v)"
        if meta["convert"] is integer:
            # int() takes every string of decimal digits; the converter handles the rest.
            convert = f"(int(v) if type(v) is str and v.isdecimal() else {convert})"
        for k, path in enumerate(paths):
            indent = "    " * (k + 1)
            if len(path) == 1:
                lines.append(f"{indent}v = get({path[0]!r})")
            else:
                ns[f"path{i}_{k}"] = path
                lines.append(f"{indent}v = lookup(raw, path{i}_{k})")
            lines.append(f"{indent}if v is None:")
        lines[-1] = lines[-1].replace("if v is None:", "")  # the last path: nothing to fall to
        lines.append(f"    set{i}(obj, {missing} if v is None else {convert})")
    lines.append("    return obj")
    ns["lookup"] = lookup
    exec("\n".join(line for line in lines if line.strip()), ns)  # noqa: S102 - our own source
    return ns["build"], frozenset(name for name, _ in cls.DEFAULTS_FROM)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextMessage(BaseMessage):
    """A text message."""

    MSG_TYPE = "text"
    content: str = xml(
        "Content",
        doc="the text; may hold newlines, emoji and emoticon codes such as /::) — 文本内容",
        example="你好",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageMessage(BaseMessage):
    """An image message; `image` is the PicUrl WeChat generated."""

    MSG_TYPE = "image"
    image: str = xml(
        "PicUrl",
        doc="URL of the picture, generated by WeChat — 图片链接",
        example="http://mmbiz.qpic.cn/mmbiz_jpg/Qz2BzHn4aE3M5t0GkC8q/0",
    )
    media_id: str = xml("MediaId", doc=_MEDIA_ID, example=_MEDIA_EXAMPLE)


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceMessage(BaseMessage):
    """A voice message; `recognition` is usually empty now that WeChat retired speech-to-text."""

    MSG_TYPE = "voice"
    media_id: str = xml("MediaId", doc=_MEDIA_ID, example=_MEDIA_EXAMPLE)
    format: str = xml("Format", doc="audio format, e.g. amr or speex — 语音格式", example="amr")
    recognition: str = xml(
        "Recognition",
        doc="speech-to-text result; empty in today's pushes — 语音识别结果",
        example="明天天气怎么样",
    )
    media_id_16k: str = xml(
        "MediaId16K",
        doc="media id of the 16 kHz recording — 16K 采样率语音消息媒体id",
        example="v1Q3mZ8xK2pL6tR9wY4cB7nF0hJ5dS1aG3eU8oI2rT6y",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoMessage(BaseMessage):
    """A video message."""

    MSG_TYPE = "video"
    media_id: str = xml("MediaId", doc=_MEDIA_ID, example=_MEDIA_EXAMPLE)
    thumb_media_id: str = xml("ThumbMediaId", doc=_THUMB_ID, example=_THUMB_EXAMPLE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortVideoMessage(BaseMessage):
    """A short video (小视频) message."""

    MSG_TYPE = "shortvideo"
    media_id: str = xml("MediaId", doc=_MEDIA_ID, example=_MEDIA_EXAMPLE)
    thumb_media_id: str = xml("ThumbMediaId", doc=_THUMB_ID, example=_THUMB_EXAMPLE)


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationMessage(BaseMessage):
    """A location message; Location_X is the latitude and Location_Y the longitude."""

    MSG_TYPE = "location"
    location_x: float = xml(
        "Location_X",
        convert=decimal,
        default=0.0,
        doc="latitude — 地理位置纬度",
        example="23.134521",
    )
    location_y: float = xml(
        "Location_Y",
        convert=decimal,
        default=0.0,
        doc="longitude — 地理位置经度",
        example="113.358803",
    )
    scale: int = xml(
        "Scale", convert=integer, default=0, doc="map zoom level — 地图缩放大小", example="20"
    )
    label: str = xml(
        "Label", doc="the place as text — 地理位置信息", example="广州市天河区天河路 385 号"
    )

    @property
    def location(self) -> tuple[float, float]:
        """(latitude, longitude)."""
        return (self.location_x, self.location_y)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkMessage(BaseMessage):
    """A link message."""

    MSG_TYPE = "link"
    title: str = xml("Title", doc="the link's title — 消息标题", example="公众号开发入门")
    description: str = xml(
        "Description", doc="the link's description — 消息描述", example="十分钟接入消息推送"
    )
    url: str = xml(
        "Url", doc="the link — 消息链接", example="https://mp.weixin.qq.com/s/Lk3mN8pQ2r"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MiniProgramPageMessage(BaseMessage):
    """A mini program page card sent into the chat."""

    MSG_TYPE = "miniprogrampage"
    app_id: str = xml(
        "AppId", doc="the mini program's AppID — 小程序 appid", example="wx4f4bc4dec97d474b"
    )
    title: str = xml("Title", doc="the card's title — 小程序卡片标题", example="今日特价")
    page_path: str = xml(
        "PagePath", doc="the page opened — 小程序卡片页面路径", example="pages/deal/index?id=42"
    )
    thumb_url: str = xml(
        "ThumbUrl",
        doc="URL of the card's cover — 封面图片的临时 cdn 链接",
        example="http://mmbiz.qpic.cn/mmbiz_jpg/Tm8cR2vQ5zX1bN7k/0",
    )
    thumb_media_id: str = xml(
        "ThumbMediaId",
        doc="media id of the card's cover — 封面图片的临时素材 id",
        example=_THUMB_EXAMPLE,
    )


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
