"""``python -m workbench generate``: the load generator, and with ``--blackhole`` its receiver.

A thin shell: flags (or ``--config-json``, every setting as one ``GeneratorConfig``, what the
scenario runner passes: ``workbench.contract``) to a config, the library object run on uvloop,
SIGINT/SIGTERM turned into a clean stop. On stdout: a ``ready`` event with the effective config
once the pool is built, the summary as a line and as a ``summary`` event; ``--summary-json``
writes it to a file too. ``processes > 1`` runs one child ``generate --config-json`` per
process (``config.split``: own client ids, seed, share of count and rate) and merges the summaries.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic

from workbench import contract, eventloop
from workbench.errors import ConfigError, config_error
from workbench.formats import FORMATS, GENERATOR_PROTOCOLS
from workbench.generator.config import (
    GeneratorConfig,
    parse_burst,
    parse_level_mix,
    parse_seconds,
    parse_targets,
    resolve,
    split,
)

if TYPE_CHECKING:
    from workbench.generator.blackhole import BlackholeConfig


class _Default(int):
    """A flag's default told apart from the same number given: ``--udp-port`` left out means
    GELF's port for gelf-udp, while a given 3002 stays 3002."""


UDP_PORT = _Default(3002)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "generate",
        help="send realistic logs (TLS TCP, UDP or a file); --blackhole: receive and count them",
        description="Load generator: realistic logs from a pre-encoded pool, paced, with per-client seqs.",
    )
    net = p.add_argument_group("where to")
    net.add_argument("--address", default="127.0.0.1", help="receiver address (default 127.0.0.1)")
    net.add_argument("--tcp-port", type=int, default=3001, help="TCP/TLS port (default 3001)")
    net.add_argument("--udp-port", type=int, default=UDP_PORT,
                     help="UDP port (default 3002; with --protocol gelf-udp 12201, GELF's)")  # fmt: skip
    net.add_argument("--targets", metavar="HOST:PORT,...",
                     help="several receivers: client n sends to the (n mod k)-th (overrides --address and the port)")  # fmt: skip
    net.add_argument("--udp", action="store_true", help="send over UDP (json, raw or syslog lines)")
    net.add_argument("--no-tls", action="store_true", help="plain TCP instead of TLS")
    net.add_argument("--ca", type=Path, help="CA file to verify the receiver's certificate")
    net.add_argument("--insecure", action="store_true", help="TLS without certificate verification")
    net.add_argument("--ack", action="store_true", help="ack mode: keep frames until acknowledged, resend")
    net.add_argument("--no-header", action="store_true",
                     help="send no format header (third-party receivers: octet-counted syslog, JSON lines)")  # fmt: skip
    net.add_argument("--output", type=Path, help="write the logs to this file instead of the network")
    net.add_argument("--file-format", choices=("json", "csv", "text"), default="json", help="with --output")
    what = p.add_argument_group("what")
    what.add_argument("--format", choices=FORMATS, default="json", help="wire format (default json)")
    what.add_argument("--protocol", choices=GENERATOR_PROTOCOLS,
                      help="a shipper's protocol instead of --format: HTTP/1.1 or gRPC requests of --batch "
                           "records (each answer an ack), Forward messages of --batch records (--ack: chunk "
                           "acks), GELF over TCP/TLS or UDP (no acks)")  # fmt: skip
    what.add_argument("--compress", choices=("none", "gzip", "zlib"), default="none",
                      help="with --protocol: gzip bodies (HTTP, gRPC, Forward), gzip or zlib GELF datagrams")  # fmt: skip
    what.add_argument("--auth-token", help="token the receiver asks for (the protocol's Authorization)")
    what.add_argument("--registry", metavar="URL", help="schema registry to take the log schemas from")
    what.add_argument("--replay", type=Path, metavar="FILE", help="replay the lines of a real log file")
    what.add_argument("--level-mix", help="level weights, default ERROR=5,WARN=10,INFO=70,DEBUG=15")
    what.add_argument("--seed", type=int, help="seed of every random choice (printed when generated)")
    what.add_argument("--client-prefix", help="client ids are PREFIX-<n> (default gen-<random hex>)")
    what.add_argument("--start-time", help="logical timestamps from this ISO time (reproducible bytes)")
    what.add_argument("--pool-logs", type=int, default=8192, help="logs pre-encoded before the clock starts")
    how = p.add_argument_group("how much and how fast")
    how.add_argument("--batch", type=int, default=100, help="logs per batch (default 100)")
    how.add_argument(
        "--interval", type=float, default=1000, help="ms between batches per client (default 1000)"
    )
    how.add_argument("--rate", type=float, help="target logs/s over all clients (overrides --interval)")
    how.add_argument("--count", type=int, help="stop after this many logs")
    how.add_argument("--duration", help="stop after this long (e.g. 30s, 2m)")
    how.add_argument("--clients", type=int, default=1, help="concurrent connections (default 1)")
    how.add_argument("--processes", type=int, default=1, help="generator processes (default 1)")
    how.add_argument("--burst", help="periodic spikes FACTORx,LENGTH,PERIOD, e.g. 5x,2s,10s")
    how.add_argument("--max-datagram-bytes", type=int, default=1400, help="UDP datagram limit (default 1400)")
    rep = p.add_argument_group("reporting")
    rep.add_argument(
        "--stats-interval", type=float, default=5.0, help="seconds between stats lines (0: none)"
    )
    rep.add_argument("--summary-json", type=Path, help="write the final summary here as JSON")
    hole = p.add_argument_group("blackhole (receiver)")
    hole.add_argument(
        "--blackhole", action="store_true", help="receive, count and discard instead of sending"
    )
    hole.add_argument("--tls-dir", type=Path, default=Path(".workbench/tls"),
                      help="blackhole: where its self-signed certificate lives")  # fmt: skip
    hole.add_argument("--drop-after", type=int, help="blackhole: drop each connection after N frames")
    hole.add_argument("--verify", action="store_true", help="blackhole: decode and track every client's seqs")
    contract.add_argument(p, GeneratorConfig)
    p.set_defaults(func=run, _parser=p)
    return p


