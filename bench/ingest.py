"""Ingestor throughput per format over TLS on 127.0.0.1, counted from the stored files, against
the limits of its building blocks measured in the same run.

    python bench/ingest.py [--seconds 8] [--workers 1,2] [--senders 2] [--formats json,proto,avro,syslog,raw]
                           [--protocols otlp-http,otlp-grpc,otlp-json,hec,elasticsearch,loki,loki-protobuf,
                                        forward,gelf-tcp,gelf-udp] [--gelf-udp-rate 100000]

Senders are separate processes replaying one pre-encoded buffer (about 1 MB of 100-byte-ish logs)
over TLS as fast as the ingestor takes it; every log is counted in the output files after a
graceful stop, so what is printed is what was stored. The ratio column is against json, measured
in the same run. Not a test: numbers depend on the machine.

Building blocks, each alone on the same machine: the same senders into a TLS sink that only
reads (transport ceiling, MB/s), zstd at the ingestor's level on stored JSONL (MB/s on one
core), and one worker's session from reads to stored lines for each format (records/s on one
core: framing, decoding, validation and the stored form, without TLS or the writer). Each format's ceiling is the lowest of: transport MB/s over its bytes per
log, decode records/s times the workers (where the cores allow), and zstd MB/s times the workers
over the stored bytes per log; "of ceiling" says how close the ingestor gets. With more than
one ``--workers`` value the scaling table gives stored logs/s per worker count.

``--protocols`` adds the shippers' protocols: each is sent by ``--senders`` generator processes
(``python -m workbench generate --protocol P``, 2 keep-alive clients each, 1,000-record requests
from a pre-encoded request pool, each answer an ack) into the same ingestor setup, and printed
with its stored logs/s against our ``proto`` stream in the same run (``proto`` is added to
``--formats`` when missing), and against our proto stream sent by the same generator in ack mode
(the first row): that ratio compares the ingestor's work per protocol with the sender's cost
the same for both. ``forward`` sends 1,000-entry PackedForward messages with chunk acks
(``--ack``); ``gelf-tcp`` 1,000 messages a write, no acks; ``gelf-udp`` goes to the ingestor's
GELF port paced at ``--gelf-udp-rate`` logs/s in all (0: unpaced), so ``lost`` (sent, not
stored) is what UDP dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

import zstandard

from workbench import model, wire
from workbench.codecs import get
from workbench.formats import GENERATOR_PROTOCOLS
from workbench.ingestor import Ingestor, IngestorConfig
from workbench.ingestor.decoding import Codecs, Rejects, SchemaSet, Session, WorkerContext
from workbench.ingestor.metrics import WorkerMetrics
from workbench.ingestor.pipeline import Batch
from workbench.tls import client_context, ensure_self_signed, server_context


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
    procs = [
        ctx.Process(target=sender, args=(ing.tcp_port, ing.cert_path, fmt, seconds, sent))
        for _ in range(senders)
    ]
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


def _sink(port: mp.Value, cert: str, key: str, received: mp.Value, expect: int) -> None:  # type: ignore[valid-type]
    """A TLS server that reads and discards ``expect`` connections: the transport alone."""
    import uvloop

    async def serve() -> None:
        done = asyncio.Event()
        left = [expect]
        total = [0]

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while chunk := await reader.read(1 << 18):
                total[0] += len(chunk)
            writer.close()
            left[0] -= 1
            if not left[0]:
                done.set()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context(Path(cert), Path(key)),
                                            limit=1 << 20)  # fmt: skip
        port.value = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        await done.wait()
        server.close()
        received.value = total[0]  # type: ignore[attr-defined]

    uvloop.run(serve())


def transport_ceiling(seconds: float, senders: int, tmp: Path) -> float:
    """MB/s our senders push through TLS on 127.0.0.1 into a reader that does nothing else."""
    cert, key, _ = ensure_self_signed(tmp / "tls")
    ctx = mp.get_context("spawn")
    port, received, sent = ctx.Value("i", 0), ctx.Value("q", 0), ctx.Value("q", 0)
    sink = ctx.Process(target=_sink, args=(port, str(cert), str(key), received, senders))
    sink.start()
    deadline = time.monotonic() + 30
    while not port.value and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    start = time.perf_counter()
    procs = [
        ctx.Process(target=sender, args=(port.value, str(cert), "json", seconds, sent))
        for _ in range(senders)
    ]  # type: ignore[attr-defined]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    sink.join(30)
    return received.value / (time.perf_counter() - start) / 1e6  # type: ignore[attr-defined]


def _per_second(fn: object, n: int, seconds: float) -> float:
    best = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        best = max(best, n / (time.perf_counter() - t))
    return best


def worker_work(fmt: str, seconds: float) -> tuple[float, float, float]:
    """(records/s one worker's session takes from reads to stored lines on one core, wire
    bytes/log, stored bytes/log): the worker's CPU work without TLS, the queue and the writer."""
    import gc

    gc.set_threshold(200_000, 50, 100)  # as the workers run
    header, body, logs = payload_for(fmt)
    batches: list[Batch] = []
    metrics = WorkerMetrics()
    with tempfile.TemporaryDirectory() as tmp:
        worker = WorkerContext(Codecs(SchemaSet()), Rejects(Path(tmp), 0, metrics), metrics,
                        lambda b: batches.append(b) or True, 1 << 20, 16 << 20)  # fmt: skip

        def work() -> bytes:
            batches.clear()
            session = Session(worker, "tls", "127.0.0.1:1", "127.0.0.1", lambda _: None)
            session.feed(header)
            for i in range(0, len(body), 1 << 18):  # reads as large as the TLS transport gives
                session.feed(body[i : i + (1 << 18)])
            session.eof()
            return b"".join(b.data for b in batches)

        out = work()
        if (stored := out.count(b"\n")) != logs:
            raise SystemExit(f"{fmt}: the worker path stored {stored} of {logs} logs")
        return _per_second(work, logs, seconds), len(body) / logs, len(out) / logs


