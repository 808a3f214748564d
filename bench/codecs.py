"""Codec throughput: encode and decode records/s per format, payload size, ratio to JSON.

One batch of realistic entries (seeded) is built before the clock starts; each format encodes
it, and decodes its own payload, for a fixed time in several rounds. The table gives the
median round; ratios are against JSON measured in the same run, so they are comparable across
machines where the absolute numbers are not. Not a test: ``make bench`` runs it.

    .venv/bin/python bench/codecs.py [--quick] [--batch 1000] [--seconds 2] [--formats json,proto] [--seed 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from workbench import model
from workbench.codecs import FORMATS, get

SERVICES = ("payment-api", "checkout", "auth", "search", "inventory", "gateway")
HOSTS = tuple(f"web-{i}" for i in range(1, 9))
MESSAGES = (
    "charge failed for order {n}: card declined",
    "GET /api/v1/items/{n} 200 in 12ms",
    "user {n} logged in from 10.0.{n}.7",
    "cache miss for key item:{n}, fetching from the database",
    "retrying request {n} (attempt 2 of 5) after a timeout",
    "Bestellung {n} versandt nach München",
)
LEVEL_WEIGHTS = {"TRACE": 1, "DEBUG": 10, "INFO": 70, "WARN": 12, "ERROR": 6, "FATAL": 1}


def realistic_entries(count: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    start = dt.datetime(2025, 6, 30, 21, 0, tzinfo=dt.UTC)
    levels = rng.choices(list(LEVEL_WEIGHTS), weights=list(LEVEL_WEIGHTS.values()), k=count)
    records = []
    for i in range(count):
        attrs = {
            f"k{j}": rng.choice(("eu-west-1", "v2.3.1", "mobile", "42")) for j in range(rng.randint(0, 4))
        }
        records.append(
            {
                "timestamp": start + dt.timedelta(microseconds=i * 1013),
                "level": levels[i],
                "service": rng.choice(SERVICES),
                "message": rng.choice(MESSAGES).format(n=rng.randint(1, 99_999)),
                "host": rng.choice(HOSTS),
                "user_id": str(rng.randint(1, 10_000)) if rng.random() < 0.6 else None,
                "trace_id": f"{rng.getrandbits(128):032x}" if rng.random() < 0.5 else None,
                "client_id": "gen-1",
                "seq": i,
                "attributes": attrs,
            }
        )
    return model.to_entries(records)


def rate(fn: Callable[[], object], records: int, seconds: float, rounds: int = 5) -> float:
    """Median records/s over ``rounds`` rounds of about ``seconds / rounds`` each."""
    fn()  # warm up (caches, lazy imports)
    per_round = seconds / rounds
    rates = []
    for _ in range(rounds):
        n = 0
        start = time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= per_round:
                break
        rates.append(n * records / elapsed)
    return statistics.median(rates)


def measure(fmt: str, entries: list[Any], seconds: float) -> dict[str, float]:
    codec = get(fmt)
    payload = codec.encode(entries)
    decoded = codec.decode(payload)
    if decoded.errors or len(decoded.entries) != len(entries):  # measure only a codec that works
        raise SystemExit(f"{fmt}: decoding its own payload failed: {decoded.errors[:3]}")
    return {
        "encode": rate(lambda: codec.encode(entries), len(entries), seconds / 2),
        "decode": rate(lambda: codec.decode(payload), len(entries), seconds / 2),
        "bytes": len(payload) / len(entries),
    }


def table(results: dict[str, dict[str, float]]) -> str:
    head = ("format", "encode records/s", "decode records/s", "bytes/record", "decode ratio vs json")
    base = results["json"]["decode"] if "json" in results else None
    rows = [
        (
            fmt,
            f"{r['encode']:,.0f}",
            f"{r['decode']:,.0f}",
            f"{r['bytes']:.1f}",
            f"{r['decode'] / base:.2f}" if base else "-",
        )
        for fmt, r in results.items()
    ]
    widths = [max(len(str(row[i])) for row in (head, *rows)) for i in range(len(head))]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    for row in rows:
        cells = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="about 5 s in all (0.6 s per format)")
    ap.add_argument("--batch", type=int, default=1000, help="entries per payload (default 1000)")
    ap.add_argument("--seconds", type=float, default=None, help="time per format (default 6, quick 0.6)")
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated (json always runs first)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (0.6 if args.quick else 6.0)
    formats = ["json", *(f for f in args.formats.split(",") if f and f != "json")]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        ap.error(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}")

    entries = realistic_entries(args.batch, args.seed)
    libs = ", ".join(f"{p} {version(p)}" for p in ("msgspec", "protobuf", "fastavro"))
    print(
        f"codecs: batch {args.batch} entries, seed {args.seed}, {seconds:g} s per format | "
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs | {libs}",
        flush=True,
    )
    results = {}
    for fmt in formats:
        results[fmt] = measure(fmt, entries, seconds)
        print(f"  {fmt} done", file=sys.stderr, flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
