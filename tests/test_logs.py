"""Log lines: one record is one line, whatever a push put into its fields; JSON when asked."""

from __future__ import annotations

import json
import logging

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
