"""wxhook's sans-I/O protocol core: signatures, safe-mode crypto, XML, messages, replies.

It imports neither aiohttp nor redis nor asyncio, and reads no file or environment variable.
"""

from .crypto import SafeModeCrypto
from .errors import (
    BodyTooLarge,
    CryptoError,
    ErrorCode,
    ParseError,
    ProtocolError,
    ReplyError,
    SignatureError,
    WxhookError,
)
from .events import *  # noqa: F403 - every event class is public
from .events import BaseEvent, UnknownEvent
from .messages import (
    BaseMessage,
    ImageMessage,
    LinkMessage,
    LocationMessage,
    MiniProgramPageMessage,
    ShortVideoMessage,
    TextMessage,
    UnknownMessage,
    VideoMessage,
    VoiceMessage,
)
from .registry import EVENT_CLASSES, parse_message
from .replies import (
    Article,
    ImageReply,
    MusicReply,
    NewsReply,
    Reply,
    TextReply,
    TransferCustomerServiceReply,
    VideoReply,
    VoiceReply,
    render_reply,
)
from .sansio import AccountKeys, Decoded, Mode, decode, dedup_key, encode, seal, verify_url
from .signature import check_msg_signature, check_signature, compute_signature
from .xmlcodec import parse_xml

__all__ = [
    "EVENT_CLASSES",
    "AccountKeys",
    "Article",
    "BaseEvent",
    "BaseMessage",
    "BodyTooLarge",
    "CryptoError",
    "Decoded",
    "ErrorCode",
    "ImageMessage",
    "ImageReply",
    "LinkMessage",
    "LocationMessage",
    "MiniProgramPageMessage",
    "Mode",
    "MusicReply",
    "NewsReply",
    "ParseError",
    "ProtocolError",
    "Reply",
    "ReplyError",
    "SafeModeCrypto",
    "ShortVideoMessage",
    "SignatureError",
    "TextMessage",
    "TextReply",
    "TransferCustomerServiceReply",
    "UnknownEvent",
    "UnknownMessage",
    "VideoMessage",
    "VideoReply",
    "VoiceMessage",
    "VoiceReply",
    "WxhookError",
    "check_msg_signature",
    "check_signature",
    "compute_signature",
    "decode",
    "dedup_key",
    "encode",
    "parse_message",
    "parse_xml",
    "render_reply",
    "seal",
    "verify_url",
]
__all__ += [cls.__name__ for cls in EVENT_CLASSES]
