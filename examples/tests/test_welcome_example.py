"""examples/welcome.py, through the real pipeline with wxhook.testing's `wechat` fixture."""

from examples import welcome


async def test_a_follow_is_welcomed(wechat):
    client = await wechat(welcome.router, mode="safe")
    reply = await client.send("subscribe")
    assert reply.content == welcome.WELCOME


async def test_a_qr_follow_names_its_scene(wechat):
    client = await wechat(welcome.router)
    reply = await client.send("subscribe", EventKey="qrscene_poster42")
    assert reply.content == welcome.WELCOME + "\n（来自渠道 poster42）"


async def test_menu_buttons(wechat):
    client = await wechat(welcome.router)
    news = await client.click("MENU_NEWS")
    assert [a["Title"] for a in news.articles] == ["本周精选", "上周回顾"]
    assert (await client.click("MENU_CONTACT")).content.startswith("客服电话")
    assert (await client.click("MENU_SOON")).content == "这个菜单还在建设中"


async def test_other_pushes_get_no_reply(wechat):
    client = await wechat(welcome.router)
    assert (await client.send("unsubscribe")).empty
    assert (await client.text("你好")).empty
