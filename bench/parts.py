"""What each piece of wxhook's own per-push work costs alone, in µs: the core's steps, the
Endpoint's hashing, the dispatcher's per-push objects, the access line and the metrics, and the
cheaper forms bench/PROFILE.md proposes for some of them, side by side in one process.

Usage (after bench/run.sh has made .venv-bench):
    .venv-bench/bin/python bench/parts.py [--repeat 7] [--number 2000]
Each row is the best of `--repeat` timeit runs of `--number` calls (other load on the machine
only ever adds time), for the benchmark's text push (the commonest kind in its mix). Nothing
here touches the network.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "servers"))

import pool  # noqa: E402
from defusedxml.ElementTree import fromstring as defused_fromstring  # noqa: E402
from defusedxml.expatreader import DefusedExpatParser  # noqa: E402

from wxhook.core import decode, dedup_key, parse_message, parse_xml, render_reply, seal  # noqa: E402
from wxhook.core.xmlcodec import _Builder  # noqa: E402
from wxhook.logs import BatchingHandler, FastLine, TextFormatter  # noqa: E402
from wxhook.metrics import Metrics  # noqa: E402
from wxhook.router import Context, State  # noqa: E402


def row(name: str, fn: Callable[[], Any], args: argparse.Namespace) -> float:
    best = min(timeit.repeat(fn, number=args.number, repeat=args.repeat)) / args.number * 1e6
    print(f"| {name} | {best:.2f} |", flush=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()

    plain_keys, safe_keys = pool.keys("plain"), pool.keys("safe")
    now = int(time.time())
    doc = pool.document(7, "text", salt="parts", now=now)
    from wxhook.simulator import push

    q_plain, b_plain = push(plain_keys, doc, nonce="n1", timestamp=str(now))
    q_safe, b_safe = push(safe_keys, doc, nonce="n1", timestamp=str(now))
    decoded_plain = decode(plain_keys, q_plain, b_plain, now=now)
    decoded_safe = decode(safe_keys, q_safe, b_safe, now=now)
    message = decoded_plain.message
    raw = dict(message.raw)
    reply = render_reply("欢迎关注！", message, now=now)

    print(f"Python {sys.version.split()[0]}, a text push of {len(b_plain)} bytes")
    print("| per push | µs (best of rounds) |\n|---|---:|")
    row(
        "core: decode plain (signature, parse_xml, message)",
        lambda: decode(plain_keys, q_plain, b_plain, now=now),
        args,
    )
    row(
        "core: decode safe (+ envelope, msg_signature, AES, 2nd parse)",
        lambda: decode(safe_keys, q_safe, b_safe, now=now),
        args,
    )
    row("core: parse_xml (defusedxml SAX reader)", lambda: parse_xml(b_plain), args)
    row(
        "  of it: DefusedExpatParser() + _Builder() made per document",
        lambda: (
            DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True),
            _Builder(),
        ),
        args,
    )
    row(
        "  of it: parsing `<xml/>` (the fixed part per document)",
        lambda: parse_xml(b"<xml/>"),
        args,
    )
    row(
        "  beside it: defusedxml.ElementTree.fromstring (no CDATA/text split)",
        lambda: defused_fromstring(b_plain),
        args,
    )
    row("core: parse_message (typed object from the dict)", lambda: parse_message(raw), args)
    row("core: dedup_key (BLAKE2b)", lambda: dedup_key(message, "bench"), args)
    row(
        "core: render_reply (welcome text)",
        lambda: render_reply("欢迎关注！", message, now=now),
        args,
    )
    row(
        "core: seal safe (AES + SHA-1 + envelope)",
        lambda: seal(safe_keys, reply, decoded_safe, now=now),
        args,
    )

    def guard() -> tuple[str, str]:
        url = f"bench|{decoded_plain.timestamp}|{decoded_plain.nonce}"
        return (
            hashlib.blake2b(url.encode(), digest_size=16).hexdigest(),
            hashlib.blake2b(b_plain, digest_size=16).hexdigest(),
        )

    row("Endpoint: plain-mode URL guard (2 BLAKE2b)", guard, args)
    row("Endpoint: claim token os.urandom(8).hex()", lambda: os.urandom(8).hex().encode(), args)
    handler_log = logging.getLogger("wxhook.handler")
    state = State()

    def context() -> Context:
        return Context(
            account="bench",
            arrived=now,
            deadline=1.0,
            dedup_key="m:0",
            logger=logging.LoggerAdapter(handler_log, {"account": "bench", "dedup_key": "m:0"}),
            state=state,
            user=message.source,
            api=None,
        )

    row("dispatch: Context + LoggerAdapter per push", context, args)

    metrics = Metrics()

    def metric_ops() -> None:
        metrics.child(metrics.requests, "bench", "text", "", "replied", "").inc()
        metrics.child(metrics.request_seconds, "bench").observe(0.003)
        metrics.child(metrics.handler_seconds, "welcome").observe(0.0001)
        metrics.in_flight.inc()
        metrics.in_flight.dec()

    row("metrics: the 5 per push (counter, 2 histograms, gauge +-)", metric_ops, args)
    row(
        "  of it: one Histogram.observe",
        lambda: metrics.child(metrics.request_seconds, "bench").observe(0.003),
        args,
    )
    row(
        "  of it: one Counter.inc",
        lambda: metrics.child(metrics.requests, "bench", "text", "", "replied", "").inc(),
        args,
    )

    root = logging.getLogger()
    devnull = os.open(os.devnull, os.O_WRONLY)
    handler = BatchingHandler(devnull)
    handler.setFormatter(TextFormatter())
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    access_line = FastLine(logging.getLogger("wxhook.access"))
    fields = {
        "account": "bench",
        "type": "text",
        "event": "",
        "dedup_key": "m:8f3c2a9d0b1e4f5a6c7d8e9f0a1b2c3d",
        "outcome": "replied",
        "handlers": 1,
        "latency_ms": 3.2,
    }
    row(
        "logging: the access line (FastLine, batched write)",
        lambda: access_line.info("callback", dict(fields)),
        args,
    )
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    os.close(devnull)


if __name__ == "__main__":
    main()
