"""Side by side, in one run on one machine: a bare aiohttp endpoint (the ceiling) on
`web.Application` and the same on aiohttp's low-level `web.Server`, the hand-written wechatpy +
aiohttp + Redis server, and wxhook with Redis dedup and a plugin.

Each server runs alone, pinned to core 0 (taskset); wrk (and the benchmark's own Redis) run on
core 1. Each is loaded in plain and in safe mode with distinct, signed (and encrypted) pushes,
in interleaved rounds; the medians and the ratios wxhook/bare, wxhook/wechatpy and web.Server /
web.Application are printed
and written to bench/results/. Traffic goes to 127.0.0.1 only; every process started here is
stopped by its pid.

Usage (bench/run.sh installs what this needs): .venv-bench/bin/python bench/sidebyside.py
    [--rounds 3] [--duration 10] [--connections 32] [--loop asyncio|uvloop] [--smoke]
    [--soak 1000000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pool  # noqa: E402
from servers.common import WELCOME  # noqa: E402

from wxhook.simulator import open_reply  # noqa: E402

PY = sys.executable
SERVER_CORE, LOAD_CORE = "0", "1"
SERVERS = ("bare", "lowlevel", "wechatpy", "wxhook")
# Both bare endpoints answer "success" to anything and may cycle the pool; the others dedup.
BARE = ("bare", "lowlevel")
NAMES = {
    "bare": "bare aiohttp web.Application (ceiling)",
    "lowlevel": "bare aiohttp web.Server (low-level)",
    "wechatpy": "wechatpy + aiohttp + Redis",
    "wxhook": "wxhook + Redis",
    "wxhook-memory": "wxhook, memory store (no Redis)",
}
# Loaded in the same rounds with --also, outside the ratios: wxhook with its in-process store,
# so that the CPU the Redis work costs per push shows as a difference measured in one run.
EXTRA = ("wxhook-memory",)
MODES = ("plain", "safe")
RESULTS = HERE / "results"


@dataclass
class Run:
    server: str
    mode: str
    rps: float
    p50_ms: float
    p99_ms: float
    peak_rss_mb: float
    requests: int
    non200: int
    replies: int
    cpu_share: float  # of one core, while loaded: near 1.0 means the server was the bottleneck
    cpu_us_per_request: float
    wrk: dict[str, Any] = field(repr=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.redis_port = free_port()
        self.redis: subprocess.Popen[bytes] | None = None

    # Redis ------------------------------------------------------------------------------

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            [
                "taskset",
                "-c",
                LOAD_CORE,
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_port(self.redis_port, self.redis)

    def flush_redis(self) -> None:
        with socket.create_connection(("127.0.0.1", self.redis_port), 2) as s:
            s.sendall(b"FLUSHALL\r\n")
            assert s.recv(16).startswith(b"+OK")

    # Servers ----------------------------------------------------------------------------

    def wxhook_config(self, mode: str, port: int, store: str = "redis") -> Path:
        account = {
            "name": "bench",
            "path": "/wechat",
            "token": pool.TOKEN,
            "mode": mode,
        }
        if mode == "safe":
            account |= {"app_id": pool.APP_ID, "encoding_aes_key": pool.ENCODING_AES_KEY}
        lines = [
            "[server]",
            'host = "127.0.0.1"',
            f"port = {port}",
            # The same loop as the other two servers ("auto" would pick uvloop when installed).
            f'event_loop = "{self.args.loop}"',
            "[ops]",
            "port = 0",  # no listener of its own to clash with; idle, it costs nothing
            "[security]",
            # The pools are built once per run; a run takes longer than the default 5 minutes.
            "timestamp_tolerance = 3600",
            "[store]",
            # memory:// (--wxhook-store memory): what the Redis work costs, by difference.
            f'url = "{self.redis_url if store == "redis" else "memory://"}"',
            "dedup_ttl = 3600",  # not shorter than the timestamp window
            "[log]",
            f'level = "{self.args.log_level}"',
            "[plugins]",
            'modules = ["wxhook_plugin"]',
            "[[accounts]]",
            *(f"{k} = {json.dumps(v)}" for k, v in account.items()),
        ]
        path = self.workdir / f"wxhook-{mode}-{store}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def command(self, server: str, mode: str, port: int) -> list[str]:
        loop = self.args.loop
        if server == "bare":
            return [PY, str(HERE / "servers/bare.py"), str(port), loop]
        if server == "lowlevel":
            return [PY, str(HERE / "servers/bare_server.py"), str(port), loop]
        if server == "wechatpy":
            script = str(HERE / "servers/wechatpy_server.py")
            return [PY, script, str(port), mode, self.redis_url, loop]
        store = "memory" if server == "wxhook-memory" else self.args.wxhook_store
        config = str(self.wxhook_config(mode, port, store))
        return [PY, str(HERE / "servers/wxhook_server.py"), config, loop]

    @contextlib.contextmanager
    def server(self, server: str, mode: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
        self.flush_redis()
        port = free_port()
        log = (self.workdir / f"{server}-{mode}.log").open("wb")
        env = dict(os.environ)
        if server.startswith("wxhook") and self.args.wxhook_path is not None:
            env["PYTHONPATH"] = str(self.args.wxhook_path.resolve())
        proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *self.command(server, mode, port)],
            stdout=log,
            stderr=log,
            cwd=HERE / "servers",
            env=env,
        )
        try:
            wait_port(port, proc)
            yield port, proc
        finally:
            stop(proc)
            log.close()

    # Checks and load --------------------------------------------------------------------

    def check(self, server: str, mode: str, port: int) -> None:
        """A handful of fresh pushes, one of each kind: 200, and the right reply."""
        for kind, target, body in pool.pushes(mode, len(pool.KINDS), salt=f"chk{time.time_ns()}"):
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}{target}", data=body, method="POST"
            )
            with urllib.request.urlopen(req, timeout=10) as r:
                status, answer = r.status, r.read()
            if status != 200:
                raise AssertionError(f"{server}/{mode}: {kind} got {status}")
            if server in BARE:
                ok = answer == b"success"
            elif kind == "subscribe":
                reply = open_reply(pool.keys(mode), answer)
                ok = reply.get("Content") == WELCOME and reply.get("MsgType") == "text"
            else:
                ok = answer in (b"", b"success")
            if not ok:
                raise AssertionError(f"{server}/{mode}: wrong answer to {kind}: {answer[:200]!r}")

    def wrk(
        self, port: int, pool_file: Path, seconds: float, *, once: bool, drain: bool = False
    ) -> dict[str, Any]:
        cmd = [
            "taskset",
            "-c",
            LOAD_CORE,
            "wrk",
            "-t1",
            f"-c{self.args.connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "requests.lua"),
            f"http://127.0.0.1:{port}/",
            "--",
            str(pool_file),
            "drain" if drain else "once" if once else "cycle",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        line = next(x for x in out.splitlines() if x.startswith("JSON "))
        return dict(json.loads(line[5:]))

    def profiler(self, server: str, mode: str, pid: int) -> subprocess.Popen[bytes] | None:
        """py-spy sampling the server during the measured load (--profile; costs some load)."""
        if server not in self.args.profile:
            return None
        out = RESULTS / f"profile-{server}-{mode}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            "taskset",
            "-c",
            LOAD_CORE,
            str(Path(PY).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--format",
            "raw",
            "--nonblocking",
            "--duration",
            str(max(1, round(self.args.duration)) - 1),
            "-o",
            str(out),
        ]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def measure(self, server: str, mode: str, pools: dict[str, Path]) -> Run:
        with self.server(server, mode) as (port, proc):
            self.check(server, mode, port)
            self.wrk(port, pools[f"warm-{mode}"], self.args.warmup, once=True)
            self.flush_redis()
            spy = self.profiler(server, mode, proc.pid)
            cpu = cpu_seconds(proc.pid)
            # Servers that dedup get each push once; the bare endpoints may cycle the pool.
            result = self.wrk(port, pools[mode], self.args.duration, once=server not in BARE)
            cpu = cpu_seconds(proc.pid) - cpu
            if spy is not None:
                spy.wait(30)
            _, peak = rss_mb(proc.pid)
        seconds = result["duration_us"] / 1e6
        run = Run(
            server=server,
            mode=mode,
            rps=result["requests"] / seconds,
            p50_ms=result["p50_us"] / 1000,
            p99_ms=result["p99_us"] / 1000,
            peak_rss_mb=peak,
            requests=result["requests"],
            non200=result["non200"],
            replies=result["replies"],
            cpu_share=cpu / seconds,
            cpu_us_per_request=cpu / max(result["requests"], 1) * 1e6,
            wrk=result,
        )
        print(
            f"  {server:8s} {mode:5s} {run.rps:9,.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
            f"p99 {run.p99_ms:6.2f} ms  peak RSS {run.peak_rss_mb:5.1f} MB  "
            f"CPU {run.cpu_share:4.0%} {run.cpu_us_per_request:4.0f} us/req  "
            f"non-200 {run.non200}  replies {run.replies}",
            flush=True,
        )
        if server not in BARE and result["requests"] >= self.args.pool:
            print(f"  !! {server}/{mode} used up the pool: req/s understated, raise --pool")
        if run.non200 or result["connect_errors"] or result["read_errors"] or result["timeouts"]:
            print(f"  !! errors in {server}/{mode}: {result}", flush=True)
        return run

    def soak(self, mode: str, total: int) -> dict[str, Any]:
        """RSS of wxhook over `total` distinct pushes (the pool replayed after FLUSHALL)."""
        size = min(total, 200_000)
        big = pool.write_pool(self.workdir / f"soak-{mode}.txt", mode, size, salt="soak")
        samples: list[tuple[int, float]] = []
        with self.server("wxhook", mode) as (port, proc):
            self.check("wxhook", mode, port)
            self.wrk(port, big, 3600, once=True, drain=True)  # the first pass warms up
            self.flush_redis()
            done = 0
            samples.append((done, rss_mb(proc.pid)[0]))
            while done < total:
                result = self.wrk(port, big, 3600, once=True, drain=True)
                self.flush_redis()
                done += result["requests"]
                samples.append((done, rss_mb(proc.pid)[0]))
                print(f"  soak {mode}: {done:,} requests, RSS {samples[-1][1]:.1f} MB", flush=True)
        growth = samples[-1][1] - samples[0][1]
        return {"mode": mode, "requests": done, "samples": samples, "growth_mb": growth}


def summarise(runs: list[Run]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for mode in MODES:
        row: dict[str, Any] = {}
        for server in (*SERVERS, *EXTRA):
            mine = [r for r in runs if r.server == server and r.mode == mode]
            if not mine:
                continue
            row[server] = {
                "rps": statistics.median(r.rps for r in mine),
                "p50_ms": statistics.median(r.p50_ms for r in mine),
                "p99_ms": statistics.median(r.p99_ms for r in mine),
                "peak_rss_mb": max(r.peak_rss_mb for r in mine),
                "cpu_us_per_request": statistics.median(r.cpu_us_per_request for r in mine),
                "rounds": [round(r.rps) for r in mine],
            }
        w, b, p, low = row["wxhook"], row["bare"], row["wechatpy"], row["lowlevel"]
        row["ratios"] = {
            "wxhook/bare": w["rps"] / b["rps"],
            "wxhook/lowlevel": w["rps"] / low["rps"],
            "lowlevel/bare": low["rps"] / b["rps"],
            "cpu us bare - lowlevel": b["cpu_us_per_request"] - low["cpu_us_per_request"],
            "wxhook/wechatpy": w["rps"] / p["rps"],
            # CPU per request does not depend on whether the load generator kept up.
            "cpu wechatpy/wxhook": p["cpu_us_per_request"] / w["cpu_us_per_request"],
            "cpu bare/wxhook": b["cpu_us_per_request"] / w["cpu_us_per_request"],
            "p99 limit ms (1.5 x bare + 5)": 1.5 * b["p99_ms"] + 5,
        }
        if "wxhook-memory" in row:
            # The Redis work per push, as the server does it: the CPU it adds to wxhook.
            row["ratios"]["cpu us redis per push"] = (
                w["cpu_us_per_request"] - row["wxhook-memory"]["cpu_us_per_request"]
            )
        table[mode] = row
    return table


def print_table(table: dict[str, Any]) -> str:
    lines = [
        "| mode | server | req/s | p50 ms | p99 ms | peak RSS MB | CPU µs/request |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        for server in (s for s in (*SERVERS, *EXTRA) if s in table[mode]):
            r = table[mode][server]
            lines.append(
                f"| {mode} | {NAMES[server]} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | "
                f"{r['p99_ms']:.2f} | {r['peak_rss_mb']:.0f} | {r['cpu_us_per_request']:.0f} |"
            )
    lines += [
        "",
        "| mode | req/s wxhook/bare | req/s wxhook/wechatpy | CPU per request wechatpy/wxhook "
        "| wxhook p99 vs 1.5 × bare + 5 ms | req/s web.Server/web.Application "
        "| CPU µs/request saved by web.Server |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for mode in MODES:
        ratios = table[mode]["ratios"]
        limit = ratios["p99 limit ms (1.5 x bare + 5)"]
        p99 = table[mode]["wxhook"]["p99_ms"]
        lines.append(
            f"| {mode} | {ratios['wxhook/bare']:.2f} | {ratios['wxhook/wechatpy']:.2f} | "
            f"{ratios['cpu wechatpy/wxhook']:.2f} | "
            f"{p99:.1f} ms {'<=' if p99 <= limit else '>'} {limit:.1f} ms | "
            f"{ratios['lowlevel/bare']:.2f} | {ratios['cpu us bare - lowlevel']:.1f} |"
        )
    for mode in MODES:
        redis = table[mode]["ratios"].get("cpu us redis per push")
        if redis is not None:
            lines.append(f"\n{mode}: the Redis work costs wxhook {redis:.0f} CPU µs per push")
    text = "\n".join(lines)
    print(text)
    return text


def chart(table: dict[str, Any], path: Path) -> None:
    """A grouped bar chart of req/s, as a self-contained SVG (no plotting library needed)."""
    colours = {"bare": "#9e9e9e", "lowlevel": "#cfcfcf", "wechatpy": "#e8a33d", "wxhook": "#2e7d32"}
    highest = max(table[m][s]["rps"] for m in MODES for s in SERVERS)
    step = 10 ** max(len(str(int(highest / 5))) - 1, 0)
    step *= next(k for k in (1, 2, 5, 10) if highest / (step * k) <= 5)
    top = step * 5 * (1.1 if highest > step * 4.6 else 1.0)
    width, height, left, bottom, plot_h = 720, 380, 70, 300, 250
    bar, gap, group = 56, 10, 310
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">'
        "requests/s, one pinned core, 32 connections (median of rounds)</text>",
    ]
    for i in range(6):
        v = step * i
        y = bottom - plot_h * v / top
        out.append(
            f'<line x1="{left}" x2="{width - 20}" y1="{y:.0f}" y2="{y:.0f}" stroke="#e0e0e0"/>'
        )
        out.append(f'<text x="{left - 6}" y="{y + 4:.0f}" text-anchor="end">{v:,.0f}</text>')
    for g, mode in enumerate(MODES):
        x0 = left + 30 + g * group
        for k, server in enumerate(SERVERS):
            rps = table[mode][server]["rps"]
            h = plot_h * rps / top
            x = x0 + k * (bar + gap)
            out.append(
                f'<rect x="{x}" y="{bottom - h:.0f}" width="{bar}" height="{h:.0f}" '
                f'fill="{colours[server]}"/>'
            )
            out.append(
                f'<text x="{x + bar / 2}" y="{bottom - h - 5:.0f}" '
                f'text-anchor="middle">{rps:,.0f}</text>'
            )
        out.append(
            f'<text x="{x0 + (len(SERVERS) * bar + (len(SERVERS) - 1) * gap) / 2}" '
            f'y="{bottom + 20}" '
            f'text-anchor="middle" font-size="13">{mode} mode</text>'
        )
    labels = {
        "bare": "bare web.Application",
        "lowlevel": "bare web.Server",
        "wechatpy": "wechatpy by hand",
        "wxhook": "wxhook",
    }
    for k, server in enumerate(SERVERS):
        x = left + k * 160
        out.append(
            f'<rect x="{x}" y="{height - 40}" width="12" height="12" fill="{colours[server]}"/>'
        )
        out.append(f'<text x="{x + 18}" y="{height - 30}">{labels[server]}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per case")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pool", type=int, default=150_000, help="distinct pushes per mode")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--log-level", default="INFO", help="wxhook's log.level")
    parser.add_argument(
        "--wxhook-store",
        choices=("redis", "memory"),
        default="redis",
        help="wxhook's dedup store (memory: the Redis work's share, by difference)",
    )
    parser.add_argument(
        "--profile", nargs="*", default=[], choices=SERVERS + EXTRA, help="py-spy these servers"
    )
    parser.add_argument(
        "--wxhook-path",
        type=Path,
        default=None,
        help="run wxhook from this source tree (its parent of wxhook/): A/B a change",
    )
    parser.add_argument(
        "--only", nargs="*", default=[], choices=SERVERS, help="load only these (no ratios)"
    )
    parser.add_argument(
        "--also",
        nargs="*",
        default=[],
        choices=EXTRA,
        help="load these too, in the same rounds (rows of their own, outside the ratios)",
    )
    parser.add_argument("--smoke", action="store_true", help="only start each server and check")
    parser.add_argument("--soak", type=int, default=0, help="wxhook RSS over N pushes per mode")
    parser.add_argument("--out", type=Path, default=RESULTS / "sidebyside.json")
    parser.add_argument(
        "--chart",
        type=Path,
        default=None,
        help="where the SVG chart goes (default: beside --out; docs/img/sidebyside.svg for docs)",
    )
    args = parser.parse_args()
    for tool in ("wrk", "taskset", "redis-server"):
        if shutil.which(tool) is None and not (args.smoke and tool == "wrk"):
            raise SystemExit(f"{tool} is missing (bench/run.sh installs it)")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs 2 cores: one for the server, one for the load generator")

    with tempfile.TemporaryDirectory(prefix="wxhook-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        bench.start_redis()
        try:
            if args.smoke:
                for mode in MODES:
                    for server in SERVERS:
                        with bench.server(server, mode) as (port, _):
                            bench.check(server, mode, port)
                        print(f"  {server:8s} {mode:5s} ok", flush=True)
                return
            started = time.time()
            pools = {}
            for mode in MODES if args.rounds else ():
                pools[mode] = pool.write_pool(
                    bench.workdir / f"{mode}.txt", mode, args.pool, salt="main"
                )
                pools[f"warm-{mode}"] = pool.write_pool(
                    bench.workdir / f"warm-{mode}.txt", mode, 20_000, salt="warm"
                )
            print(f"pools ready in {time.time() - started:.0f}s", flush=True)
            runs: list[Run] = []
            for r in range(args.rounds):  # interleaved, so machine noise hits every case alike
                print(f"round {r + 1}/{args.rounds}", flush=True)
                for mode in MODES:
                    for server in [*(args.only or SERVERS), *args.also]:
                        runs.append(bench.measure(server, mode, pools))
            complete = bool(runs) and not args.only
            table = summarise(runs) if complete else {}
            soak = [bench.soak(mode, args.soak) for mode in MODES] if args.soak else []
        finally:
            if bench.redis is not None:
                stop(bench.redis)
    text = print_table(table) if table else ""
    for mode in MODES if not table else ():
        for server in SERVERS:
            mine = [r for r in runs if r.server == server and r.mode == mode]
            if mine:
                rps = statistics.median(r.rps for r in mine)
                cpu = statistics.median(r.cpu_us_per_request for r in mine)
                print(f"median {server} {mode}: {rps:,.0f} req/s, {cpu:.0f} CPU µs/request")
    for s in soak:
        print(f"wxhook {s['mode']}: RSS grew {s['growth_mb']:.1f} MB over {s['requests']:,} pushes")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "command": "bash bench/run.sh " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {k: str(v) for k, v in vars(args).items()},
        "table": table,
        "markdown": text,
        "soak": soak,
        "runs": [asdict(r) for r in runs],
    }
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    svg = args.chart or args.out.with_suffix(".svg")
    if table:
        chart(table, svg)
    print(f"wrote {args.out}" + (f" and {svg}" if table else ""))


if __name__ == "__main__":
    main()
