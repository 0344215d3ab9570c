"""examples/echo.py, through the real pipeline with wxhook.testing's `wechat` fixture."""

from examples import echo


async def test_text_comes_back(wechat):
    client = await wechat(echo.router, mode="compatible")
    assert (await client.text("你好 😀")).content == "你好 😀"
    assert (await client.text("   ")).empty  # blank text: no reply


async def test_media_comes_back_as_itself(wechat):
    client = await wechat(echo.router)
    image = await client.send("image", MediaId="IMG1")
    assert (image.msg_type, image.media_id) == ("image", "IMG1")
    voice = await client.send("voice", MediaId="VOICE1")
    assert (voice.msg_type, voice.media_id) == ("voice", "VOICE1")


async def test_location_and_the_rest(wechat):
    client = await wechat(echo.router)
    where = await client.send("location", Label="天河路", Location_X="23.1", Location_Y="113.3")
    assert where.content == "你在 天河路（23.1000, 113.3000）"
    assert (await client.send("link")).content == "收到一条 link 消息"
    assert (await client.send("subscribe")).empty  # events get no reply