def zstd_ceiling(seconds: float, level: int = 1) -> float:
    """MB/s of stored JSONL that zstd compresses on one core at the ingestor's level."""
    _, body, _ = payload_for("json")
    data = body * 8
    cctx = zstandard.ZstdCompressor(level=level)
    return _per_second(lambda: cctx.compress(data), len(data), seconds) / 1e6


async def run_protocol(
    protocol: str, seconds: float, workers: int, senders: int, tmp: Path, gelf_udp_rate: float = 100_000
) -> dict[str, float]:
    """Stored logs/s of a shipper protocol sent by our generator (steady state, as ``run_format``)."""
    import json
    import subprocess

    data_dir = tmp / protocol
    cfg = IngestorConfig(data_dir=data_dir, tcp_port=0, udp_port=None, http_port=None, workers=workers,
                         stats_line=False, compression_level=1,
                         gelf_port=0 if protocol == "gelf-udp" else None)  # fmt: skip
    ing = Ingestor(cfg)
    await ing.start()
    extra = {"forward": ["--ack"]}.get(protocol, [])
    how = ["--protocol", protocol]
    if protocol == GENERATOR_PROTO:  # our own stream from the same generator, acked as requests are
        how, extra = ["--format", "proto"], ["--ack"]
    batch = "1000"
    if protocol == "gelf-udp":  # bursts of 100 datagrams, paced: UDP has no back-pressure
        extra, batch = ["--udp-port", str(ing.standard_ports["gelf_port"])], "100"
        if gelf_udp_rate:
            extra += ["--rate", str(gelf_udp_rate / senders)]

    def command(i: int) -> list[str]:
        return [sys.executable, "-m", "workbench", "generate", *how, "--tcp-port",
                str(ing.tcp_port), "--ca", str(ing.cert_path), "--duration", f"{seconds}s", "--clients", "2",
                "--batch", batch, "--interval", "0", "--stats-interval", "0", "--client-prefix", f"b{i}",
                "--summary-json", str(tmp / f"{protocol}-{i}.json"), *extra]  # fmt: skip

    procs = [subprocess.Popen(command(i), stdout=subprocess.DEVNULL) for i in range(senders)]
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + seconds + 60
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        samples.append((time.perf_counter(), ing.snapshot()["totals"]["logs"]))
    for p in procs:
        p.wait(timeout=max(1.0, deadline - time.monotonic()))
    await ing.stop()
    stored = count_stored(data_dir)
    summaries = [json.loads((tmp / f"{protocol}-{i}.json").read_text()) for i in range(senders)]
    sent = sum(s["totals"]["sent_logs_total"] for s in summaries)
    acked = sum(s["totals"]["acked_logs_total"] for s in summaries)
    failed = sum(s["totals"]["failed_logs_total"] for s in summaries)
    busy = [s for s in samples if s[1] > 0]
    steady = [s for s in busy if s[0] >= busy[0][0] + 1.0] if busy else []
    rate = (
        (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) if len(steady) >= 2 else float("nan")
    )
    return {"sent": sent, "acked": acked, "failed": failed, "stored": stored, "logs_per_sec": rate}


