"""Shares of CPU time by function in a py-spy raw (collapsed) profile, for bench/PROFILE.md.

Usage: .venv-bench/bin/python bench/stacks.py bench/results/profile-wxhook-plain.txt [--top 40]
Inclusive share: the fraction of samples with the function anywhere on the stack.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^)]*?)(?::\d+)?\)$")


def frames(stack: str) -> list[str]:
    out = []
    for frame in stack.split(";"):
        m = FRAME.match(frame)
        if m is None:
            out.append(frame)
            continue
        file = m["file"]
        for marker in ("site-packages/", "python3.11/", "python3.12/", "/bench/"):
            if marker in file:
                file = file.split(marker, 1)[1]
        out.append(f"{m['func']} ({file})")
    return out


# Each sample goes to the category of the frame nearest its leaf that belongs to one: a socket
# write made by redis-py is Redis time, a dict lookup inside the access log is logging, the
# Response that aiohttp builds for our handler is aiohttp's, the expat reader under parse_xml is
# the XML parse. Frames of no category (asyncio's loop, selectors) go to the next one up.
CATEGORIES = [
    ("store: redis-py pipeline, hiredis, wxhook/stores", ("redis/", "hiredis", "wxhook/stores/")),
    ("logging: access line", ("logging/", "wxhook/logs.py")),
    ("metrics: prometheus-client", ("prometheus_client/", "wxhook/metrics.py")),
    ("core: XML parse (defusedxml, expat)", ("wxhook/core/xmlcodec.py", "defusedxml/", "xml/")),
    ("core: safe-mode crypto (cryptography)", ("wxhook/core/crypto.py", "cryptography/")),
    ("core: signatures (SHA-1)", ("wxhook/core/signature.py",)),
    (
        "core: message objects",
        ("wxhook/core/messages.py", "wxhook/core/registry.py", "wxhook/core/fields.py"),
    ),
    ("core: reply rendering", ("wxhook/core/replies.py",)),
    ("core: decode/seal/dedup key (sansio)", ("wxhook/core/",)),
    ("plugin handler", ("servers/wxhook_plugin.py",)),
    ("router: resolve, filters", ("wxhook/router.py", "wxhook/filters.py")),
    (
        "dispatch: claim, tasks, deadline",
        ("wxhook/dispatcher.py", "wxhook/dispatch/", "wxhook/loop.py"),
    ),
    ("Endpoint: wxhook/server glue", ("wxhook/server/",)),
    ("wechatpy + xmltodict", ("wechatpy/", "xmltodict", "servers/wechatpy_server.py")),
    ("aiohttp: HTTP parsing, routing, response", ("aiohttp/", "yarl/", "multidict/")),
]
OTHER = "event loop and the rest (asyncio, selectors, sockets)"


def category(stack: str) -> str:
    """The category of the frame nearest the leaf that has one."""
    for frame in reversed(stack.split(";")):
        for label, markers in CATEGORIES:
            if any(m in frame for m in markers):
                return label
    return OTHER


def categorise(lines: list[str]) -> tuple[collections.Counter[str], int]:
    shares: collections.Counter[str] = collections.Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        shares[category(stack)] += n
    return shares, total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--grep", default="", help="only functions whose line holds this")
    parser.add_argument(
        "--us-per-request",
        type=float,
        default=0.0,
        help="the server's CPU µs per request in that run: shares become µs",
    )
    parser.add_argument("--categories", action="store_true", help="shares by category")
    args = parser.parse_args()
    if args.categories:
        shares, total = categorise(args.profile.read_text().splitlines())
        print(f"{total} samples")
        print("| where | share | µs per request |\n|---|---:|---:|")
        for label, n in shares.most_common():
            us = f"{n / total * args.us_per_request:.0f}" if args.us_per_request else ""
            print(f"| {label} | {100 * n / total:.1f} % | {us} |")
        return
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        names = frames(stack)
        for name in set(names):
            inclusive[name] += n
        own[names[-1]] += n
    print(f"{total} samples")
    print("inclusive  self   function")
    for name, n in inclusive.most_common():
        if args.grep and args.grep not in name:
            continue
        print(f"{100 * n / total:6.1f}%  {100 * own[name] / total:5.1f}%  {name}")
        args.top -= 1
        if args.top == 0:
            break


if __name__ == "__main__":
    main()
