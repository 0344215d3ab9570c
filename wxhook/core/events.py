"""Typed, frozen classes for every event push (MsgType=event), named as in the seed catalogue.

`event` is the seed's lower-case name (`subscribe_scan`, `scan`, `click`); the spelling WeChat
sent stays in `raw["Event"]`. `WIRE` lists the Event values (any case) a class is found by.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeEvent(BaseEvent):
    """A user followed the account; `key` is EventKey ("" for a plain follow)."""

    EVENT = "subscribe"
    key: str = xml("EventKey")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeScanEvent(SubscribeEvent):
    """A user followed by scanning a parametric QR code (EventKey qrscene_...)."""

    EVENT = "subscribe_scan"
    WIRE = ()
    scene_id: str = xml("EventKey", convert=_scene)
    ticket: str = xml("Ticket")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeScanProductEvent(SubscribeEvent):
    """A user followed from a product page (EventKey scanbarcode|standard|key)."""

    EVENT = "subscribe_scan_product"
    WIRE = ()
    scene: str = xml("EventKey", convert=_key_part(0))
    standard: str = xml("EventKey", convert=_key_part(1))
    key: str = xml("EventKey", convert=_key_part(2))


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeEvent(BaseEvent):
    """A user unfollowed the account."""

    EVENT = "unsubscribe"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanEvent(BaseEvent):
    """A follower scanned a parametric QR code; scene_id has no prefix."""

    EVENT = "scan"
    scene_id: str = xml("EventKey")
    ticket: str = xml("Ticket")


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationEvent(BaseEvent):
    """The user's location, reported on entering the chat."""

    EVENT = "location"
    latitude: float = xml("Latitude", convert=decimal, default=0.0)
    longitude: float = xml("Longitude", convert=decimal, default=0.0)
    precision: float = xml("Precision", convert=decimal, default=0.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClickEvent(BaseEvent):
    """A menu button of type click; `key` is the button's key."""

    EVENT = "click"
    key: str = xml("EventKey")


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewEvent(BaseEvent):
    """A menu button that opens a web page."""

    EVENT = "view"
    url: str = xml("EventKey")
    menu_id: str = xml("MenuId")


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewMiniProgramEvent(BaseEvent):
    """A menu button that opens a mini program page."""

    EVENT = "view_miniprogram"
    page_path: str = xml("EventKey")
    menu_id: str = xml("MenuId")


@dataclass(frozen=True, slots=True, kw_only=True)
class _ScanCodeEvent(BaseEvent):
    key: str = xml("EventKey")
    scan_type: str = xml("ScanCodeInfo", "ScanType")
    scan_result: str = xml("ScanCodeInfo", "ScanResult")


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
    key: str = xml("EventKey")
    count: int = xml("SendPicsInfo", "Count", convert=integer, default=0)
    pictures: list[XmlDict] = xml("SendPicsInfo", "PicList", "item", convert=items, default=[])


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
    key: str = xml("EventKey")
    location_x: float = xml("SendLocationInfo", "Location_X", convert=decimal, default=0.0)
    location_y: float = xml("SendLocationInfo", "Location_Y", convert=decimal, default=0.0)
    scale: int = xml("SendLocationInfo", "Scale", convert=integer, default=0)
    label: str = xml("SendLocationInfo", "Label")
    poiname: str = xml("SendLocationInfo", "Poiname")

    @property
    def location(self) -> tuple[float, float]:
        """(latitude, longitude)."""
        return (self.location_x, self.location_y)


# Jobs and notifications ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MassSendJobFinishEvent(BaseEvent):
    """A mass send finished; `id` is its MsgID."""

    EVENT = "masssendjobfinish"
    status: str = xml("Status")
    total_count: int = xml("TotalCount", convert=integer, default=0)
    filter_count: int = xml("FilterCount", convert=integer, default=0)
    sent_count: int = xml("SentCount", convert=integer, default=0)
    error_count: int = xml("ErrorCount", convert=integer, default=0)
    copyright_check_state: int = xml(
        "CopyrightCheckResult", "CheckState", convert=integer, default=0
    )
    copyright_results: list[XmlDict] = xml(
        "CopyrightCheckResult", "ResultList", "item", convert=items, default=[]
    )
    article_urls: list[XmlDict] = xml(
        "ArticleUrlResult", "ResultList", "item", convert=items, default=[]
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateSendJobFinishEvent(BaseEvent):
    """A template message was delivered or failed (`status`, e.g. "failed:user block")."""

    EVENT = "templatesendjobfinish"
    status: str = xml("Status")


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishJobFinishEvent(BaseEvent):
    """A publish (发布) job finished; publish_status 0 is success."""

    EVENT = "publishjobfinish"
    WIRE = ("publishjobfinish", "freepublishjobfinish")
    publish_id: int = xml("PublishEventInfo", "publish_id", convert=integer, default=0)
    publish_status: int = xml("PublishEventInfo", "publish_status", convert=integer, default=0)
    article_id: str = xml("PublishEventInfo", "article_id")
    articles: list[XmlDict] = xml(
        "PublishEventInfo", "article_detail", "item", convert=items, default=[]
    )
    fail_idx: list[int] = xml("PublishEventInfo", "fail_idx", convert=_int_list, default=[])

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


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgPopupEvent(_SubscribeMsgEvent):
    """The user answered a subscription-message prompt; one entry per template."""

    EVENT = "subscribe_msg_popup_event"
    subscribes: list[XmlDict] = xml("SubscribeMsgPopupEvent", "List", convert=items, default=[])


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
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgSentEvent(_SubscribeMsgEvent):
    """Subscription messages were sent; ErrorCode 0 in an entry means delivered."""

    EVENT = "subscribe_msg_sent_event"
    subscribes: list[XmlDict] = xml("SubscribeMsgSentEvent", "List", convert=items, default=[])


# Account verification ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _ExpiryEvent(BaseEvent):
    expired_time: int = xml("ExpiredTime", convert=integer, default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class _FailureEvent(BaseEvent):
    fail_time: int = xml("FailTime", convert=integer, default=0)
    fail_reason: str = xml("FailReason")


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


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyExpiredEvent(_ExpiryEvent):
    """The verification has expired."""

    EVENT = "verify_expired"


# User authorization changes (FromUserName is the platform; the user is OpenID) ---------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _AuthorizationEvent(BaseEvent):
    open_id: str = xml("OpenID")
    app_id: str = xml("AppID")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserInfoModifiedEvent(_AuthorizationEvent):
    """A user changed the profile data they had authorized."""

    EVENT = "user_info_modified"
    union_id: str = xml("UnionID")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAuthorizationRevokeEvent(_AuthorizationEvent):
    """A user revoked some authorizations (`revoke_info`, e.g. "201")."""

    EVENT = "user_authorization_revoke"
    revoke_info: str = xml("RevokeInfo")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAuthorizationCancellationEvent(_AuthorizationEvent):
    """A user cancelled their account's authorization."""

    EVENT = "user_authorization_cancellation"


# Customer service -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class KfCreateSessionEvent(BaseEvent):
    """A customer-service agent took a session."""

    EVENT = "kf_create_session"
    account: str = xml("KfAccount")


@dataclass(frozen=True, slots=True, kw_only=True)
class KfCloseSessionEvent(BaseEvent):
    """A customer-service session closed."""

    EVENT = "kf_close_session"
    account: str = xml("KfAccount")


@dataclass(frozen=True, slots=True, kw_only=True)
class KfSwitchSessionEvent(BaseEvent):
    """A customer-service session moved to another agent."""

    EVENT = "kf_switch_session"
    from_account: str = xml("FromKfAccount")
    to_account: str = xml("ToKfAccount")


# Cards (卡券) --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _CardEvent(BaseEvent):
    card_id: str = xml("CardId")
    code: str = xml("UserCardCode")


@dataclass(frozen=True, slots=True, kw_only=True)
class CardPassCheckEvent(_CardEvent):
    """A card passed review."""

    EVENT = "card_pass_check"
    refuse_reason: str = xml("RefuseReason")


@dataclass(frozen=True, slots=True, kw_only=True)
class CardNotPassCheckEvent(_CardEvent):
    """A card failed review."""

    EVENT = "card_not_pass_check"
    refuse_reason: str = xml("RefuseReason")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserGetCardEvent(_CardEvent):
    """A user received a card (IsGiveByFriend is WeChat's spelling)."""

    EVENT = "user_get_card"
    is_given_by_friend: int = xml("IsGiveByFriend", convert=integer, default=0)
    friend: str = xml("FriendUserName")
    old_code: str = xml("OldUserCardCode")
    outer_id: int = xml("OuterId", convert=integer, default=0)
    outer_str: str = xml("OuterStr")
    is_restore_member_card: int = xml("IsRestoreMemberCard", convert=integer, default=0)
    is_recommend_by_friend: int = xml("IsRecommendByFriend", convert=integer, default=0)
    union_id: str = xml("UnionId")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserGiftingCardEvent(_CardEvent):
    """A user gave a card to a friend."""

    EVENT = "user_gifting_card"
    is_return_back: int = xml("IsReturnBack", convert=integer, default=0)
    friend: str = xml("FriendUserName")
    is_chat_room: int = xml("IsChatRoom", convert=integer, default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class UserDeleteCardEvent(_CardEvent):
    """A user deleted a card."""

    EVENT = "user_del_card"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserConsumeCardEvent(_CardEvent):
    """A card was redeemed."""

    EVENT = "user_consume_card"
    consume_source: str = xml("ConsumeSource")
    location_name: str = xml("LocationName")
    staff_open_id: str = xml("StaffOpenId")
    verify_code: str = xml("VerifyCode")
    remark_amount: str = xml("RemarkAmount")
    outer_str: str = xml("OuterStr")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPayFromPayCellEvent(_CardEvent):
    """A user paid through a card's pay cell; fees are in fen."""

    EVENT = "user_pay_from_pay_cell"
    trans_id: str = xml("TransId")
    location_id: str = xml("LocationId")
    fee: int = xml("Fee", convert=integer, default=0)
    original_fee: int = xml("OriginalFee", convert=integer, default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class UserViewCardEvent(_CardEvent):
    """A user opened a member card."""

    EVENT = "user_view_card"
    outer_str: str = xml("OuterStr")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserEnterSessionFromCardEvent(_CardEvent):
    """A user entered the chat from a card."""

    EVENT = "user_enter_session_from_card"


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateMemberCardEvent(_CardEvent):
    """A member card's points or balance changed."""

    EVENT = "update_member_card"
    modify_bonus: int = xml("ModifyBonus", convert=integer, default=0)
    modify_balance: int = xml("ModifyBalance", convert=integer, default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class CardSkuRemindEvent(_CardEvent):
    """A card's stock is running low."""

    EVENT = "card_sku_remind"
    detail: str = xml("Detail")


@dataclass(frozen=True, slots=True, kw_only=True)
class CardPayOrderEvent(BaseEvent):
    """A card-coin (券点) order changed."""

    EVENT = "card_pay_order"
    order_id: str = xml("OrderId")
    status: str = xml("Status")
    create_order_time: int = xml("CreateOrderTime", convert=integer, default=0)
    pay_finish_time: int = xml("PayFinishTime", convert=integer, default=0)
    desc: str = xml("Desc")
    free_coin_count: str = xml("FreeCoinCount")
    pay_coin_count: str = xml("PayCoinCount")
    refund_free_coin_count: str = xml("RefundFreeCoinCount")
    refund_pay_coin_count: str = xml("RefundPayCoinCount")
    order_type: str = xml("OrderType")
    memo: str = xml("Memo")
    receipt_info: str = xml("ReceiptInfo")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMemberCardUserInfoEvent(_CardEvent):
    """A user submitted the member-card activation form."""

    EVENT = "submit_membercard_user_info"


# Invoices (电子发票) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAuthorizeInvoiceEvent(BaseEvent):
    """A user authorized (or failed to authorize) an invoice for an order."""

    EVENT = "user_authorize_invoice"
    success_order_id: str = xml("SuccOrderId")
    fail_order_id: str = xml("FailOrderId")
    app_id: str = xml("AuthorizeAppId", fallback=(("AppId",),))
    auth_source: str = xml("Source")


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateInvoiceStatusEvent(BaseEvent):
    """An invoice's reimbursement status changed."""

    EVENT = "update_invoice_status"
    status: str = xml("Status")
    card_id: str = xml("CardId")
    code: str = xml("Code")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitInvoiceTitleEvent(BaseEvent):
    """A user submitted an invoice title (WeChat sends these fields in lower case)."""

    EVENT = "submit_invoice_title"
    title: str = xml("title")
    phone: str = xml("phone")
    tax_no: str = xml("tax_no")
    addr: str = xml("addr")
    bank_type: str = xml("bank_type")
    bank_no: str = xml("bank_no")
    attach: str = xml("attach")
    title_type: str = xml("title_type")


# Product scanning (微信扫一扫) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _ProductEvent(BaseEvent):
    standard: str = xml("KeyStandard")
    key: str = xml("KeyStr")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserScanProductEvent(_ProductEvent):
    """A user opened a product page."""

    EVENT = "user_scan_product"
    country: str = xml("Country")
    province: str = xml("Province")
    city: str = xml("City")
    sex: int = xml("Sex", convert=integer, default=0)
    scene: int = xml("Scene", convert=integer, default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class UserScanProductEnterSessionEvent(_ProductEvent):
    """A user entered the chat from a product page."""

    EVENT = "user_scan_product_enter_session"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserScanProductAsyncEvent(_ProductEvent):
    """The location of a product scan, pushed later."""

    EVENT = "user_scan_product_async"
    region_code: str = xml("RegionCode")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserScanProductVerifyActionEvent(_ProductEvent):
    """A product's review result (verify_ok or verify_not_pass)."""

    EVENT = "user_scan_product_verify_action"
    result: str = xml("Result")
    reason: str = xml("ReasonMsg")


# Legacy and niche -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PoiCheckNotifyEvent(BaseEvent):
    """A store (门店) review finished."""

    EVENT = "poi_check_notify"
    poi_id: str = xml("PoiId")
    uniq_id: str = xml("UniqId")
    result: str = xml("Result")
    msg: str = xml("Msg", fallback=(("msg",),))


@dataclass(frozen=True, slots=True, kw_only=True)
class WifiConnectedEvent(BaseEvent):
    """A user connected to a shop's Wi-Fi."""

    EVENT = "wificonnected"
    connect_time: int = xml("ConnectTime", convert=integer, default=0)
    expire_time: int = xml("ExpireTime", convert=integer, default=0)
    vendor_id: str = xml("VendorId")
    shop_id: str = xml("PlaceId")
    bssid: str = xml("DeviceNo")


@dataclass(frozen=True, slots=True, kw_only=True)
class ShakearoundUserShakeEvent(BaseEvent):
    """A user shook near iBeacons."""

    EVENT = "shakearoundusershake"
    chosen_beacon: XmlDict = xml("ChosenBeacon", convert=mapping, default={})
    around_beacons: list[XmlDict] = xml("AroundBeacons", "AroundBeacon", convert=items, default=[])


@dataclass(frozen=True, slots=True, kw_only=True)
class MerchantOrderEvent(BaseEvent):
    """An order in the old WeChat store (微信小店)."""

    EVENT = "merchant_order"
    order_id: str = xml("OrderId")
    order_status: int = xml("OrderStatus", convert=integer, default=0)
    product_id: str = xml("ProductId")
    sku_info: str = xml("SkuInfo")


@dataclass(frozen=True, slots=True, kw_only=True)
class _DeviceEvent(BaseEvent):
    device_type: str = xml("DeviceType")
    device_id: str = xml("DeviceID")
    session_id: str = xml("SessionID")
    content: str = xml("Content")
    open_id: str = xml("OpenID")


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


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSubscribeStatusEvent(_DeviceEvent):
    """A user subscribed to a device's status (MsgType device_event)."""

    MSG_TYPE = "device_event"
    EVENT = "subscribe_status"
    op_type: int = xml("OpType", convert=integer, default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceUnsubscribeStatusEvent(_DeviceEvent):
    """A user unsubscribed from a device's status (MsgType device_event)."""

    MSG_TYPE = "device_event"
    EVENT = "unsubscribe_status"
    op_type: int = xml("OpType", convert=integer, default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatusEvent(_DeviceEvent):
    """A device reported its status (MsgType device_status)."""

    MSG_TYPE = "device_status"
    EVENT = "device_status"
    op_type: int = xml("OpType", convert=integer, default=0)
    device_status: int = xml("DeviceStatus", convert=integer, default=0)
