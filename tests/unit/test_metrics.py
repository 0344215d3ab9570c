"""/metrics after real traffic parses with prometheus-client and matches what was sent."""

from __future__ import annotations

import asyncio

from helpers import app, keys, msgid, post, uid
from prometheus_client.parser import text_string_to_metric_families

from wxhook import Router
from wxhook.simulator import event, message, push


def value(samples, name, **labels):
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_counters_match_the_traffic(aiohttp_client):
    router = Router()

    @router.message("text")
    async def echo(m):
        if m.content == "crash":
            raise RuntimeError("boom")
        if m.content == "slow":
            await asyncio.sleep(0.5)
        return m.content

    client = await aiohttp_client(app(router, dispatch={"deadline": 0.2}))
    for i in range(5):
        await post(client, "safe", message("text", user=uid(), Content=f"t{i}", MsgId=msgid()))
    doc = message("text", user=uid(), Content="again", MsgId=msgid())
    await post(client, "plain", doc)
    await post(client, "plain", doc)  # duplicate
    await post(client, "plain", message("text", user=uid(), Content="crash", MsgId=msgid()))
    await post(client, "plain", message("text", user=uid(), Content="slow", MsgId=msgid()))
    await post(client, "plain", event("brand_new_event", user=uid()))
    await post(client, "plain", message("hologram", user=uid(), MsgId=msgid()))
    query, body = push(keys("plain"), message("text", Content="x", MsgId=msgid()))
    await client.post("/plain", params={**query, "signature": "0" * 40}, data=body)
    await client.post("/plain", params=query, data=b"<broken")

    text = await (await client.get("/metrics")).text()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    req = "wxhook_requests_total"
    assert value(samples, req, account="safeacct", msg_type="text", outcome="replied") == 5
    assert value(samples, req, account="plainacct", outcome="replied") == 1
    assert value(samples, req, account="plainacct", outcome="duplicate") == 1
    # crash, slow (deadline), unknown event, unknown message: answered empty
    assert value(samples, req, account="plainacct", outcome="empty") == 4
    assert value(samples, req, outcome="rejected", reason="signature") == 1
    assert value(samples, req, outcome="rejected", reason="malformed") == 1
    assert value(samples, "wxhook_dedup_hits_total", account="plainacct") == 1
    assert value(samples, "wxhook_deadline_misses_total", account="plainacct") == 1
    assert value(samples, "wxhook_handler_errors_total") >= 1
    assert (
        value(samples, "wxhook_unknown_types_total", msg_type="event", event="brand_new_event") == 1
    )
    assert value(samples, "wxhook_unknown_types_total", msg_type="hologram") == 1
    assert value(samples, "wxhook_handler_seconds_count") == 7  # 5 + again + crash; slow runs on
    assert value(samples, "wxhook_background_handlers") == 1  # "slow" is still running


async def test_health_endpoints_need_no_signature(aiohttp_client):
    client = await aiohttp_client(app(Router()))
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    assert (await client.post("/healthz")).status == 405
