"""Typed, frozen classes for every event push (MsgType=event), named as in the seed catalogue.

`event` is the seed's lower-case name (`subscribe_scan`, `scan`, `click`); the spelling WeChat
sent stays in `raw["Event"]`. `WIRE` lists the Event values (any case) a class is found by.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import ClassVar

from .fields import Converter, decimal, integer, items, mapping, text, xml
from .messages import BaseMessage
from .xmlcodec import XmlDict, XmlValue


def _scene(value: XmlValue) -> str:
    # A QR follow's EventKey is "qrscene_" + scene; the seed's scene_id drops the prefix.
    return text(value).removeprefix("qrscene_")


def _key_part(index: int) -> Converter:
    def convert(value: XmlValue) -> str:
        parts = text(value).split("|")
        return parts[index] if index < len(parts) else ""

    return convert


def _int_list(value: XmlValue) -> list[int]:
    out: list[int] = []
    for v in value if isinstance(value, list) else [value]:
        try:
            out.append(int(text(v)))
        except ValueError:
            continue  # an index WeChat never sends; raw keeps it
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseEvent(BaseMessage):
    """What every event carries on top of a message: the event's name."""

    MSG_TYPE = "event"
    EVENT: ClassVar[str] = ""
    WIRE: ClassVar[tuple[str, ...]] = ()
    DEFAULTS_FROM = (("type", "MSG_TYPE"), ("event", "EVENT"))
    event: str = ""

    def dedup_extra(self) -> tuple[str, ...]:
        """Ids nested in the body that tell two pushes of one second apart (for dedup_key)."""
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(BaseEvent):
    """An Event wxhook does not know yet; `event` keeps it as sent and `raw` has every field."""


# Follow, QR, location, menus -------------------------------------------------------------

