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
        for marker in ("site-packages/", "python3.11/", "/wt6/"):
            if marker in file:
                file = file.split(marker, 1)[1]
        out.append(f"{m['func']} ({file})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--grep", default="", help="only functions whose line holds this")
    args = parser.parse_args()
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
