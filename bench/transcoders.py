"""Transcoder throughput: records/s of each compiled entry point, and the ratio to a baseline build.

The compiled transcoders (``workbench/speedups/``) are timed on payloads built before the clock
starts (seeded, realistic entries, the ingestor's stored-field tail), in interleaved rounds; the
table gives the median round. With ``--baseline DIR`` (a folder holding another build's
``_json*.so``... files, e.g. a worktree of an older commit after ``make venv``) both builds run
in the same process, round by round, and the last column is this build over the baseline.

    .venv/bin/python bench/transcoders.py [--baseline ../old/workbench/speedups] [--rounds 7] [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from workbench.codecs.avro import AvroCodec
from workbench.codecs.json import JsonCodec
from workbench.codecs.proto import ProtoCodec
from workbench.codecs.raw import RawCodec
from workbench.codecs.syslog import SyslogCodec

TAIL = b',"received_at":"2026-12-01T23:11:00.123456Z","format":"syslog","transport":"tls","peer":"127.0.0.1:54321"}\n'
MODULES = ("_json", "_raw", "_syslog", "_binary")


def entries(count: int, seed: int) -> list[object]:
    """``bench/codecs.py``'s realistic entries (loaded by path: its name is the stdlib's)."""
    spec = importlib.util.spec_from_file_location(
        "bench_codecs", Path(__file__).resolve().parent / "codecs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.realistic_entries(count, seed)


def load(name: str, folder: Path | None) -> ModuleType:
    if folder is None:
        return importlib.import_module(f"workbench.speedups.{name}")
    path = next(folder.glob(f"{name}.*.so"))
    spec = importlib.util.spec_from_file_location(f"workbench.speedups.{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(mods: dict[str, ModuleType], batch: int, seed: int) -> dict[str, tuple[Callable[[], object], int]]:
    es = entries(batch, seed)
    j, r, s, b = mods["_json"], mods["_raw"], mods["_syslog"], mods["_binary"]
    js, raw = JsonCodec().encode(es), RawCodec().encode(es)
    lines, octet = SyslogCodec(octet_counting=False).encode(es), SyslogCodec(octet_counting=True).encode(es)
    proto, avro = ProtoCodec().encode(es), AvroCodec().encode(es)
    return {
        "json": (lambda: j.transcode(js, TAIL), batch),
        "raw": (lambda: r.transcode(raw, TAIL), batch),
        "syslog lines": (lambda: s.stored_lines(lines, TAIL), batch),
        "syslog octet": (lambda: s.stored_octet(octet, len(octet), TAIL), batch),
        "proto": (lambda: b.proto_transcode(proto, TAIL), batch),
        "avro": (lambda: b.avro_transcode(avro, 5, TAIL), batch),
        "proto count": (lambda: b.proto_count(proto), batch),
    }


def rate(call: Callable[[], object], records: int, seconds: float) -> float:
    assert call() is not None, "the transcoder declined the benchmark payload"
    n = 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        call()
        n += 1
    return n * records / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, help="folder with the baseline build's .so files")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.5, help="per entry point and round")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    builds = {"this": cases({m: load(m, None) for m in MODULES}, args.batch, args.seed)}
    if args.baseline:
        builds["baseline"] = cases({m: load(m, args.baseline) for m in MODULES}, args.batch, args.seed)
    rounds: dict[tuple[str, str], list[float]] = {}
    for i in range(args.rounds):
        for name in builds["this"]:
            for build, table in builds.items():  # interleaved: both builds see the same machine
                call, records = table[name]
                rounds.setdefault((build, name), []).append(rate(call, records, args.seconds))
        print(f"round {i + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    head = f"{'entry point':<14}{'records/s':>14}"
    print(head + (f"{'baseline':>14}{'ratio':>8}" if args.baseline else ""))
    for name in builds["this"]:
        this = statistics.median(rounds[("this", name)])
        line = f"{name:<14}{this:>14,.0f}"
        if args.baseline:
            base = statistics.median(rounds[("baseline", name)])
            line += f"{base:>14,.0f}{this / base:>8.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
