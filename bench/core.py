"""The protocol-core microbenchmark: wxhook's decode / encode beside wechatpy's, in one run.

Usage (bench/run.sh installs pytest-benchmark and wechatpy):
    .venv-bench/bin/python bench/core.py [extra pytest-benchmark options]
Prints µs per push for each side and the speed-up, and writes bench/results/core.json.

The speed-up is taken from each side's best round (pytest-benchmark's min): on a shared machine
other load only ever adds time, and it lands on one side's block of rounds and not the other's,
so medians of the same code move by a factor of two between runs here; the best round moves far
less. The speed-up of the medians is printed beside it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "core.json"
RAW = HERE / "results" / "core-raw.json"


def main() -> int:
    OUT.parent.mkdir(exist_ok=True)
    code = pytest.main(
        [
            str(HERE / "test_core_vs_wechatpy.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--benchmark-min-rounds=200",
            "--benchmark-warmup=on",
            f"--benchmark-json={RAW}",
            "--benchmark-columns=median,iqr,ops",
            *sys.argv[1:],
        ]
    )
    if code != 0:
        return int(code)
    data = json.loads(RAW.read_text())
    # µs per push for each (case, library): the best round and the median round.
    best: dict[str, dict[str, float]] = {}
    median: dict[str, dict[str, float]] = {}
    for b in data["benchmarks"]:
        pushes, library = b["extra_info"]["pushes"], b["params"]["library"]
        best.setdefault(b["group"], {})[library] = b["stats"]["min"] / pushes * 1e6
        median.setdefault(b["group"], {})[library] = b["stats"]["median"] / pushes * 1e6
    rows = []
    lines = [
        "| per push (best round) | wechatpy 1.8.18 µs | wxhook µs | speed-up "
        "| speed-up of medians |",
        "|---|---:|---:|---:|---:|",
    ]
    for group, m in best.items():
        speedup = m["wechatpy"] / m["wxhook"]
        of_medians = median[group]["wechatpy"] / median[group]["wxhook"]
        rows.append(
            {
                "case": group,
                **m,
                "speedup": speedup,
                "median": median[group],
                "speedup_of_medians": of_medians,
            }
        )
        lines.append(
            f"| {group} | {m['wechatpy']:.1f} | {m['wxhook']:.1f} | {speedup:.1f}x "
            f"| {of_medians:.1f}x |"
        )
    text = "\n".join(lines)
    print(text)
    machine = data.get("machine_info", {})
    OUT.write_text(
        json.dumps(
            {
                "command": "bash bench/run.sh (bench/core.py)",
                "date": data.get("datetime"),
                "python": machine.get("python_version"),
                "rows": rows,
                "markdown": text,
            },
            indent=1,
            ensure_ascii=False,
        )
        + "\n"
    )
    RAW.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
