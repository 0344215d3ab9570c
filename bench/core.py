"""The protocol-core microbenchmark: wxhook's decode / encode beside wechatpy's, in one run.

Usage (bench/run.sh installs pytest-benchmark and wechatpy):
    .venv-bench/bin/python bench/core.py [extra pytest-benchmark options]
Prints µs per push for each side and the speed-up (wechatpy median / wxhook median), and writes
bench/results/core.json.
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
    medians: dict[str, dict[str, float]] = {}
    for b in data["benchmarks"]:
        pushes = b["extra_info"]["pushes"]
        medians.setdefault(b["group"], {})[b["params"]["library"]] = (
            b["stats"]["median"] / pushes * 1e6
        )
    rows = []
    lines = [
        "| per push | wechatpy 1.8.18 µs | wxhook µs | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for group, m in medians.items():
        speedup = m["wechatpy"] / m["wxhook"]
        rows.append({"case": group, **m, "speedup": speedup})
        lines.append(f"| {group} | {m['wechatpy']:.1f} | {m['wxhook']:.1f} | {speedup:.1f}x |")
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