def config_from_args(args: argparse.Namespace) -> GeneratorConfig:
    transport = "file" if args.output else ("udp" if args.udp or args.protocol == "gelf-udp" else "tcp")
    fields: dict[str, Any] = {
        "address": args.address, "tcp_port": args.tcp_port, "transport": transport,
        "tls": not args.no_tls, "ca_file": args.ca, "insecure": args.insecure, "ack": args.ack, "header": not args.no_header,
        "output_file": args.output, "file_format": args.file_format, "format": args.format,
        "protocol": args.protocol, "compression": args.compress, "auth_token": args.auth_token,
        "registry_url": args.registry, "replay_file": args.replay, "seed": args.seed,
        "client_prefix": args.client_prefix, "pool_logs": args.pool_logs, "batch_size": args.batch,
        "interval_ms": args.interval, "rate_per_second": args.rate, "count": args.count, "clients": args.clients,
        "processes": args.processes,
        "max_datagram_bytes": args.max_datagram_bytes, "stats_interval_seconds": args.stats_interval,
        "summary_json": args.summary_json,
    }  # fmt: skip
    if args.udp_port is not UDP_PORT or args.protocol != "gelf-udp":  # else the config's: GELF's port
        fields["udp_port"] = int(args.udp_port)
    if args.targets:
        fields["targets"] = parse_targets(args.targets)
    if args.level_mix:
        fields["level_mix"] = parse_level_mix(args.level_mix)
    if args.duration:
        fields["duration_seconds"] = parse_seconds(args.duration)
    if args.burst:
        fields["burst"] = parse_burst(args.burst)
    if args.start_time:
        try:
            start = dt.datetime.fromisoformat(args.start_time)
        except ValueError:
            raise ConfigError(f"--start-time {args.start_time!r} is not an ISO 8601 time") from None
        fields["start_time"] = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
    try:
        return GeneratorConfig(**fields)
    except pydantic.ValidationError as exc:
        raise config_error(exc) from None


def _on_signals(callback: Any) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, callback, sig)


def run(args: argparse.Namespace) -> int:
    if args.blackhole:
        return run_blackhole(args)
    config = contract.from_args(args, GeneratorConfig, "generate", config_from_args)
    if config.processes > 1:
        return run_processes(config)
    return eventloop.run(_generate(config))


async def _generate(config: GeneratorConfig) -> int:
    from workbench.generator.generator import Generator  # the pool (numpy, the codecs): only to send

    gen = Generator(config, on_stats=lambda line: print(line, file=sys.stderr, flush=True))
    seed_note = "given" if config.seed is not None else "generated"
    print(f"seed={gen.seed} ({seed_note})", file=sys.stderr, flush=True)
    _on_signals(lambda sig: asyncio.ensure_future(gen.stop(f"signal {signal.Signals(sig).name}")))
    await gen.prepare()
    contract.emit("ready", "generator", config=gen.effective_config())
    summary = await gen.run()
    print(gen.stats.line(final=True) + f" seed={summary.seed} stopped_by={summary.stopped_by}", flush=True)
    if config.summary_json is not None:
        summary.write_json(config.summary_json)
    contract.emit("summary", "generator", **summary.as_dict())
    return 0


