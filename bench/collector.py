"""Collector throughput: tail a generated file into JSONL; lines/s and CPU seconds.

A file of JSON lines (``--mix json``, the default) or of JSON mixed with RFC 3164 syslog and
plain lines (``--mix mixed``: 70/20/10 %) is generated before the clock starts (seeded; blocks
of distinct lines repeated up to ``--size``), then an in-process ``Collector`` reads it from the
start into a JSONL file; the clock stops when every line is counted and the output committed.
The figures are wall seconds, lines/s, MB/s and CPU seconds of the process (user + system,
including the watchdog thread). Not a test.

    .venv/bin/python bench/collector.py [--size 200MB | 1GB] [--mix json|mixed] [--filter REGEX]
                                        [--tag NAME=REGEX] [--keep] [--dir DIR] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from workbench import model
from workbench.collector import Collector, CollectorConfig
from workbench.collector.config import parse_tag_flag
from workbench.units import parse_bytes

SERVICES = ("payment-api", "checkout", "auth", "search", "inventory", "gateway")
MESSAGES = (
    "charge failed for order {n}: card declined",
    "GET /api/v1/items/{n} 200 in 12ms",
    "user {n} logged in from 10.0.{n}.7",
    "cache miss for key item:{n}, fetching from the database",
    "retrying request {n} (attempt 2 of 5) after a timeout",
)
LEVELS = ("DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR")
BLOCK_LINES = 20_000


def make_block(rng: random.Random, mix: str) -> tuple[bytes, int]:
    enc = msgspec.json.Encoder()
    base = dt.datetime(2025, 6, 30, tzinfo=dt.UTC)
    lines: list[bytes] = []
    for i in range(BLOCK_LINES):
        n = rng.randrange(100_000)
        roll = rng.random() if mix == "mixed" else 0.0
        if roll < 0.7:
            e = model.LogEntry(
                timestamp=base + dt.timedelta(milliseconds=i), level=rng.choice(LEVELS),
                service=rng.choice(SERVICES), message=rng.choice(MESSAGES).format(n=n),
                host=f"web-{n % 8}", user_id=f"u{n % 1000}", attributes={"region": "eu-west"}, seq=i,
            )  # fmt: skip
            lines.append(enc.encode(e))
        elif roll < 0.9:
            lines.append(f"Jun 30 12:{i % 60:02d}:{n % 60:02d} web-{n % 8} sshd[{n}]: "
                         f"Accepted publickey for user{n % 100} from 10.0.0.{n % 255}".encode())  # fmt: skip
        else:
            lines.append(f"2025-06-30T12:00:00Z INFO worker: job {n} done in {n % 900} ms".encode())
    return b"\n".join(lines) + b"\n", len(lines)


def generate(path: Path, size: int, mix: str, seed: int) -> int:
    rng = random.Random(seed)
    block, n = make_block(rng, mix)
    written = lines = 0
    with path.open("wb") as fh:
        while written < size:
            fh.write(block)
            written += len(block)
            lines += n
    return lines


async def collect(cfg: CollectorConfig, expected: int, timeout: float) -> tuple[float, float]:
    c = Collector(cfg)
    t0, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    await c.start()
    deadline = time.monotonic() + timeout
    while c.metrics.total("lines") < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await c.stop()
    t1, cpu1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    got = c.metrics.total("lines")
    if got < expected:
        raise SystemExit(f"timed out: {got:.0f} of {expected} lines after {timeout:.0f}s")
    return t1 - t0, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="200MB", help="input size (default 200MB; e.g. 1GB)")
    ap.add_argument("--mix", choices=("json", "mixed"), default="json")
    ap.add_argument("--filter", help="--filter REGEX of the collector")
    ap.add_argument("--tag", action="append", default=[], help="NAME=REGEX tag rules")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path, help="work dir (default a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the generated and output files")
    ap.add_argument("--timeout", type=float, default=1800.0)
    args = ap.parse_args()
    size = parse_bytes(args.size)
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-collector-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "input.log"
    t = time.perf_counter()
    lines = generate(src, size, args.mix, args.seed)
    actual = src.stat().st_size
    print(f"generated {actual / 1e6:.0f} MB, {lines} lines ({args.mix}) in {time.perf_counter() - t:.1f}s")
    cfg = CollectorConfig(
        inputs=(str(src),), output_path=work / "out.jsonl", state_dir=work / "state",
        include_regex=args.filter, tag_rules=tuple(parse_tag_flag(x) for x in args.tag),
        stats_interval_seconds=None, use_watchdog=False, multiline=True,
    )  # fmt: skip
    try:
        import uvloop

        seconds, cpu = uvloop.run(collect(cfg, lines, args.timeout))
    except ImportError:  # pragma: no cover
        seconds, cpu = asyncio.run(collect(cfg, lines, args.timeout))
    out_size = (work / "out.jsonl").stat().st_size
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"collected {lines} lines ({actual / 1e6:.0f} MB) -> {out_size / 1e6:.0f} MB JSONL")
    print(f"wall {seconds:.2f}s  cpu {cpu:.2f}s  {lines / seconds:,.0f} lines/s  "
          f"{actual / 1e6 / seconds:.0f} MB/s  {lines / cpu:,.0f} lines per CPU-second")  # fmt: skip
    if not args.keep:
        for p in (src, work / "out.jsonl"):
            p.unlink(missing_ok=True)
        if args.dir is None:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
