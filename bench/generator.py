"""Generator ceiling per format: logs/s into the blackhole over TLS, ratio to JSON.

One generator process per format (one core: the CPU affinity is pinned when the machine has
more than one), the blackhole in another process (pinned to another core). Pre-encoded pools,
``--interval 0`` (as fast as the receiver takes it), default batch 100.

    .venv/bin/python bench/generator.py [--count 3000000] [--formats json,proto,...] [--no-tls]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORMATS = ("json", "proto", "avro", "raw", "syslog", "journald")


def _pin(cpu: int) -> object:
    def pin() -> None:
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {cpu % (os.cpu_count() or 1)})

    return pin


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=3_000_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--no-tls", action="store_true")
    ap.add_argument("--ack", action="store_true")
    ap.add_argument("--processes", type=int, default=1,
                    help="generator processes (over 1: not pinned, the blackhole still is)")  # fmt: skip
    args = ap.parse_args()
    gen = [sys.executable, "-m", "workbench.generator"]
    with tempfile.TemporaryDirectory() as tmp:
        tls = [] if args.no_tls else ["--tls-dir", f"{tmp}/tls"]
        hole = subprocess.Popen([*gen, "--blackhole", "--tcp-port", "0", "--stats-interval", "0", *tls,
                                 *(["--no-tls"] if args.no_tls else [])],
                                stdout=subprocess.PIPE, text=True, preexec_fn=_pin(1))  # fmt: skip
        assert hole.stdout is not None
        port = re.search(r"tcp=(\d+)", hole.stdout.readline()).group(1)  # type: ignore[union-attr]
        rows = []
        try:
            for fmt in args.formats.split(","):
                out = Path(tmp) / f"{fmt}.json"
                cmd = [*gen, "--tcp-port", port, "--format", fmt, "--interval", "0", "--count", str(args.count),
                       "--batch", str(args.batch), "--stats-interval", "0", "--summary-json", str(out),
                       *(["--no-tls"] if args.no_tls else ["--ca", f"{tmp}/tls/ingestor-cert.pem"]),
                       *(["--ack"] if args.ack else []), "--processes", str(args.processes)]  # fmt: skip
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.monotonic()
                pin = _pin(0) if args.processes == 1 else None
                subprocess.run(
                    cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin
                )
                wall = time.monotonic() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall
                s = json.loads(out.read_text())
                t = s["totals"]
                rows.append((fmt, s["logs_per_second"], s["mb_per_second"], t["sent_bytes_total"] / t["sent_logs_total"],
                             cpu, t["sent_logs_total"] / max(s["cpu_seconds"], 1e-9)))  # fmt: skip
                time.sleep(0.2)
        finally:
            hole.send_signal(signal.SIGTERM)
            hole.wait(30)
    base = next((r[1] for r in rows if r[0] == "json"), rows[0][1])
    transport = "tcp" if args.no_tls else "tls"
    print(f"\ngenerator -> blackhole, {transport}{' ack' if args.ack else ''}, batch {args.batch}, "
          f"{args.count:,} logs per format, {args.processes} generator process(es), cpus={os.cpu_count()}")  # fmt: skip
    print("gen cpu: the generator process's CPU over its whole run (start-up included); well under 100%")
    print("means it waited for the blackhole or for a busy machine. logs/cpu-s: logs per second of the")
    print("generator's own CPU time while sending = its one-core ceiling.")
    print(
        f"{'format':<10}{'logs/s':>12}{'MB/s':>8}{'B/log':>7}{'vs json':>9}{'gen cpu':>9}{'logs/cpu-s':>12}{'vs json':>9}"
    )
    cbase = next((r[5] for r in rows if r[0] == "json"), rows[0][5])
    for fmt, lps, mbs, bpl, cpu, lpc in rows:
        print(
            f"{fmt:<10}{lps:>12,.0f}{mbs:>8.1f}{bpl:>7.0f}{lps / base:>9.2f}{cpu:>8.0%}{lpc:>12,.0f}{lpc / cbase:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
