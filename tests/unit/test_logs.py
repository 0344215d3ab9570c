"""Log lines: one record is one line, whatever a push put into its fields; JSON when asked."""

from __future__ import annotations

import json
import logging
import time

import pytest

from wxhook.core import parse_message, parse_xml
from wxhook.logs import JsonFormatter, TextFormatter
from wxhook.metrics import MAX_UNKNOWN_LABELS, Metrics
from wxhook.simulator import event, message


def record(fields):
    r = logging.LogRecord("wxhook.access", logging.INFO, __file__, 1, "callback", None, None)
    r.fields = fields
    return r


def test_text_lines_quote_values_that_could_forge_fields():
    line = TextFormatter().format(record({"event": "x\nFAKE outcome=replied", "type": "text"}))
    assert "\n" not in line
    assert 'event="x\\nFAKE outcome=replied" type=text' in line


def test_json_lines_carry_the_fields():
    out = json.loads(JsonFormatter().format(record({"account": "main", "latency_ms": 1.5})))
    assert out["msg"] == "callback" and out["account"] == "main" and out["latency_ms"] == 1.5


def test_unknown_type_labels_are_bounded():
    metrics = Metrics()
    labels = {
        metrics.observe_type(parse_message(parse_xml(event(f"new_event_{i}"))))
        for i in range(MAX_UNKNOWN_LABELS + 50)
    }
    assert len(labels) == MAX_UNKNOWN_LABELS + 1 and ("other", "other") in labels
    known = parse_message(parse_xml(message("text", Content="x")))
    assert metrics.observe_type(known) == ("text", "")


def test_batching_handler_writes_whole_lines_in_few_writes():
    import os

    from wxhook.logs import BatchingHandler

    read, write = os.pipe()
    handler = BatchingHandler(write, interval=3600)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("wxhook.test.batching")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for i in range(5):
        logger.info("line %d", i)
    os.set_blocking(read, False)
    with pytest.raises(BlockingIOError):  # nothing written yet: no write per line
        os.read(read, 65536)
    logger.warning("now")  # a warning goes out at once, with what came before it
    out = os.read(read, 65536).decode()
    assert [line.split(" ", 4)[-1] for line in out.splitlines()] == [
        *(f"line {i}" for i in range(5)),
        "now",
    ]
    long = "x" * 3000
    for _ in range(3):
        logger.info(long)
    handler.flush()
    chunks = []
    while True:
        try:
            chunks.append(os.read(read, 65536))
        except BlockingIOError:
            break
    assert all(c.endswith(b"\n") for c in chunks)  # each write ends on a line
    assert b"".join(chunks).count(long.encode()) == 3
    os.close(read)
    os.close(write)


@pytest.mark.parametrize("formatter", [TextFormatter, JsonFormatter])
def test_the_fast_callback_line_is_the_line_logging_writes(formatter):
    import os

    from wxhook.logs import BatchingHandler, FastLine

    fields = {"account": "main", "type": "text", "event": 'x "y"\nz', "handlers": 2, "ms": 1.5}
    read, write = os.pipe()
    handler = BatchingHandler(write, interval=3600)
    handler.setFormatter(formatter())
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        logger = logging.getLogger("wxhook.test.fastline")
        FastLine(logger).info("callback", fields)  # straight to the handler
        logger.info("callback", extra={"fields": fields})  # through logging
        handler.flush()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    os.set_blocking(read, False)
    fast, slow = os.read(read, 65536).decode().splitlines()
    os.close(read)
    os.close(write)
    if formatter is JsonFormatter:
        fast_obj, slow_obj = json.loads(fast), json.loads(slow)
        assert fast_obj.pop("ts")[:19] == slow_obj.pop("ts")[:19]
        assert fast_obj == slow_obj
    else:
        assert fast.split(" ", 2)[2] == slow.split(" ", 2)[2]  # all but the time
        assert fast.split(" ")[0] == slow.split(" ")[0]  # the same date


def test_the_fast_callback_line_goes_through_logging_when_logging_is_not_ours(caplog):
    from wxhook.logs import FastLine

    with caplog.at_level(logging.INFO, logger="wxhook.test.fastline2"):
        FastLine(logging.getLogger("wxhook.test.fastline2")).info("callback", {"account": "m"})
    assert [r.fields for r in caplog.records] == [{"account": "m"}]


def test_the_fast_line_without_fields_has_no_trailing_space():
    line = TextFormatter().line("wxhook.access", "INFO", "callback", {})
    assert line.endswith(" INFO wxhook.access callback")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text(st.sampled_from(" \"'=\t\n\x00\x1f\x7f\x85\xa0\u200b\u2028\u3000ab:_-.你")),
    )
)
def test_values_are_quoted_exactly_when_the_plain_pattern_refuses_them(text):
    from wxhook.logs import _PLAIN, _value

    assert _value(text) == (
        text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)
    )


def test_the_time_stamp_follows_the_clock_through_its_caches():
    formatter = TextFormatter()
    base = 1_700_000_000.0  # whole second: the cached seconds and milliseconds both change

    def expected(t: float) -> str:
        seconds = time.strftime("%Y-%m-%d %H:%M:%S", formatter.converter(t))
        return f"{seconds},{int((t - int(t)) * 1000):03d}"

    for t in (base, base + 0.0004, base + 0.0014, base + 0.9995, base + 1.0, base + 0.5, base + 61):
        assert formatter.stamp(t) == expected(t), t


def test_repeated_values_render_the_same_from_the_memo_and_unique_ones_are_not_kept():
    formatter = TextFormatter()
    lines = [
        formatter.line("a", "INFO", "m", {"type": "text", "n": 1, "key": f"e:{i:032x}", "x": 1.5})
        for i in range(3)
    ]
    for i, line in enumerate(lines):
        assert line.endswith(f" INFO a m type=text n=1 key=e:{i:032x} x=1.5")
    assert ("type", "text") in formatter._pairs and ("n", 1) in formatter._pairs
    assert not any(k == "key" for k, _ in formatter._pairs)  # 34 characters: never memoised
    odd = formatter.line("a", "INFO", "m", {"type": 'x "y"'})
    assert odd.endswith(' type="x \\"y\\""')
    assert formatter.line("a", "INFO", "m", {"type": 'x "y"'}) == odd