GENERATOR_PROTO = "proto (generator, acked)"  # the baseline row of the shippers' table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts (scaling table)")
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--formats", default="json,proto,avro,syslog,raw")
    ap.add_argument(
        "--protocols", default="", help="shippers' protocols to add, e.g. otlp-http,otlp-grpc,hec,forward"
    )
    ap.add_argument(
        "--gelf-udp-rate", type=float, default=100_000, help="gelf-udp's pace in logs/s (0: unpaced)"
    )
    args = ap.parse_args()
    formats = args.formats.split(",")
    protocols = [p for p in args.protocols.split(",") if p]
    unknown = sorted(set(protocols) - set(GENERATOR_PROTOCOLS))
    if unknown:
        ap.error(f"--protocols: unknown {', '.join(unknown)} (known: {', '.join(GENERATOR_PROTOCOLS)})")
    if protocols and "proto" not in formats:
        formats.append("proto")
    prows: dict[str, dict[str, float]] = {}
    worker_counts = [int(w) for w in args.workers.split(",")]
    cores = os.cpu_count() or 1
    rows: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"... building blocks: TLS transport ({args.senders} senders, {args.seconds:.0f}s), zstd, "
              f"worker CPU per format", file=sys.stderr, flush=True)  # fmt: skip
        tls_mb = transport_ceiling(args.seconds, args.senders, Path(tmp))
        zstd_mb = zstd_ceiling(2.0)
        work = {fmt: worker_work(fmt, 2.0) for fmt in formats}
        for workers in worker_counts:
            for fmt in formats:
                print(f"... {fmt}: {args.senders} TLS senders for {args.seconds:.0f}s into {workers} workers",
                      file=sys.stderr, flush=True)  # fmt: skip
                rows[fmt, workers] = asyncio.run(
                    run_format(fmt, args.seconds, workers, args.senders, Path(tmp) / f"w{workers}")
                )
        for protocol in [GENERATOR_PROTO, *protocols]:
            top = max(worker_counts)
            print(f"... {protocol}: {args.senders} generator processes for {args.seconds:.0f}s into {top} workers",
                  file=sys.stderr, flush=True)  # fmt: skip
            prows[protocol] = asyncio.run(
                run_protocol(protocol, args.seconds, top, args.senders, Path(tmp) / "p", args.gelf_udp_rate)
            )
    print(
        f"building blocks on this machine ({cores} cores, {ssl.OPENSSL_VERSION}, Python {sys.version.split()[0]}):"
    )
    print(f"  TLS 127.0.0.1, {args.senders} senders into a reader that discards: {tls_mb:,.0f} MB/s")
    print(f"  zstd level 1 on stored JSONL, one core: {zstd_mb:,.0f} MB/s")
    top = max(worker_counts)
    print(f"\nper format, {top} worker(s), {args.senders} TLS senders on the same cores:")
    head = (f"{'format':<8} {'stored logs/s':>14} {'lost':>6} {'vs json':>8} {'wire B/log':>10} "
            f"{'worker rec/s/core':>18} {'ceiling logs/s':>15} {'limit':>9} {'of ceiling':>10}")  # fmt: skip
    print(head)
    base = rows.get(("json", top), {}).get("logs_per_sec")
    for fmt in formats:
        r = rows[fmt, top]
        per_core, wire_bytes, stored_bytes = work[fmt]
        limits = {
            "transport": tls_mb * 1e6 / wire_bytes,
            "worker": per_core * min(top, cores),
            "zstd": zstd_mb * 1e6 * min(top, cores) / stored_bytes,
        }
        which = min(limits, key=limits.__getitem__)
        ratio = f"{r['logs_per_sec'] / base:.2f}" if base else "-"
        print(f"{fmt:<8} {r['logs_per_sec']:>14,.0f} {r['sent'] - r['stored']:>6,} {ratio:>8} {wire_bytes:>10.0f} "
              f"{per_core:>18,.0f} {limits[which]:>15,.0f} {which:>9} {r['logs_per_sec'] / limits[which]:>10.0%}")  # fmt: skip
    if protocols:
        proto_rate = rows[("proto", top)]["logs_per_sec"]
        same_sender = prows[GENERATOR_PROTO]["logs_per_sec"]
        print(f"\nshippers' protocols, {top} worker(s), {args.senders} generator processes x 2 clients, "
              "1,000 records a request or message over TLS (gelf-udp: plain UDP); 'vs proto' against the "
              "pre-encoded proto sender above, 'vs gen' against our proto stream from the same generator:")  # fmt: skip
        print(f"{'protocol':<24} {'stored logs/s':>14} {'sent':>10} {'acked':>10} {'stored':>10} {'lost':>8} "
              f"{'failed':>7} {'vs proto':>9} {'vs gen':>7}")  # fmt: skip
        for protocol in [GENERATOR_PROTO, *protocols]:
            r = prows[protocol]
            print(f"{protocol:<24} {r['logs_per_sec']:>14,.0f} {r['sent']:>10,} {r['acked']:>10,} {r['stored']:>10,} "
                  f"{r['sent'] - r['stored']:>8,} {r['failed']:>7,} {r['logs_per_sec'] / proto_rate:>9.2f} "
                  f"{r['logs_per_sec'] / same_sender:>7.2f}")  # fmt: skip
    if len(worker_counts) > 1:
        print("\nscaling: stored logs/s by worker count (ratio to the first)")
        print(f"{'format':<8} " + " ".join(f"{f'{w} worker(s)':>14}" for w in worker_counts))
        for fmt in formats:
            first = rows[fmt, worker_counts[0]]["logs_per_sec"]
            cells = [
                f"{rows[fmt, w]['logs_per_sec']:>8,.0f} x{rows[fmt, w]['logs_per_sec'] / first:.2f}"
                for w in worker_counts
            ]
            print(f"{fmt:<8} " + " ".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
