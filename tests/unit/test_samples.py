"""Every sample push in tests/samples parses to the expected class with the expected values.

Each row is (file, class, {attribute: value}); "raw" maps to a subset of `obj.raw` that must be
kept exactly as received. Values are compared by type too, so 64-bit ids must be exact ints and
scene ids must stay strings.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from wxhook.core import ParseError, parse_message, parse_xml
from wxhook.core import events as ev
from wxhook.core import messages as m
from wxhook.core.messages import MESSAGE_CLASSES
from wxhook.core.registry import EVENT_CLASSES

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

GH = "gh_3c8a71f0b2d4"
USER = "oX3kT0a7Lq9vBw2ZrYc5NfHd8sEu"
FRIEND = "oB7pE2cR9yN4mK1vQ8sT5wZ3uJ6f"
PLATFORM = "oPF9s0Gq3mWbN2yRkT7vLcXz1aHe"
STAFF = "oT4nV8cX2bQ6mZ1kL9pR3sW7yD5h"
CARD = "pFS7Fjg8kV1IdDz01r4SQwMkuCKc"
CODE = "481726395012"
T1 = "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc"
T2 = "9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI"
BEACON_UUID = "FDA50693-A4E2-4FB1-AFCF-C6EB07647825"
DEVICE = "gh_3c8a71f0b2d4_8f2e6b1a9c4d7e05"


def msg(msg_type: str, msg_id: int, create_time: int, **attrs: Any) -> dict[str, Any]:
    """The common attributes of an ordinary message from USER to GH, plus `attrs`."""
    return {
        "id": msg_id,
        "source": USER,
        "target": GH,
        "create_time": create_time,
        "type": msg_type,
        **attrs,
    }


def evt(
    event: str,
    create_time: int,
    *,
    id: int = 0,
    source: str = USER,
    type: str = "event",
    **attrs: Any,
) -> dict[str, Any]:
    """The common attributes of an event pushed to GH, plus `attrs`."""
    return {
        "id": id,
        "source": source,
        "target": GH,
        "create_time": create_time,
        "type": type,
        "event": event,
        **attrs,
    }


def pic(md5: str) -> dict[str, str]:
    return {"PicMd5Sum": md5}


def copyright_item(idx: str, audit: str, url: str) -> dict[str, str]:
    return {
        "ArticleIdx": idx,
        "UserDeclareState": "0",
        "AuditState": audit,
        "OriginalArticleUrl": url,
        "OriginalArticleType": "1",
        "CanReprint": "1",
        "NeedReplaceContent": "1",
        "NeedShowReprintSource": "1",
    }


def beacon(minor: str, distance: str) -> dict[str, str]:
    return {"Uuid": BEACON_UUID, "Major": "10001", "Minor": minor, "Distance": distance}


def card(event: str, create_time: int, **attrs: Any) -> dict[str, Any]:
    return evt(event, create_time, card_id=CARD, code=CODE, **attrs)


def device(msg_type: str, event: str, create_time: int, **attrs: Any) -> dict[str, Any]:
    return evt(
        event,
        create_time,
        type=msg_type,
        device_type=GH,
        device_id=DEVICE,
        open_id=USER,
        **attrs,
    )


ROWS: list[tuple[str, type[m.BaseMessage], dict[str, Any]]] = [
    # Ordinary messages ---------------------------------------------------------------------
    (
        "text.xml",
        m.TextMessage,
        msg(
            "text",
            6054768590064713728,
            1700000001,
            content="你好 /::) [Happy] a<b & c>d &amp; 1 > 0",
            raw={"MsgType": "text", "MsgId": "6054768590064713728", "CreateTime": "1700000001"},
        ),
    ),
    (
        "text_control_char.xml",
        m.TextMessage,
        msg("text", 6054768590064713729, 1700000002, content="第一行😀\n第二行结束🎉"),
    ),
    (
        "text_pretty.xml",
        m.TextMessage,
        msg("text", 6054768590064713730, 1700000003, content="  两端的空格属于内容  "),
    ),
    (
        "text_bom_declaration.xml",
        m.TextMessage,
        msg("text", 6054768590064713731, 1700000004, content="带声明和BOM的消息"),
    ),
    (
        "image.xml",
        m.ImageMessage,
        msg(
            "image",
            6054768590064713740,
            1700000010,
            image="http://mmbiz.qpic.cn/mmbiz_jpg/Qx3rTzV8cNWbA1kL0pYdE7fH2sJ9uM4g/0",
            media_id="Kd8sP2vLq0ZxT7nB3mRfY5cW9hJ1gA6eU4oI_rN-tQ2wXyVbC8kM0lS3dF7pH9jG",
        ),
    ),
    (
        "voice.xml",
        m.VoiceMessage,
        msg(
            "voice",
            6054768590064713741,
            1700000011,
            media_id="vM3kQ8pZ1tR6nW0xL4cB9sY2hF7dJ5gA-eU3oI_rN8tQ",
            format="amr",
            media_id_16k="vM3kQ8pZ1tR6nW0xL4cB9sY2hF7dJ5gA-16k_rN8tQ",
            recognition="",
        ),
    ),
    (
        "video.xml",
        m.VideoMessage,
        msg(
            "video",
            6054768590064713742,
            1700000012,
            media_id="Vd2nL8qX5tR0mW3zK7cB1sY9hF4dJ6gA",
            thumb_media_id="Th9aP3vK7nQ1zX5cL2mR8sW0yB4dF6gJ",
        ),
    ),
    (
        "shortvideo.xml",
        m.ShortVideoMessage,
        msg(
            "shortvideo",
            6054768590064713743,
            1700000013,
            media_id="Sv5tN1qW8zX3cL6mR0kB4sY7hF2dJ9gA",
            thumb_media_id="St1bP6vK2nQ9zX4cL7mR3sW5yB8dF0gJ",
        ),
    ),
    (
        "location.xml",
        m.LocationMessage,
        msg(
            "location",
            6054768590064713744,
            1700000014,
            location_x=23.134521,
            location_y=113.358803,
            location=(23.134521, 113.358803),
            scale=20,
            label="广东省广州市天河区体育西路",
            raw={"Location_X": "23.134521", "Scale": "20"},
        ),
    ),
    (
        "link.xml",
        m.LinkMessage,
        msg(
            "link",
            6054768590064713745,
            1700000015,
            title="公众号开发笔记",
            description="回调、签名与加解密",
            url="https://mp.weixin.qq.com/s/Qm8xT3vLp0ZrB7nK2cWfYd",
        ),
    ),
    (
        "miniprogrampage.xml",
        m.MiniProgramPageMessage,
        msg(
            "miniprogrampage",
            6054768590064713746,
            1700000016,
            app_id="wx5f2b8c1d9e3a7064",
            title="今日特价",
            page_path="pages/goods/detail?id=1024",
            thumb_url="http://mmbiz.qpic.cn/mmbiz_png/Tn4cK8pQ2vX6zL0mR3sW/0",
            thumb_media_id="Mp7qW2zX9cL4mR1kB6sY3hF8dJ0gA5tN",
        ),
    ),
    (
        "file.xml",
        m.UnknownMessage,
        msg(
            "file",
            6054768590064713747,
            1700000017,
            raw={
                "MsgType": "file",
                "Title": "报价单.xlsx",
                "FileKey": "Fk3nQ8zX1cL6mR0kB4sY",
                "FileTotalLen": "24883",
            },
        ),
    ),
    # Follow / QR / location / menus --------------------------------------------------------
    ("event_subscribe.xml", ev.SubscribeEvent, evt("subscribe", 1700000100, key="")),
    (
        "event_subscribe_empty_key.xml",
        ev.SubscribeEvent,
        evt("subscribe", 1700000101, key="", raw={"EventKey": ""}),
    ),
    (
        "event_subscribe_qrscene.xml",
        ev.SubscribeScanEvent,
        evt(
            "subscribe_scan",
            1700000102,
            key="qrscene_spring_campaign",
            scene_id="spring_campaign",
            ticket="gQFe8DwAAAAAAAAAAS5odHRwOi8vd2VpeGluLnFxLmNvbS9xLzAyWGs3TjE",
            raw={"Event": "subscribe", "EventKey": "qrscene_spring_campaign"},
        ),
    ),
    (
        "event_subscribe_scanbarcode.xml",
        ev.SubscribeScanProductEvent,
        evt(
            "subscribe_scan_product",
            1700000103,
            scene="scanbarcode",
            standard="ean13",
            key="6901234567892",
            raw={"Event": "subscribe", "EventKey": "scanbarcode|ean13|6901234567892"},
        ),
    ),
    ("event_unsubscribe.xml", ev.UnsubscribeEvent, evt("unsubscribe", 1700000104)),
    (
        "event_SCAN.xml",
        ev.ScanEvent,
        evt(
            "scan",
            1700000105,
            scene_id="4200",
            ticket="gQHj7zwAAAAAAAAAAS5odHRwOi8vd2VpeGluLnFxLmNvbS9xLzAyN2tYcTA",
            raw={"Event": "SCAN", "EventKey": "4200"},
        ),
    ),
    (
        "event_LOCATION.xml",
        ev.LocationEvent,
        evt(
            "location",
            1700000106,
            latitude=23.137466,
            longitude=113.352425,
            precision=119.38504,
            raw={"Event": "LOCATION", "Precision": "119.385040"},
        ),
    ),
    (
        "event_CLICK.xml",
        ev.ClickEvent,
        evt("click", 1700000107, key="MENU_TODAY_NEWS", raw={"Event": "CLICK"}),
    ),
    (
        "event_VIEW.xml",
        ev.ViewEvent,
        evt(
            "view",
            1700000108,
            url="https://shop.example.cn/m/index.html?from=menu",
            menu_id="416934721",
            raw={"Event": "VIEW"},
        ),
    ),
    (
        "event_view_miniprogram.xml",
        ev.ViewMiniProgramEvent,
        evt("view_miniprogram", 1700000109, page_path="pages/index/index", menu_id="416934722"),
    ),
    (
        "event_scancode_push.xml",
        ev.ScanCodePushEvent,
        evt(
            "scancode_push",
            1700000110,
            key="MENU_SCAN_PUSH",
            scan_type="qrcode",
            scan_result="https://example.cn/t/7Hq2",
        ),
    ),
    (
        "event_scancode_waitmsg.xml",
        ev.ScanCodeWaitMsgEvent,
        evt(
            "scancode_waitmsg",
            1700000111,
            key="MENU_SCAN_WAIT",
            scan_type="barcode",
            scan_result="EAN_13,6901234567892",
            raw={"ScanCodeInfo": {"ScanType": "barcode", "ScanResult": "EAN_13,6901234567892"}},
        ),
    ),
    (
        "event_pic_sysphoto.xml",
        ev.PicSysPhotoEvent,
        evt(
            "pic_sysphoto",
            1700000112,
            key="MENU_CAMERA",
            count=1,
            pictures=[pic("1b5f7c23b5bf75682a53e7b6d163e185")],
        ),
    ),
    (
        "event_pic_photo_or_album.xml",
        ev.PicPhotoOrAlbumEvent,
        evt(
            "pic_photo_or_album",
            1700000113,
            key="MENU_ALBUM",
            count=3,
            pictures=[
                pic("5a75aaca956d97be686719218f275c6b"),
                pic("8e1a2c7f0b9d4e6a3c5b7d9f1e2a4c6b"),
                pic("c0ffee00d15ea5e0badc0de0f00dfeed"),
            ],
        ),
    ),
    (
        "event_pic_weixin.xml",
        ev.PicWeChatEvent,
        evt(
            "pic_weixin",
            1700000114,
            key="MENU_WX_ALBUM",
            count=2,
            pictures=[
                pic("0f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c"),
                pic("9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f"),
            ],
        ),
    ),
    (
        "event_location_select.xml",
        ev.LocationSelectEvent,
        evt(
            "location_select",
            1700000115,
            key="MENU_LOCATION",
            location_x=23.104105,
            location_y=113.320107,
            location=(23.104105, 113.320107),
            scale=15,
            label="广州市海珠区新港中路 397号",
            poiname="",
        ),
    ),
    # Jobs and notifications ----------------------------------------------------------------
    (
        "event_MASSSENDJOBFINISH.xml",
        ev.MassSendJobFinishEvent,
        evt(
            "masssendjobfinish",
            1700000200,
            id=1000001625,
            status="err(30003)",
            total_count=12830,
            filter_count=12800,
            sent_count=12795,
            error_count=5,
            copyright_check_state=2,
            copyright_results=[
                copyright_item("1", "2", "http://mp.weixin.qq.com/s/Orig1xYz"),
                copyright_item("2", "1", "http://mp.weixin.qq.com/s/Orig2aBc"),
            ],
            article_urls=[{"ArticleIdx": "1", "ArticleUrl": "http://mp.weixin.qq.com/s/Mass1Art"}],
            raw={"Event": "MASSSENDJOBFINISH", "MsgID": "1000001625"},
        ),
    ),
    (
        "event_MASSSENDJOBFINISH_empty_results.xml",
        ev.MassSendJobFinishEvent,
        evt(
            "masssendjobfinish",
            1700000201,
            id=3147483654,
            status="send success",
            total_count=2,
            filter_count=2,
            sent_count=2,
            error_count=0,
            copyright_check_state=1,
            copyright_results=[],
            article_urls=[],
        ),
    ),
    (
        "event_TEMPLATESENDJOBFINISH.xml",
        ev.TemplateSendJobFinishEvent,
        evt(
            "templatesendjobfinish",
            1700000202,
            id=3487542469355618313,
            status="failed:user block",
            raw={"Event": "TEMPLATESENDJOBFINISH"},
        ),
    ),
    (
        "event_PUBLISHJOBFINISH.xml",
        ev.PublishJobFinishEvent,
        evt(
            "publishjobfinish",
            1700000203,
            publish_id=2247503051,
            publish_status=0,
            article_id="Hk2Wq7PzR0vX9cL4mT1sB8nY3fJ6dG5a-eU0oI_rN2tQ",
            articles=[
                {"idx": "1", "article_url": "https://mp.weixin.qq.com/s/Pub1aB2cD3"},
                {"idx": "2", "article_url": "https://mp.weixin.qq.com/s/Pub2eF4gH5"},
            ],
            fail_idx=[],
            raw={"Event": "PUBLISHJOBFINISH"},
        ),
    ),
    (
        "event_PUBLISHJOBFINISH_fail.xml",
        ev.PublishJobFinishEvent,
        evt(
            "publishjobfinish",
            1700000204,
            publish_id=5000000000000000123,
            publish_status=2,
            article_id="",
            articles=[],
            fail_idx=[1, 3],
        ),
    ),
    (
        "event_FREEPUBLISHJOBFINISH.xml",
        ev.PublishJobFinishEvent,
        evt(
            "publishjobfinish",
            1700000205,
            publish_id=2247503052,
            publish_status=4,
            article_id="Ff9aK3pL7qR1vX5cM2tB6nY0sJ8dG4hW",
            articles=[{"idx": "1", "article_url": "https://mp.weixin.qq.com/s/Free1xY"}],
            fail_idx=[1],
            raw={"Event": "FREEPUBLISHJOBFINISH"},
        ),
    ),
    (
        "event_MASSSENDJOBFINISH_publish.xml",
        ev.PublishJobFinishEvent,
        evt(
            "publishjobfinish",
            1700000206,
            publish_id=2247503053,
            publish_status=0,
            article_id="Ms7bN2qW5zX8cL1mR4kT0sY6hF3dJ9gA",
            articles=[{"idx": "1", "article_url": "https://mp.weixin.qq.com/s/Mspub1Q"}],
            fail_idx=[],
            raw={"Event": "MASSSENDJOBFINISH"},
        ),
    ),
    (
        "event_subscribe_msg_popup_event.xml",
        ev.SubscribeMsgPopupEvent,
        evt(
            "subscribe_msg_popup_event",
            1700000210,
            subscribes=[{"TemplateId": T1, "SubscribeStatusString": "accept", "PopupScene": "2"}],
        ),
    ),
    (
        "event_subscribe_msg_popup_event_two.xml",
        ev.SubscribeMsgPopupEvent,
        evt(
            "subscribe_msg_popup_event",
            1700000211,
            subscribes=[
                {"TemplateId": T1, "SubscribeStatusString": "accept", "PopupScene": "1"},
                {"TemplateId": T2, "SubscribeStatusString": "reject", "PopupScene": "1"},
            ],
        ),
    ),
    (
        "event_subscribe_msg_change_event.xml",
        ev.SubscribeMsgChangeEvent,
        evt(
            "subscribe_msg_change_event",
            1700000212,
            subscribes=[{"TemplateId": T2, "SubscribeStatusString": "reject"}],
        ),
    ),
    (
        "event_subscribe_msg_change_event_proper.xml",
        ev.SubscribeMsgChangeEvent,
        evt(
            "subscribe_msg_change_event",
            1700000213,
            subscribes=[{"TemplateId": T1, "SubscribeStatusString": "reject"}],
        ),
    ),
    (
        "event_subscribe_msg_sent_event.xml",
        ev.SubscribeMsgSentEvent,
        evt(
            "subscribe_msg_sent_event",
            1700000214,
            subscribes=[
                {
                    "TemplateId": T1,
                    "MsgID": "1700827132819554304",
                    "ErrorCode": "0",
                    "ErrorStatus": "success",
                }
            ],
        ),
    ),
    # Account verification -------------------------------------------------------------------
    (
        "event_qualification_verify_success.xml",
        ev.QualificationVerifySuccessEvent,
        evt("qualification_verify_success", 1700000300, expired_time=1731536300),
    ),
    (
        "event_qualification_verify_fail.xml",
        ev.QualificationVerifyFailEvent,
        evt(
            "qualification_verify_fail",
            1700000301,
            fail_time=1700000301,
            fail_reason="营业执照信息与主体不一致",
        ),
    ),
    (
        "event_naming_verify_success.xml",
        ev.NamingVerifySuccessEvent,
        evt("naming_verify_success", 1700000302, expired_time=1731536302),
    ),
    (
        "event_naming_verify_fail.xml",
        ev.NamingVerifyFailEvent,
        evt("naming_verify_fail", 1700000303, fail_time=1700000303, fail_reason="名称涉嫌侵权"),
    ),
    (
        "event_annual_renew.xml",
        ev.AnnualRenewEvent,
        evt("annual_renew", 1700000304, expired_time=1702592304),
    ),
    (
        "event_verify_expired.xml",
        ev.VerifyExpiredEvent,
        evt("verify_expired", 1700000305, expired_time=1700000000),
    ),
    # User authorization changes: the platform sends, the user is OpenID --------------------
    (
        "event_user_info_modified.xml",
        ev.UserInfoModifiedEvent,
        evt(
            "user_info_modified",
            1700000400,
            source=PLATFORM,
            open_id=USER,
            app_id="wx8c1e4f7a2b5d9036",
            union_id="oU7mA2pQ9xL4cR1vK6sB3nY8tZ0fH5dW",
        ),
    ),
    (
        "event_user_authorization_revoke.xml",
        ev.UserAuthorizationRevokeEvent,
        evt(
            "user_authorization_revoke",
            1700000401,
            source=PLATFORM,
            open_id=USER,
            app_id="wx8c1e4f7a2b5d9036",
            revoke_info="201",
        ),
    ),
    (
        "event_user_authorization_cancellation.xml",
        ev.UserAuthorizationCancellationEvent,
        evt(
            "user_authorization_cancellation",
            1700000402,
            source=PLATFORM,
            open_id=USER,
            app_id="wx8c1e4f7a2b5d9036",
        ),
    ),
    # Customer service ----------------------------------------------------------------------
    (
        "event_kf_create_session.xml",
        ev.KfCreateSessionEvent,
        evt("kf_create_session", 1700000500, account="kf2001@gh_3c8a71f0b2d4"),
    ),
    (
        "event_kf_close_session.xml",
        ev.KfCloseSessionEvent,
        evt("kf_close_session", 1700000501, account="kf2001@gh_3c8a71f0b2d4"),
    ),
    (
        "event_kf_switch_session.xml",
        ev.KfSwitchSessionEvent,
        evt(
            "kf_switch_session",
            1700000502,
            from_account="kf2001@gh_3c8a71f0b2d4",
            to_account="kf2002@gh_3c8a71f0b2d4",
        ),
    ),
    # Cards ---------------------------------------------------------------------------------
    (
        "event_card_pass_check.xml",
        ev.CardPassCheckEvent,
        evt("card_pass_check", 1700000600, card_id=CARD, code="", refuse_reason=""),
    ),
    (
        "event_card_not_pass_check.xml",
        ev.CardNotPassCheckEvent,
        evt(
            "card_not_pass_check",
            1700000601,
            card_id=CARD,
            code="",
            refuse_reason="卡券使用说明不清晰",
        ),
    ),
    (
        "event_user_get_card.xml",
        ev.UserGetCardEvent,
        card(
            "user_get_card",
            1700000602,
            is_given_by_friend=1,
            friend=FRIEND,
            old_code="481726395000",
            outer_id=0,
            outer_str="spring_fair",
            is_restore_member_card=0,
            is_recommend_by_friend=1,
            union_id="oU7mA2pQ9xL4cR1vK6sB3nY8tZ0fH5dW",
            raw={"IsGiveByFriend": "1"},
        ),
    ),
    (
        "event_user_gifting_card.xml",
        ev.UserGiftingCardEvent,
        card("user_gifting_card", 1700000603, is_return_back=0, friend=FRIEND, is_chat_room=1),
    ),
    ("event_user_del_card.xml", ev.UserDeleteCardEvent, card("user_del_card", 1700000604)),
    (
        "event_user_consume_card.xml",
        ev.UserConsumeCardEvent,
        card(
            "user_consume_card",
            1700000605,
            consume_source="FROM_MOBILE_HELPER",
            location_name="天河城店",
            staff_open_id=STAFF,
            verify_code="830271",
            remark_amount="38.50",
            outer_str="pos_07",
        ),
    ),
    (
        "event_user_pay_from_pay_cell.xml",
        ev.UserPayFromPayCellEvent,
        card(
            "user_pay_from_pay_cell",
            1700000606,
            trans_id="4200001985202311150123456789",
            location_id="291710545",
            fee=2800,
            original_fee=3500,
        ),
    ),
    (
        "event_user_view_card.xml",
        ev.UserViewCardEvent,
        card("user_view_card", 1700000607, outer_str="menu_card"),
    ),
    (
        "event_user_enter_session_from_card.xml",
        ev.UserEnterSessionFromCardEvent,
        card("user_enter_session_from_card", 1700000608),
    ),
    (
        "event_update_member_card.xml",
        ev.UpdateMemberCardEvent,
        card("update_member_card", 1700000609, modify_bonus=120, modify_balance=-3500),
    ),
    (
        "event_card_sku_remind.xml",
        ev.CardSkuRemindEvent,
        evt(
            "card_sku_remind",
            1700000610,
            card_id=CARD,
            code="",
            detail="the card's quantity is equal to 0",
        ),
    ),
    (
        "event_card_pay_order.xml",
        ev.CardPayOrderEvent,
        evt(
            "card_pay_order",
            1700000611,
            order_id="100000000019000201",
            status="ORDER_STATUS_FINANCE_SUCC",
            create_order_time=1700000500,
            pay_finish_time=1700000560,
            desc="充值券点",
            free_coin_count="200",
            pay_coin_count="1000",
            refund_free_coin_count="0",
            refund_pay_coin_count="0",
            order_type="ORDER_TYPE_WXPAY",
            memo="季度充值",
            receipt_info="增值税普通发票",
        ),
    ),
    (
        "event_submit_membercard_user_info.xml",
        ev.SubmitMemberCardUserInfoEvent,
        card("submit_membercard_user_info", 1700000612),
    ),
    # Invoices ------------------------------------------------------------------------------
    (
        "event_user_authorize_invoice.xml",
        ev.UserAuthorizeInvoiceEvent,
        evt(
            "user_authorize_invoice",
            1700000700,
            success_order_id="INV20231115000123",
            fail_order_id="",
            app_id="wx2d7c5e9b1a4f8036",
            auth_source="web",
            raw={"AppId": "wx2d7c5e9b1a4f8036"},
        ),
    ),
    (
        "event_user_authorize_invoice_authorize_app_id.xml",
        ev.UserAuthorizeInvoiceEvent,
        evt(
            "user_authorize_invoice",
            1700000701,
            success_order_id="",
            fail_order_id="INV20231115000124",
            app_id="wx6a1d3f8c2e5b7094",
            auth_source="app",
        ),
    ),
    (
        "event_update_invoice_status.xml",
        ev.UpdateInvoiceStatusEvent,
        evt(
            "update_invoice_status",
            1700000702,
            status="INVOICE_REIMBURSE_INIT",
            card_id="pjZ8Yt1XGMDpr9zEH0aB3fQ6nKcS",
            code="030102487213",
        ),
    ),
    (
        "event_submit_invoice_title.xml",
        ev.SubmitInvoiceTitleEvent,
        evt(
            "submit_invoice_title",
            1700000703,
            title="广州示例科技有限公司",
            phone="020-38881234",
            tax_no="91440101MA5C8XYZ0K",
            addr="广州市天河区珠江新城",
            bank_type="招商银行",
            bank_no="6225880212345678",
            attach="",
            title_type="InvoiceUserTitleBusinessType",
        ),
    ),
    # Product scanning ----------------------------------------------------------------------
    (
        "event_user_scan_product.xml",
        ev.UserScanProductEvent,
        evt(
            "user_scan_product",
            1700000800,
            standard="ean13",
            key="6901234567892",
            country="中国",
            province="广东",
            city="广州",
            sex=2,
            scene=1,
            raw={"ExtInfo": "batch_2023"},
        ),
    ),
    (
        "event_user_scan_product_enter_session.xml",
        ev.UserScanProductEnterSessionEvent,
        evt("user_scan_product_enter_session", 1700000801, standard="qrcode", key="SHELF_0042"),
    ),
    (
        "event_user_scan_product_async.xml",
        ev.UserScanProductAsyncEvent,
        evt(
            "user_scan_product_async",
            1700000802,
            standard="ean13",
            key="6901234567892",
            region_code="440106",
        ),
    ),
    (
        "event_user_scan_product_verify_action.xml",
        ev.UserScanProductVerifyActionEvent,
        evt(
            "user_scan_product_verify_action",
            1700000803,
            standard="ean13",
            key="6901234567892",
            result="verify_not_pass",
            reason="商品图片不清晰",
        ),
    ),
    # Legacy and niche ----------------------------------------------------------------------
    (
        "event_poi_check_notify.xml",
        ev.PoiCheckNotifyEvent,
        evt(
            "poi_check_notify",
            1700000900,
            poi_id="465120348",
            uniq_id="store_tianhe_01",
            result="fail",
            msg="门店图片与实际不符",
            raw={"msg": "门店图片与实际不符"},
        ),
    ),
    (
        "event_WifiConnected.xml",
        ev.WifiConnectedEvent,
        evt(
            "wificonnected",
            1700000901,
            connect_time=1700000890,
            expire_time=0,
            vendor_id="3001224419",
            shop_id="1754603",
            bssid="00:1f:7a:ad:5c:a8",
            raw={"Event": "WifiConnected"},
        ),
    ),
    (
        "event_ShakearoundUserShake.xml",
        ev.ShakearoundUserShakeEvent,
        evt(
            "shakearoundusershake",
            1700000902,
            chosen_beacon=beacon("12001", "0.057"),
            around_beacons=[beacon("12002", "166.816983"), beacon("12003", "15.013")],
            raw={"Event": "ShakearoundUserShake"},
        ),
    ),
    (
        "event_merchant_order.xml",
        ev.MerchantOrderEvent,
        evt(
            "merchant_order",
            1700000903,
            order_id="13928743195210947",
            order_status=2,
            product_id="pDF3iY8fK2vX7cL0mR4sW9nB1tQ6",
            sku_info="10001:1000012;10002:1000021",
        ),
    ),
    (
        "event_debug_demo.xml",
        ev.UnknownEvent,
        evt("debug_demo", 1700000904, raw={"Event": "debug_demo"}),
    ),
    # Hardware devices ----------------------------------------------------------------------
    (
        "device_text.xml",
        ev.DeviceTextEvent,
        device(
            "device_text",
            "device_text",
            1700001000,
            id=6054768590064713800,
            session_id="8713",
            content_base64="aGVsbG8gZGV2aWNl",
            content="hello device",
        ),
    ),
    (
        "device_event_bind.xml",
        ev.DeviceBindEvent,
        device(
            "device_event",
            "bind",
            1700001001,
            session_id="8714",
            content_base64="YmluZA==",
            content="bind",
            raw={"MsgType": "device_event", "Event": "bind"},
        ),
    ),
    (
        "device_event_unbind.xml",
        ev.DeviceUnbindEvent,
        device(
            "device_event",
            "unbind",
            1700001002,
            session_id="8715",
            content_base64="dW5iaW5k",
            content="unbind",
        ),
    ),
    (
        "device_event_subscribe_status.xml",
        ev.DeviceSubscribeStatusEvent,
        device(
            "device_event",
            "subscribe_status",
            1700001003,
            op_type=1,
            session_id="",
            content_base64="",
            content="",
        ),
    ),
    (
        "device_event_unsubscribe_status.xml",
        ev.DeviceUnsubscribeStatusEvent,
        device(
            "device_event",
            "unsubscribe_status",
            1700001004,
            op_type=0,
            session_id="",
            content_base64="",
            content="",
        ),
    ),
    (
        "device_status.xml",
        ev.DeviceStatusEvent,
        device(
            "device_status",
            "device_status",
            1700001005,
            device_status=1,
            op_type=1,
            session_id="",
            content_base64="",
            content="",
        ),
    ),
]


def _load(filename: str) -> m.BaseMessage:
    return parse_message(parse_xml((SAMPLES / filename).read_bytes()))


@pytest.mark.parametrize(
    ("filename", "expected_class", "expected"),
    [pytest.param(*row, id=row[0]) for row in ROWS],
)
def test_sample_parses(
    filename: str, expected_class: type[m.BaseMessage], expected: dict[str, Any]
) -> None:
    obj = _load(filename)
    assert type(obj) is expected_class
    for attr, want in expected.items():
        if attr == "raw":
            for name, value in want.items():
                assert obj.raw[name] == value, f"raw[{name!r}]"
            continue
        got = getattr(obj, attr)
        assert type(got) is type(want), f"{attr}: {type(got).__name__} {got!r}"
        assert got == want, attr


def test_every_class_has_a_sample() -> None:
    covered = {cls for _, cls, _ in ROWS}
    wanted = {*MESSAGE_CLASSES, *EVENT_CLASSES, m.UnknownMessage, ev.UnknownEvent}
    missing = sorted(cls.__name__ for cls in wanted - covered)
    assert not missing, f"classes without a sample: {missing}"


def test_every_attribute_is_checked() -> None:
    checked: dict[type, set[str]] = {}
    for _, cls, expected in ROWS:
        checked.setdefault(cls, set()).update(expected)
    for cls, names in checked.items():
        fields = {f.name for f in dataclasses.fields(cls)} - {"raw"}
        if hasattr(cls, "location"):
            fields.add("location")
        unchecked = sorted(fields - names)
        assert not unchecked, f"{cls.__name__}: attributes never checked: {unchecked}"


def test_every_sample_file_is_used() -> None:
    on_disk = {p.name for p in SAMPLES.glob("*.xml")}
    in_rows = [name for name, _, _ in ROWS]
    assert len(in_rows) == len(set(in_rows)), "a sample appears in two rows"
    assert sorted(on_disk - set(in_rows)) == []
    assert sorted(set(in_rows) - on_disk) == []


def test_samples_have_the_hard_shapes() -> None:
    # The edge cases the table relies on must really be in the files, byte for byte.
    assert b"\x1d" in (SAMPLES / "text_control_char.xml").read_bytes()
    assert (SAMPLES / "text_bom_declaration.xml").read_bytes().startswith(b"\xef\xbb\xbf<?xml ")
    assert b"\n        <![CDATA[" in (SAMPLES / "text_pretty.xml").read_bytes()
    assert (
        b"<ResultList></ResultList>"
        in (SAMPLES / "event_MASSSENDJOBFINISH_empty_results.xml").read_bytes()
    )
    assert b"<Event>" not in (SAMPLES / "device_text.xml").read_bytes()


def test_the_class_cache_by_type_as_sent_agrees_with_the_full_lookup():
    """message_class caches (MsgType, Event) as sent; the class found must be the one the full
    lookup finds for every sample, before and after the cache is warm, refinements included."""
    from wxhook.core import registry

    samples = sorted(SAMPLES.rglob("*.xml"))
    assert samples
    for _ in range(2):  # cold, then warm
        for path in samples:
            try:
                raw = parse_xml(path.read_bytes())
            except ParseError:  # hostile samples: not pushes at all
                continue
            if "MsgType" in raw:
                assert registry.message_class(raw) is registry._message_class(raw), path
    subscribe = {"MsgType": "event", "Event": "subscribe", "EventKey": ""}
    assert registry.message_class(subscribe) is ev.SubscribeEvent
    scan = subscribe | {"EventKey": "qrscene_42"}
    assert registry.message_class(scan) is ev.SubscribeScanEvent  # refined, never cached
    assert ("event", "subscribe") not in registry._AS_SENT
    assert registry.message_class({"MsgType": "event", "Event": "CLICK"}) is ev.ClickEvent
    assert registry._AS_SENT["event", "CLICK"] is ev.ClickEvent