def run_blackhole(args: argparse.Namespace) -> int:
    from workbench.generator.blackhole import BlackholeConfig

    udp_port = int(args.udp_port)
    try:
        config = BlackholeConfig(
            address=args.address, tcp_port=args.tcp_port, udp_port=udp_port if args.udp else None,
            tls=not args.no_tls, tls_dir=args.tls_dir, drop_after_frames=args.drop_after, verify=args.verify,
        )  # fmt: skip
    except pydantic.ValidationError as exc:
        raise config_error(exc) from None
    return eventloop.run(_blackhole(config, args.stats_interval, args.summary_json))


async def _blackhole(config: BlackholeConfig, stats_interval: float, summary_json: Path | None) -> int:
    from workbench.generator.blackhole import Blackhole

    hole = Blackhole(config)
    await hole.start()
    done = asyncio.Event()
    _on_signals(lambda sig: done.set())
    print(f"blackhole listening tcp={hole.tcp_port} udp={hole.udp_port} tls={'on' if config.tls else 'off'}"
          + (f" cert={hole.cert_file}" if hole.cert_file else ""), flush=True)  # fmt: skip
    loop = asyncio.get_running_loop()
    start = last_t = loop.time()
    last_n = 0
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), stats_interval if stats_interval > 0 else None)
        now, n = loop.time(), hole.totals.received_logs_total
        if stats_interval > 0 and not done.is_set():
            print(f"blackhole t={now - start:.1f}s received={n} logs rate={(n - last_n) / (now - last_t):,.0f} "
                  f"logs/s conns={len(hole.conns)}", file=sys.stderr, flush=True)  # fmt: skip
            last_t, last_n = now, n
    await hole.stop()
    report = hole.report()
    print("blackhole summary " + " ".join(f"{k}={v}" for k, v in report["totals"].items()), flush=True)
    if summary_json is not None:
        summary_json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def run_processes(config: GeneratorConfig) -> int:
    """``config.processes`` child generators (``generate --config-json``), signals forwarded,
    summaries merged. The children's stdout goes to this one's stderr: only this process's
    events reach the caller."""
    config = resolve(config)
    seed = int(config.seed or 0)
    print(f"seed={seed} processes={config.processes}", file=sys.stderr, flush=True)
    contract.emit("ready", "generator", config=config.model_dump(mode="json"))
    with tempfile.TemporaryDirectory() as tmp:
        children = []
        for i, part in enumerate(split(config)):
            part = part.model_copy(update={"summary_json": Path(tmp) / f"{i}.json"})
            children.append(subprocess.Popen([sys.executable, "-m", "workbench", *contract.args("generate", part)],
                                             stdout=sys.stderr, stdin=subprocess.DEVNULL))  # fmt: skip

        def forward(sig: int, _frame: Any) -> None:
            for c in children:
                with contextlib.suppress(ProcessLookupError):
                    c.send_signal(sig)

        old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            codes = [c.wait() for c in children]
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        parts = [json.loads(p.read_text()) for p in sorted(Path(tmp).glob("*.json"))]
    merged = merge_summaries(parts, seed)
    sent = merged["totals"]["sent_logs_total"]
    print(f"summary processes={config.processes} sent={sent} logs rate={merged['logs_per_second']:,.0f} logs/s",
          flush=True)  # fmt: skip
    if config.summary_json:
        config.summary_json.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    contract.emit("summary", "generator", **merged)
    return max(codes)


def merge_summaries(parts: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    if not parts:
        raise ConfigError("no generator process wrote a summary")
    totals: dict[str, int] = {}
    responses: dict[str, int] = {}
    for p in parts:
        for k, v in p["totals"].items():
            totals[k] = totals.get(k, 0) + v
        for k, v in p.get("responses", {}).items():
            responses[k] = responses.get(k, 0) + v
    duration = max(p["duration_seconds"] for p in parts)
    return {
        **{k: parts[0][k] for k in ("version", "format", "transport", "tls", "ack", "schema_source")},
        "seed": seed,
        "process_seeds": [p["seed"] for p in parts],
        "processes": len(parts),
        "duration_seconds": duration,
        "cpu_seconds": round(sum(p.get("cpu_seconds", 0.0) for p in parts), 6),
        "logs_per_second": round(totals.get("sent_logs_total", 0) / max(duration, 1e-9), 1),
        "mb_per_second": round(totals.get("sent_bytes_total", 0) / max(duration, 1e-9) / 1e6, 3),
        "stopped_by": ",".join(sorted({p["stopped_by"] for p in parts})),
        "protocol": parts[0].get("protocol"),
        "responses": dict(sorted(responses.items())),
        "totals": totals,
        "clients": [c for p in parts for c in p["clients"]],
    }


def main_standalone(argv: list[str] | None = None) -> None:
    """The ``generate`` verb alone (``python -m workbench.generator``), as the workbench CLI runs it."""
    from workbench.cli import main as workbench_main

    workbench_main(["generate", *(sys.argv[1:] if argv is None else argv)])
