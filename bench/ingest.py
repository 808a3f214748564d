"""Ingestor throughput per format over TLS on 127.0.0.1, counted from the stored files.

    python bench/ingest.py [--seconds 8] [--workers 2] [--senders 2] [--formats json,proto,avro,syslog,raw]

Senders are separate processes replaying one pre-encoded buffer (about 1 MB of 100-byte-ish logs)
over TLS as fast as the ingestor takes it; every log is counted in the output files after a
graceful stop, so what is printed is what was stored. The ratio column is against json, measured
in the same run. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import sys
import tempfile
import time
from pathlib import Path

import zstandard

from workbench import model, wire
from workbench.codecs import get
from workbench.ingestor import Ingestor, IngestorConfig
from workbench.tls import client_context


def payload_for(fmt: str, logs: int = 10_000, batch: int = 500) -> tuple[bytes, bytes, int]:
    """(header, body, logs in body): a body of many frames/lines, replayed over and over."""
    base = model.now_utc()
    entries = [
        model.to_entry({
            "timestamp": base, "level": ("INFO", "WARN", "ERROR", "DEBUG")[i % 4],
            "service": ("auth", "payment-api", "inventory")[i % 3],
            "message": f"user {i % 977} did thing {i} in {i % 53} ms", "host": "web-1",
            "user_id": f"u{i % 977}", "trace_id": f"{i:016x}", "client_id": "bench", "seq": i,
        })
        for i in range(logs)
    ]  # fmt: skip
    header = wire.make_header(fmt)
    codec = get(fmt)
    parts = []
    for i in range(0, logs, batch):
        chunk = codec.encode(entries[i : i + batch])
        parts.append(wire.frame(chunk) if header.framing == "length" else chunk)
    return header.encode(), b"".join(parts), logs


def sender(port: int, cafile: str, fmt: str, seconds: float, sent: mp.Value) -> None:  # type: ignore[valid-type]
    header, body, logs = payload_for(fmt)
    ctx = client_context(Path(cafile))
    raw = socket.create_connection(("127.0.0.1", port))
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    sock.sendall(header)
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        sock.sendall(body)
        n += logs
    sock.unwrap()  # close_notify, so the receiver reads everything before the close
    sock.close()
    with sent.get_lock():  # type: ignore[attr-defined]
        sent.value += n  # type: ignore[attr-defined]


def count_stored(data_dir: Path) -> int:
    total = 0
    for path in data_dir.glob("log_*.jsonl*"):
        if path.suffix == ".zst":
            with open(path, "rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as r:
                for block in iter(lambda r=r: r.read(1 << 20), b""):
                    total += block.count(b"\n")
        else:
            total += path.read_bytes().count(b"\n")
    return total


async def run_format(fmt: str, seconds: float, workers: int, senders: int, tmp: Path) -> dict[str, float]:
    data_dir = tmp / fmt
    cfg = IngestorConfig(data_dir=data_dir, tcp_port=0, udp_port=None, http_port=None, workers=workers,
                         stats_line=False, compression_level=1)  # fmt: skip
    ing = Ingestor(cfg)
    await ing.start()
    ctx = mp.get_context("spawn")
    sent = ctx.Value("q", 0)
    procs = [ctx.Process(target=sender, args=(ing.tcp_port, ing.cert_path, fmt, seconds, sent)) for _ in range(senders)]
    for p in procs:
        p.start()
    samples: list[tuple[float, float]] = []  # (time, stored so far) while every sender runs
    while all(p.is_alive() for p in procs):
        await asyncio.sleep(0.5)
        samples.append((time.perf_counter(), ing.snapshot()["totals"]["logs"]))
    while any(p.is_alive() for p in procs):
        await asyncio.sleep(0.1)
    await ing.stop()
    stored = count_stored(data_dir)
    # steady state: from the first sample with logs stored (+1 s) to the last one before a sender ended
    busy = [s for s in samples if s[1] > 0]
    steady = [s for s in busy if s[0] >= busy[0][0] + 1.0] if busy else []
    if len(steady) >= 2:
        rate = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
    else:
        rate = float("nan")
    return {"sent": sent.value, "stored": stored, "logs_per_sec": rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--formats", default="json,proto,avro,syslog,raw")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            print(f"... {fmt}: {args.senders} TLS senders for {args.seconds:.0f}s into {args.workers} workers", file=sys.stderr, flush=True)
            r = asyncio.run(run_format(fmt, args.seconds, args.workers, args.senders, Path(tmp)))
            rows.append((fmt, r))
    base = next((r["logs_per_sec"] for f, r in rows if f == "json"), None)
    print(f"{'format':<9} {'stored logs/s':>14} {'stored':>11} {'sent':>11} {'lost':>6} {'vs json':>8}")
    for fmt, r in rows:
        ratio = f"{r['logs_per_sec'] / base:.2f}" if base else "-"
        print(f"{fmt:<9} {r['logs_per_sec']:>14,.0f} {r['stored']:>11,} {r['sent']:>11,} {r['sent'] - r['stored']:>6,} {ratio:>8}")


if __name__ == "__main__":
    main()