_MENU_KEY = "自定义菜单 key"
_TICKET = "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIE"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeEvent(BaseEvent):
    """A user followed the account; `key` is EventKey ("" for a plain follow)."""

    EVENT = "subscribe"
    key: str = xml(
        "EventKey",
        doc='EventKey as sent: "" for a plain follow, qrscene_… or scanbarcode|… otherwise',
        example="",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeScanEvent(SubscribeEvent):
    """A user followed by scanning a parametric QR code (EventKey qrscene_...)."""

    EVENT = "subscribe_scan"
    WIRE = ()
    scene_id: str = xml(
        "EventKey",
        convert=_scene,
        doc="the QR code's scene — 带参数二维码 scene_id,去除了前缀 qrscene_",
        example="qrscene_123",
    )
    ticket: str = xml("Ticket", doc="the QR code's ticket — 带参数二维码 ticket", example=_TICKET)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeScanProductEvent(SubscribeEvent):
    """A user followed from a product page (EventKey scanbarcode|standard|key)."""

    EVENT = "subscribe_scan_product"
    WIRE = ()
    scene: str = xml(
        "EventKey",
        convert=_key_part(0),
        doc="scanbarcode 为扫码场景,scanimage 为扫封面(图像)场景",
        example="scanbarcode|ean13|6901234567892",
    )
    standard: str = xml(
        "EventKey",
        convert=_key_part(1),
        doc="the product code's standard, e.g. ean13 — 商品编码标准",
        example="scanbarcode|ean13|6901234567892",
    )
    key: str = xml(
        "EventKey",
        convert=_key_part(2),
        doc="the product code — 商品编码内容",
        example="scanbarcode|ean13|6901234567892",
    )

    @property
    def event_key(self) -> str:
        """EventKey as sent (wechatpy's name): scene|standard|key — 事件 key 值"""
        return text(self.raw.get("EventKey", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeEvent(BaseEvent):
    """A user unfollowed the account."""

    EVENT = "unsubscribe"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanEvent(BaseEvent):
    """A follower scanned a parametric QR code; scene_id has no prefix."""

    EVENT = "scan"
    WIRE = ("SCAN",)
    scene_id: str = xml(
        "EventKey",
        doc="the QR code's scene (a number or a string) — 带参数二维码 scene_id",
        example="123",
    )
    ticket: str = xml("Ticket", doc="the QR code's ticket — 带参数二维码 ticket", example=_TICKET)


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationEvent(BaseEvent):
    """The user's location, reported on entering the chat."""

    EVENT = "location"
    WIRE = ("LOCATION",)
    latitude: float = xml(
        "Latitude", convert=decimal, default=0.0, doc="latitude — 地理位置纬度", example="23.137466"
    )
    longitude: float = xml(
        "Longitude",
        convert=decimal,
        default=0.0,
        doc="longitude — 地理位置经度",
        example="113.352425",
    )
    precision: float = xml(
        "Precision",
        convert=decimal,
        default=0.0,
        doc="accuracy in metres — 地理位置精度",
        example="119.385040",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ClickEvent(BaseEvent):
    """A menu button of type click; `key` is the button's key."""

    EVENT = "click"
    WIRE = ("CLICK",)
    key: str = xml("EventKey", doc="the button's key — 自定义菜单 key 值", example="MENU_HELP")


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewEvent(BaseEvent):
    """A menu button that opens a web page."""

    EVENT = "view"
    WIRE = ("VIEW",)
    url: str = xml(
        "EventKey", doc="the page opened — 跳转链接 url", example="https://example.com/shop"
    )
    menu_id: str = xml(
        "MenuId", doc="id of the personalised menu, if any — 个性化菜单 id", example="208396938"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewMiniProgramEvent(BaseEvent):
    """A menu button that opens a mini program page."""

    EVENT = "view_miniprogram"
    page_path: str = xml(
        "EventKey", doc="the mini program page opened — 小程序页面路径", example="pages/index/index"
    )
    menu_id: str = xml(
        "MenuId", doc="id of the personalised menu, if any — 个性化菜单 id", example="208396938"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _ScanCodeEvent(BaseEvent):
    key: str = xml("EventKey", doc=f"the button's key — {_MENU_KEY}", example="MENU_SCAN")
    scan_type: str = xml(
        "ScanCodeInfo", "ScanType", doc="qrcode or barcode — 扫描类型", example="qrcode"
    )
    scan_result: str = xml(
        "ScanCodeInfo",
        "ScanResult",
        doc="what the code holds — 扫描结果",
        example="https://example.com/item/42",
    )

    @property
    def scan_code_info(self) -> XmlDict:
        """The ScanCodeInfo element as received (wechatpy's name) — 扫描信息"""
        return mapping(self.raw.get("ScanCodeInfo", {}))


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanCodePushEvent(_ScanCodeEvent):
    """A scan-code menu button; the client handles the result too."""

    EVENT = "scancode_push"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanCodeWaitMsgEvent(_ScanCodeEvent):
    """A scan-code menu button whose client waits for our reply."""

    EVENT = "scancode_waitmsg"


@dataclass(frozen=True, slots=True, kw_only=True)
class _PictureEvent(BaseEvent):
    key: str = xml("EventKey", doc=f"the button's key — {_MENU_KEY}", example="MENU_PHOTO")
    count: int = xml(
        "SendPicsInfo",
        "Count",
        convert=integer,
        default=0,
        doc="how many pictures were sent — 发送的图片数量",
        example=1,
    )
    pictures: list[XmlDict] = xml(
        "SendPicsInfo",
        "PicList",
        "item",
        convert=items,
        default=[],
        doc="one {PicMd5Sum} per picture, a list even for one — 图片列表",
        example=[{"PicMd5Sum": "1b5f7c23b5bf75682a53e7b6d163e185"}],
    )

    @property
    def pictures_info(self) -> XmlDict:
        """The SendPicsInfo element as received (wechatpy's name): Count and PicList — 图片信息"""
        return mapping(self.raw.get("SendPicsInfo", {}))


@dataclass(frozen=True, slots=True, kw_only=True)
class PicSysPhotoEvent(_PictureEvent):
    """A menu button that opens the camera; `pictures` lists each photo's PicMd5Sum."""

    EVENT = "pic_sysphoto"


@dataclass(frozen=True, slots=True, kw_only=True)
class PicPhotoOrAlbumEvent(_PictureEvent):
    """A menu button that opens the camera or the album."""

    EVENT = "pic_photo_or_album"


@dataclass(frozen=True, slots=True, kw_only=True)
class PicWeChatEvent(_PictureEvent):
    """A menu button that opens WeChat's album."""

    EVENT = "pic_weixin"


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationSelectEvent(BaseEvent):
    """A menu button that opens the location picker."""

    EVENT = "location_select"
    key: str = xml("EventKey", doc=f"the button's key — {_MENU_KEY}", example="MENU_WHERE")
    location_x: float = xml(
        "SendLocationInfo",
        "Location_X",
        convert=decimal,
        default=0.0,
        doc="latitude — 地理位置纬度",
        example="23.134521",
    )
    location_y: float = xml(
        "SendLocationInfo",
        "Location_Y",
        convert=decimal,
        default=0.0,
        doc="longitude — 地理位置经度",
        example="113.358803",
    )
    scale: int = xml(
        "SendLocationInfo",
        "Scale",
        convert=integer,
        default=0,
        doc="map zoom level — 地理位置精度",
        example="15",
    )
    label: str = xml(
        "SendLocationInfo",
        "Label",
        doc="the place as text — 地理位置信息字符串",
        example="广州市天河区天河路 385 号",
    )
    poiname: str = xml(
        "SendLocationInfo",
        "Poiname",
        doc="the point of interest picked — 朋友圈 POI 的名字,可能为空",
        example="太古汇",
    )

    @property
    def location(self) -> tuple[float, float]:
        """(latitude, longitude) — 地理位置元组: (纬度, 经度)."""
        return (self.location_x, self.location_y)

    @property
    def location_info(self) -> XmlDict:
        """The SendLocationInfo element as received (wechatpy's name) — 发送的位置信息"""
        return mapping(self.raw.get("SendLocationInfo", {}))


# Jobs and notifications ------------------------------------------------------------------

_JOB_ID = "the job's MsgID (capital D) — 任务的消息 id"


@dataclass(frozen=True, slots=True, kw_only=True)
class MassSendJobFinishEvent(BaseEvent):
    """A mass send finished; `id` is its MsgID."""

    EVENT = "masssendjobfinish"
    WIRE = ("MASSSENDJOBFINISH",)
    id: int = xml("MsgID", convert=integer, fallback=(("MsgId",),), default=0, doc=_JOB_ID)
    status: str = xml(
        "Status",
        doc='"send success", "send fail" or "err(NNNNN)" — 群发任务状态',
        example="send success",
    )
    total_count: int = xml(
        "TotalCount",
        convert=integer,
        default=0,
        doc="发送的总粉丝数 (followers in the group)",
        example=100,
    )
    filter_count: int = xml(
        "FilterCount",
        convert=integer,
        default=0,
        doc="过滤后准备发送的粉丝数 (after filtering)",
        example=80,
    )
    sent_count: int = xml(
        "SentCount", convert=integer, default=0, doc="发送成功的粉丝数 (delivered)", example=75
    )
    error_count: int = xml(
        "ErrorCount", convert=integer, default=0, doc="发送失败的粉丝数 (failed)", example=5
    )
    copyright_check_state: int = xml(
        "CopyrightCheckResult",
        "CheckState",
        convert=integer,
        default=0,
        doc="originality check: 1 passed, 2 refused — 原创校验状态",
        example=1,
    )
    copyright_results: list[XmlDict] = xml(
        "CopyrightCheckResult",
        "ResultList",
        "item",
        convert=items,
        default=[],
        doc="one entry per article checked (ArticleIdx, AuditState, …) — 各篇文章的原创校验结果",
        example=[
            {
                "ArticleIdx": "1",
                "UserDeclareState": "0",
                "AuditState": "2",
                "OriginalArticleUrl": "",
                "OriginalArticleType": "1",
                "CanReprint": "1",
                "NeedReplaceContent": "1",
                "NeedShowReprintSource": "1",
            }
        ],
    )
    article_urls: list[XmlDict] = xml(
        "ArticleUrlResult",
        "ResultList",
        "item",
        convert=items,
        default=[],
        doc="one {ArticleIdx, ArticleUrl} per article sent — 各篇文章的链接",
        example=[{"ArticleIdx": "1", "ArticleUrl": "https://mp.weixin.qq.com/s/Mass1aB2cD3"}],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateSendJobFinishEvent(BaseEvent):
    """A template message was delivered or failed (`status`, e.g. "failed:user block")."""

    EVENT = "templatesendjobfinish"
    WIRE = ("TEMPLATESENDJOBFINISH",)
    id: int = xml("MsgID", convert=integer, fallback=(("MsgId",),), default=0, doc=_JOB_ID)
    status: str = xml(
        "Status",
        doc='"success", "failed:user block" or "failed: system failed" — 模板消息发送状态',
        example="success",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishJobFinishEvent(BaseEvent):
    """A publish (发布) job finished; publish_status 0 is success."""

    EVENT = "publishjobfinish"
    WIRE = ("PUBLISHJOBFINISH", "FREEPUBLISHJOBFINISH")
    publish_id: int = xml(
        "PublishEventInfo",
        "publish_id",
        convert=integer,
        default=0,
        doc="the publish job's id — 发布任务 id",
        example=2247503051,
    )
    publish_status: int = xml(
        "PublishEventInfo",
        "publish_status",
        convert=integer,
        default=0,
        doc="0 published, 1 publishing, 2 originality check failed, 3 failed, 4 audit refused, "
        "5 deleted, 6 banned — 发布状态",
        example="0",
    )
    article_id: str = xml(
        "PublishEventInfo",
        "article_id",
        doc="the published article's id — 图文的 article_id",
        example="Hk2Wq7PzR0vX9cL4mT1sB8nY3fJ6dG5a-eU0oI_rN2tQ",
    )
    articles: list[XmlDict] = xml(
        "PublishEventInfo",
        "article_detail",
        "item",
        convert=items,
        default=[],
        doc="one {idx, article_url} per article — 各篇文章的链接",
        example=[{"idx": "1", "article_url": "https://mp.weixin.qq.com/s/Pub1aB2cD3"}],
    )
    fail_idx: list[int] = xml(
        "PublishEventInfo",
        "fail_idx",
        convert=_int_list,
        default=[],
        doc="indexes of the articles that failed (publish_status 2 or 4) — 失败的文章编号",
    )

    def dedup_extra(self) -> tuple[str, ...]:
        return (str(self.publish_id),)


@dataclass(frozen=True, slots=True, kw_only=True)
class _SubscribeMsgEvent(BaseEvent):
    subscribes: list[XmlDict] = xml(default=[])

    def dedup_extra(self) -> tuple[str, ...]:
        return tuple(
            ":".join(
                text(entry.get(k, "")) for k in ("TemplateId", "MsgID", "SubscribeStatusString")
            )
            for entry in self.subscribes
        )


_TEMPLATE_ID = "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgPopupEvent(_SubscribeMsgEvent):
    """The user answered a subscription-message prompt; one entry per template."""

    EVENT = "subscribe_msg_popup_event"
    subscribes: list[XmlDict] = xml(
        "SubscribeMsgPopupEvent",
        "List",
        convert=items,
        default=[],
        doc="one {TemplateId, SubscribeStatusString (accept/reject), PopupScene} per template "
        "— 每个模板的订阅结果",
        example=[
            {"TemplateId": _TEMPLATE_ID, "SubscribeStatusString": "accept", "PopupScene": "2"}
        ],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgChangeEvent(_SubscribeMsgEvent):
    """The user changed subscription-message settings (only rejections are pushed)."""

    EVENT = "subscribe_msg_change_event"
    subscribes: list[XmlDict] = xml(
        "SubscribeMsgChangeEvent",
        "List",
        convert=items,
        fallback=(("SubscribeMsgPopupEvent", "List"),),
        default=[],
        doc="one {TemplateId, SubscribeStatusString} per template (reject only) "
        "— 每个模板的订阅变更",
        example=[{"TemplateId": _TEMPLATE_ID, "SubscribeStatusString": "reject"}],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgSentEvent(_SubscribeMsgEvent):
    """Subscription messages were sent; ErrorCode 0 in an entry means delivered."""

    EVENT = "subscribe_msg_sent_event"
    subscribes: list[XmlDict] = xml(
        "SubscribeMsgSentEvent",
        "List",
        convert=items,
        default=[],
        doc="one {TemplateId, MsgID, ErrorCode (0 delivered), ErrorStatus} per message "
        "— 每条消息的发送结果",
        example=[
            {
                "TemplateId": _TEMPLATE_ID,
                "MsgID": "1700827132819554304",
                "ErrorCode": "0",
                "ErrorStatus": "success",
            }
        ],
    )


# Account verification ---------------------------------------------------------------------

_EXPIRES = 1735660800
_FAILED = 1700000000


@dataclass(frozen=True, slots=True, kw_only=True)
class _ExpiryEvent(BaseEvent):
    expired_time: int = xml(
        "ExpiredTime",
        convert=integer,
        default=0,
        doc="有效期,将于该时间戳认证过期",
        example=_EXPIRES,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _FailureEvent(BaseEvent):
    fail_time: int = xml(
        "FailTime",
        convert=integer,
        default=0,
        doc="when it failed, Unix seconds — 失败发生时间",
        example=_FAILED,
    )
    fail_reason: str = xml(
        "FailReason",
        doc="why — 认证失败的原因",
        example="营业执照信息与主体不符",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class QualificationVerifySuccessEvent(_ExpiryEvent):
    """Qualification verification (资质认证) succeeded."""

    EVENT = "qualification_verify_success"


@dataclass(frozen=True, slots=True, kw_only=True)
class QualificationVerifyFailEvent(_FailureEvent):
    """Qualification verification failed."""

    EVENT = "qualification_verify_fail"


@dataclass(frozen=True, slots=True, kw_only=True)
class NamingVerifySuccessEvent(_ExpiryEvent):
    """Naming verification (名称认证) succeeded."""

    EVENT = "naming_verify_success"


@dataclass(frozen=True, slots=True, kw_only=True)
class NamingVerifyFailEvent(_FailureEvent):
    """Naming verification failed."""

    EVENT = "naming_verify_fail"


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnualRenewEvent(_ExpiryEvent):
    """The yearly re-verification is due."""

    EVENT = "annual_renew"
    expired_time: int = xml(
        "ExpiredTime",
        convert=integer,
        default=0,
        doc="有效期,将于该时间戳认证过期,需尽快年审",
        example=_EXPIRES,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyExpiredEvent(_ExpiryEvent):
    """The verification has expired."""

    EVENT = "verify_expired"
    expired_time: int = xml(
        "ExpiredTime",
        convert=integer,
        default=0,
        doc="有效期,表示已于该时间戳认证过期,需要重新发起微信认证",
        example=_EXPIRES,
    )


# User authorization changes (FromUserName is the platform; the user is OpenID) ---------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _AuthorizationEvent(BaseEvent):
    open_id: str = xml(
        "OpenID",
        doc="the user's OpenID (FromUserName is the platform here) — 用户的 OpenID",
        example="oQ8mT2vX5zB1nK7cR4wL9pY3sJ6d",
    )
    app_id: str = xml(
        "AppID", doc="the account's AppID — 公众号的 AppID", example="wx2c2769f8efd9abc2"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserInfoModifiedEvent(_AuthorizationEvent):
    """A user changed the profile data they had authorized."""

    EVENT = "user_info_modified"
    union_id: str = xml(
        "UnionID",
        doc="the user's UnionID, if any — 用户的 UnionID",
        example="oU7kR3mX9vB2nQ5tL8cW1zY4sJ6d",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAuthorizationRevokeEvent(_AuthorizationEvent):
    """A user revoked some authorizations (`revoke_info`, e.g. "201")."""

    EVENT = "user_authorization_revoke"
    revoke_info: str = xml(
        "RevokeInfo",
        doc="what was revoked: 201 address … 207, comma-separated — 撤回的授权信息",
        example="301",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAuthorizationCancellationEvent(_AuthorizationEvent):
    """A user cancelled their account's authorization."""

    EVENT = "user_authorization_cancellation"


# Customer service -------------------------------------------------------------------------

_KF = "test1@gh_3c8a71f0b2d4"


@dataclass(frozen=True, slots=True, kw_only=True)
class KfCreateSessionEvent(BaseEvent):
    """A customer-service agent took a session."""

    EVENT = "kf_create_session"
    account: str = xml("KfAccount", doc="the agent's account — 客服账号", example=_KF)


@dataclass(frozen=True, slots=True, kw_only=True)
class KfCloseSessionEvent(BaseEvent):
    """A customer-service session closed."""

    EVENT = "kf_close_session"
    account: str = xml("KfAccount", doc="the agent's account — 客服账号", example=_KF)


@dataclass(frozen=True, slots=True, kw_only=True)
class KfSwitchSessionEvent(BaseEvent):
    """A customer-service session moved to another agent."""

    EVENT = "kf_switch_session"
    from_account: str = xml(
        "FromKfAccount", doc="the agent who had the session — 原客服账号", example=_KF
    )
    to_account: str = xml(
        "ToKfAccount", doc="the agent who has it now — 新客服账号", example="test2@gh_3c8a71f0b2d4"
    )


# Cards (卡券) --------------------------------------------------------------------------------

_CARD = "pFS7Fjg8kV1IdDz01r4SQwMkuCKc"
_CODE = "198374613512"
_OUTER_STR = "12b"


@dataclass(frozen=True, slots=True, kw_only=True)
class _CardEvent(BaseEvent):
    card_id: str = xml("CardId", doc="the card's id — 卡券 ID", example=_CARD)
    code: str = xml("UserCardCode", doc="the user's card code — 卡券 Code 码", example=_CODE)


@dataclass(frozen=True, slots=True, kw_only=True)
class CardPassCheckEvent(_CardEvent):
    """A card passed review."""

    EVENT = "card_pass_check"
    refuse_reason: str = xml("RefuseReason", doc="the reviewer's note — 审核备注")


@dataclass(frozen=True, slots=True, kw_only=True)
class CardNotPassCheckEvent(_CardEvent):
    """A card failed review."""

    EVENT = "card_not_pass_check"
    refuse_reason: str = xml(
        "RefuseReason", doc="why it was refused — 审核不通过原因", example="非法代制"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserGetCardEvent(_CardEvent):
    """A user received a card (IsGiveByFriend is WeChat's spelling)."""

    EVENT = "user_get_card"
    is_given_by_friend: int = xml(
        "IsGiveByFriend",
        convert=integer,
        default=0,
        doc="1 if a friend gave it — 是否为转赠领取,1 代表是,0 代表否",
        example=1,
    )
    friend: str = xml(
        "FriendUserName",
        doc="the giving friend's OpenID — 转赠者的 OpenID",
        example="oR5mX8zB2nK7cQ4wL1pY9sJ3tV6d",
    )
    old_code: str = xml(
        "OldUserCardCode", doc="the code before the gift — 转赠前的 code", example="198374613511"
    )
    outer_id: int = xml(
        "OuterId", convert=integer, default=0, doc="the channel's outer id — 领取场景值", example=0
    )
    outer_str: str = xml(
        "OuterStr", doc="the channel string set on the card's link — 领取场景值", example=_OUTER_STR
    )
    is_restore_member_card: int = xml(
        "IsRestoreMemberCard",
        convert=integer,
        default=0,
        doc="1 if a deleted member card was restored — 是否为删除后重新领取",
        example=0,
    )
    is_recommend_by_friend: int = xml(
        "IsRecommendByFriend",
        convert=integer,
        default=0,
        doc="1 if a friend recommended it — 是否为朋友推荐",
        example=0,
    )
    union_id: str = xml(
        "UnionId",
        doc="the user's UnionID, if any — 用户的 UnionID",
        example="o6_bmasdasdsad6_2sgVt7hMZOPfL",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserGiftingCardEvent(_CardEvent):
    """A user gave a card to a friend."""

    EVENT = "user_gifting_card"
    is_return_back: int = xml(
        "IsReturnBack",
        convert=integer,
        default=0,
        doc="1 if the gift came back unclaimed — 是否转赠退回",
        example=0,
    )
    friend: str = xml(
        "FriendUserName",
        doc="the receiving friend's OpenID — 接收者的 OpenID",
        example="oR5mX8zB2nK7cQ4wL1pY9sJ3tV6d",
    )
    is_chat_room: int = xml(
        "IsChatRoom",
        convert=integer,
        default=0,
        doc="1 if given in a group chat — 是否群转赠",
        example=0,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserDeleteCardEvent(_CardEvent):
    """A user deleted a card."""

    EVENT = "user_del_card"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserConsumeCardEvent(_CardEvent):
    """A card was redeemed."""

    EVENT = "user_consume_card"
    consume_source: str = xml(
        "ConsumeSource",
        doc="FROM_API, FROM_MP, FROM_MOBILE_HELPER … — 核销来源",
        example="FROM_API",
    )
    location_name: str = xml(
        "LocationName", doc="the store that redeemed it — 门店名称", example="天河店"
    )
    staff_open_id: str = xml(
        "StaffOpenId",
        doc="OpenID of the staff who redeemed it — 核销员的 OpenID",
        example="oS2mX5zB8nK1cQ7wL4pY3sJ9tV6d",
    )
    verify_code: str = xml(
        "VerifyCode", doc="the self-redeem code — 自助核销时的验证码", example=""
    )
    remark_amount: str = xml(
        "RemarkAmount", doc="the self-redeem amount — 自助核销时的备注金额", example=""
    )
    outer_str: str = xml("OuterStr", doc="the channel string — 场景值", example=_OUTER_STR)

    @property
    def staff(self) -> str:
        """staff_open_id under wechatpy's name: the redeeming staff's OpenID — 核销员"""
        return self.staff_open_id


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPayFromPayCellEvent(_CardEvent):
    """A user paid through a card's pay cell; fees are in fen."""

    EVENT = "user_pay_from_pay_cell"
    trans_id: str = xml(
        "TransId",
        doc="the payment's transaction id — 微信支付交易订单号",
        example="4200000123202311010000001234",
    )
    location_id: str = xml("LocationId", doc="the store's id — 门店 ID", example="291710")
    fee: int = xml(
        "Fee", convert=integer, default=0, doc="amount paid, fen — 实付金额,单位分", example=2000
    )
    original_fee: int = xml(
        "OriginalFee",
        convert=integer,
        default=0,
        doc="amount before discount, fen — 应付金额,单位分",
        example=2500,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserViewCardEvent(_CardEvent):
    """A user opened a member card."""

    EVENT = "user_view_card"
    outer_str: str = xml("OuterStr", doc="the channel string — 场景值", example=_OUTER_STR)


@dataclass(frozen=True, slots=True, kw_only=True)
class UserEnterSessionFromCardEvent(_CardEvent):
    """A user entered the chat from a card."""

    EVENT = "user_enter_session_from_card"


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateMemberCardEvent(_CardEvent):
    """A member card's points or balance changed."""

    EVENT = "update_member_card"
    modify_bonus: int = xml(
        "ModifyBonus", convert=integer, default=0, doc="change in points — 积分变动值", example=3
    )
    modify_balance: int = xml(
        "ModifyBalance",
        convert=integer,
        default=0,
        doc="change in balance — 余额变动值",
        example=11,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CardSkuRemindEvent(_CardEvent):
    """A card's stock is running low."""

    EVENT = "card_sku_remind"
    detail: str = xml(
        "Detail",
        doc="the reminder text — 报警详细信息",
        example="the card's quantity is equal to 0",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CardPayOrderEvent(BaseEvent):
    """A card-coin (券点) order changed."""

    EVENT = "card_pay_order"
    order_id: str = xml("OrderId", doc="the order's id — 订单号", example="404091456")
    status: str = xml(
        "Status",
        doc="ORDER_STATUS_WAITING, …_SUCC, …_FINANCE_SUCC … — 订单状态",
        example="ORDER_STATUS_FINANCE_SUCC",
    )
    create_order_time: int = xml(
        "CreateOrderTime",
        convert=integer,
        default=0,
        doc="when ordered — 购买券点时间",
        example=1700000000,
    )
    pay_finish_time: int = xml(
        "PayFinishTime",
        convert=integer,
        default=0,
        doc="when paid — 支付完成时间",
        example=1700000060,
    )
    desc: str = xml("Desc", doc="the order's description — 订单描述", example="微信支付")
    free_coin_count: str = xml("FreeCoinCount", doc="free coins — 剩余免费券点数量", example="200")
    pay_coin_count: str = xml("PayCoinCount", doc="paid coins — 剩余付费券点数量", example="0")
    refund_free_coin_count: str = xml(
        "RefundFreeCoinCount", doc="free coins refunded — 已退免费券点", example="0"
    )
    refund_pay_coin_count: str = xml(
        "RefundPayCoinCount", doc="paid coins refunded — 已退付费券点", example="0"
    )
    order_type: str = xml(
        "OrderType",
        doc="ORDER_TYPE_SYS_ADD, ORDER_TYPE_WXPAY … — 订单类型",
        example="ORDER_TYPE_WXPAY",
    )
    memo: str = xml("Memo", doc="a note — 备注", example="开通账户奖励")
    receipt_info: str = xml("ReceiptInfo", doc="invoice information — 发票信息", example="")

    @property
    def description(self) -> str:
        """desc under wechatpy's name: the order's description — 订单描述"""
        return self.desc


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMemberCardUserInfoEvent(_CardEvent):
    """A user submitted the member-card activation form."""

    EVENT = "submit_membercard_user_info"

    @property
    def card_code(self) -> str:
        """code under wechatpy's name: the member card's code — 卡券 Code 码"""
        return self.code


# Invoices (电子发票) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAuthorizeInvoiceEvent(BaseEvent):
    """A user authorized (or failed to authorize) an invoice for an order."""

    EVENT = "user_authorize_invoice"
    success_order_id: str = xml(
        "SuccOrderId", doc="授权成功的订单号 (the order authorized)", example="1202933957956"
    )
    fail_order_id: str = xml(
        "FailOrderId", doc="授权失败的订单号 (the order that failed)", example=""
    )
    app_id: str = xml(
        "AuthorizeAppId",
        fallback=(("AppId",),),
        doc="用于接收事件推送的公众号的AppId",
        example="wx2c2769f8efd9abc2",
    )
    auth_source: str = xml(
        "Source", doc="授权来源,web表示来自微信内H5,app标识来自app", example="web"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateInvoiceStatusEvent(BaseEvent):
    """An invoice's reimbursement status changed."""

    EVENT = "update_invoice_status"
    status: str = xml(
        "Status", doc="e.g. INVOICE_REIMBURSE_INIT — 发票报销状态", example="INVOICE_REIMBURSE_INIT"
    )
    card_id: str = xml("CardId", doc="发票卡券 Card ID", example="p9xBKxLJ3XT4zQ8L6k-rT2vX8mB1")
    code: str = xml("Code", doc="发票卡券 Code", example="Yb5HvnMnvQ")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitInvoiceTitleEvent(BaseEvent):
    """A user submitted an invoice title (WeChat sends these fields in lower case)."""

    EVENT = "submit_invoice_title"
    title: str = xml("title", doc="抬头 (the title)", example="深圳某某科技有限公司")
    phone: str = xml("phone", doc="联系方式 (phone)", example="0755-12345678")
    tax_no: str = xml("tax_no", doc="税号 (tax number)", example="91440300MA5DXXXXXX")
    addr: str = xml("addr", doc="地址 (address)", example="深圳市南山区科技园")
    bank_type: str = xml("bank_type", doc="银行类型 (bank)", example="招商银行")
    bank_no: str = xml("bank_no", doc="银行号码 (account number)", example="6225880000000000")
    attach: str = xml("attach", doc="附加字段 (extra data)", example="order=1024")
    title_type: str = xml(
        "title_type",
        doc="抬头类型,InvoiceUserTitlePersonType为个人抬头,InvoiceUserTitleBusinessType为公司抬头",
        example="InvoiceUserTitleBusinessType",
    )


# Product scanning (微信扫一扫) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _ProductEvent(BaseEvent):
    standard: str = xml("KeyStandard", doc="商品编码标准 (e.g. ean13, qrcode)", example="ean13")
    key: str = xml("KeyStr", doc="商品编码内容 (the product code)", example="6901234567892")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserScanProductEvent(_ProductEvent):
    """A user opened a product page."""

    EVENT = "user_scan_product"
    country: str = xml("Country", doc="用户在微信内设置的国家", example="中国")
    province: str = xml("Province", doc="用户在微信内设置的省份", example="广东")
    city: str = xml("City", doc="用户在微信内设置的城市", example="广州")
    sex: int = xml(
        "Sex", convert=integer, default=0, doc="用户的性别,1为男性,2为女性,0代表未知", example=1
    )
    scene: int = xml(
        "Scene",
        convert=integer,
        default=0,
        doc="打开商品主页的场景,1为扫码,2为其他打开场景(如会话、收藏或朋友圈)",
        example=2,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserScanProductEnterSessionEvent(_ProductEvent):
    """A user entered the chat from a product page."""

    EVENT = "user_scan_product_enter_session"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserScanProductAsyncEvent(_ProductEvent):
    """The location of a product scan, pushed later."""

    EVENT = "user_scan_product_async"
    region_code: str = xml(
        "RegionCode", doc="用户的实时地理位置信息 (a region code)", example="440105"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserScanProductVerifyActionEvent(_ProductEvent):
    """A product's review result (verify_ok or verify_not_pass)."""

    EVENT = "user_scan_product_verify_action"
    result: str = xml(
        "Result",
        doc="审核结果。verify_ok 表示审核通过,verify_not_pass 表示审核未通过",
        example="verify_not_pass",
    )
    reason: str = xml("ReasonMsg", doc="审核未通过的原因", example="商品图片不清晰")


# Legacy and niche -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PoiCheckNotifyEvent(BaseEvent):
    """A store (门店) review finished."""

    EVENT = "poi_check_notify"
    poi_id: str = xml("PoiId", doc="the store's id — 门店 ID", example="123456789")
    uniq_id: str = xml(
        "UniqId", doc="the id given when it was created — 商户自己内部 ID", example="store-001"
    )
    result: str = xml("Result", doc="succ or fail — 审核结果", example="succ")
    msg: str = xml(
        "Msg", fallback=(("msg",),), doc="the review's note — 审核备注", example="审核通过"
    )

    @property
    def message(self) -> str:
        """msg under wechatpy's name: the review's note — 审核备注"""
        return self.msg


@dataclass(frozen=True, slots=True, kw_only=True)
class WifiConnectedEvent(BaseEvent):
    """A user connected to a shop's Wi-Fi."""

    EVENT = "wificonnected"
    WIRE = ("WifiConnected",)
    connect_time: int = xml(
        "ConnectTime",
        convert=integer,
        default=0,
        doc="when connected — 连网时间",
        example=1700000000,
    )
    expire_time: int = xml(
        "ExpireTime",
        convert=integer,
        default=0,
        doc="when the connection expires — 连网过期时间",
        example=0,
    )
    vendor_id: str = xml("VendorId", doc="the vendor's id — 系统保留字段", example="3001224419")
    shop_id: str = xml("PlaceId", doc="the shop's id — 门店 ID", example="1721487")
    bssid: str = xml(
        "DeviceNo", doc="the hotspot's BSSID — 连网的设备无线 mac 地址", example="00:1f:7a:ad:5c:a8"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ShakearoundUserShakeEvent(BaseEvent):
    """A user shook near iBeacons."""

    EVENT = "shakearoundusershake"
    WIRE = ("ShakearoundUserShake",)
    chosen_beacon: XmlDict = xml(
        "ChosenBeacon",
        convert=mapping,
        default={},
        doc="{Uuid, Major, Minor, Distance} of the beacon picked — 摇到的设备",
        example={
            "Uuid": "FDA50693-A4E2-4FB1-AFCF-C6EB07647825",
            "Major": "10001",
            "Minor": "12001",
            "Distance": "0.057",
        },
    )
    around_beacons: list[XmlDict] = xml(
        "AroundBeacons",
        "AroundBeacon",
        convert=items,
        default=[],
        doc="the other beacons nearby, same shape — 周边设备列表",
        example=[
            {
                "Uuid": "FDA50693-A4E2-4FB1-AFCF-C6EB07647825",
                "Major": "10001",
                "Minor": "12002",
                "Distance": "166.816983",
            }
        ],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MerchantOrderEvent(BaseEvent):
    """An order in the old WeChat store (微信小店)."""

    EVENT = "merchant_order"
    order_id: str = xml("OrderId", doc="the order's id — 订单 ID", example="7197417460812584720")
    order_status: int = xml(
        "OrderStatus", convert=integer, default=0, doc="the order's status — 订单状态", example=2
    )
    product_id: str = xml(
        "ProductId", doc="the product's id — 商品 ID", example="pDF3iY8M3lrUxWNhKgTpvCJPq9cY"
    )
    sku_info: str = xml(
        "SkuInfo", doc="the SKU bought — 商品 SKU 信息", example="10001:1000012;10002:100021"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _DeviceEvent(BaseEvent):
    device_type: str = xml(
        "DeviceType", doc="the device's type — 设备类型", example="gh_3c8a71f0b2d4"
    )
    device_id: str = xml("DeviceID", doc="the device's id — 设备 ID", example="dev_7a4c2e")
    session_id: str = xml("SessionID", doc="the session's id — 会话 ID", example="9394")
    content_base64: str = xml(
        "Content", doc="the data as sent, base64 — 消息内容,BASE64 编码", example="aGVsbG8="
    )
    open_id: str = xml(
        "OpenID", doc="the user's OpenID — 用户的 OpenID", example="oX3kT0a7Lq9vBw2ZrYc5NfHd8sEu"
    )

    @property
    def content_bytes(self) -> bytes:
        """The data, decoded from base64; b"" when Content is not base64 (raw keeps it)."""
        try:
            return base64.b64decode(self.content_base64, validate=True)
        except (binascii.Error, ValueError):
            return b""

    @property
    def content(self) -> str:
        """The data decoded from base64 as UTF-8 text, as wechatpy reads it; bytes that are
        not UTF-8 read as U+FFFD (content_bytes has them all) — 消息内容"""
        return self.content_bytes.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceTextEvent(_DeviceEvent):
    """A hardware device sent data (MsgType device_text; Content is base64)."""

    MSG_TYPE = "device_text"
    EVENT = "device_text"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceBindEvent(_DeviceEvent):
    """A user bound a hardware device (MsgType device_event)."""

    MSG_TYPE = "device_event"
    EVENT = "bind"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceUnbindEvent(_DeviceEvent):
    """A user unbound a hardware device (MsgType device_event)."""

    MSG_TYPE = "device_event"
    EVENT = "unbind"


_OP_TYPE = "the subscription's type — 请求操作的类型"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSubscribeStatusEvent(_DeviceEvent):
    """A user subscribed to a device's status (MsgType device_event)."""

    MSG_TYPE = "device_event"
    EVENT = "subscribe_status"
    op_type: int = xml("OpType", convert=integer, default=0, doc=_OP_TYPE, example=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceUnsubscribeStatusEvent(_DeviceEvent):
    """A user unsubscribed from a device's status (MsgType device_event)."""

    MSG_TYPE = "device_event"
    EVENT = "unsubscribe_status"
    op_type: int = xml("OpType", convert=integer, default=0, doc=_OP_TYPE, example=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatusEvent(_DeviceEvent):
    """A device reported its status (MsgType device_status)."""

    MSG_TYPE = "device_status"
    EVENT = "device_status"
    op_type: int = xml("OpType", convert=integer, default=0, doc=_OP_TYPE, example=2)
    device_status: int = xml(
        "DeviceStatus", convert=integer, default=0, doc="0 offline, 1 online — 设备状态", example=1
    )
