"""``python -m workbench ingest``: run the ingestor until SIGINT/SIGTERM.

Settings come from the flags, or all of them from ``--config-json`` (``IngestorConfig`` as JSON,
what the scenario runner passes in every placement: ``workbench.contract``). It answers with a
``ready`` event (ports and effective config) and, when stopped, a ``summary`` event.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from workbench import contract, eventloop
from workbench.errors import ConfigError, config_error
from workbench.formats import STANDARD_PORTS
from workbench.ingestor.config import Compression, IngestorConfig, OutputFormat, Overflow
from workbench.units import parse_bytes


def add_parser(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "ingest",
        help="run the ingestor (TLS TCP for every format, UDP, metrics)",
        description="Receive logs on one TLS TCP port (every format) and UDP, validate, store JSONL rotated and compressed.",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="where logs, rejected/ and tls/ go (default: data)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--tcp-port", type=int, default=3001, help="TLS/TCP port, every format (default 3001; 0 = any)"
    )
    p.add_argument("--udp-port", type=int, default=3002, help="UDP port (default 3002; 0 = any)")
    p.add_argument("--no-udp", action="store_true", help="do not listen on UDP")
    p.add_argument("--http-port", type=int, default=8080, help="metrics and page (default 8080; 0 = any)")
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: CPU cores; 0 = in this process)",
    )
    p.add_argument("--registry", metavar="URL", help="schema registry URL (default: the bundled schemas/)")
    p.add_argument("--cert", type=Path, help="TLS certificate (PEM); default: self-signed in DATA_DIR/tls")
    p.add_argument("--key", type=Path, help="TLS private key (PEM)")
    p.add_argument("--client-ca", type=Path, help="require client certificates signed by this CA")
    p.add_argument("--no-tls", action="store_true", help="plain TCP (logs travel unencrypted)")
    p.add_argument("--rotate-mb", type=float, default=50, help="rotate segments at this many MB (default 50)")
    p.add_argument("--compression", choices=get_args(Compression), default="zstd")
    p.add_argument("--compression-level", type=int, default=1)
    p.add_argument("--output", choices=get_args(OutputFormat), default="jsonl")
    p.add_argument("--overflow", choices=get_args(Overflow), default="block",
                   help="full queue: pause TCP senders (block) or drop and count (drop)")  # fmt: skip
    p.add_argument("--max-queue", default="32MiB",
                   help="per worker: stored bytes waiting for the writer before --overflow acts (default 32MiB)")  # fmt: skip
    p.add_argument("--max-queue-logs", type=int, default=1_000_000,
                   help="per worker: the same bound in logs (default 1000000)")  # fmt: skip
    p.add_argument("--max-connections", type=int, default=10_000, help="per worker")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=300.0,
        help="seconds without a complete record before a connection is cut (default 300)",
    )
    p.add_argument("--max-line-bytes", type=int, default=1 << 20)
    p.add_argument("--max-frame-bytes", type=int, default=16 << 20)
    shippers = p.add_argument_group(
        "shippers' protocols",
        "OTLP, Splunk HEC, Elasticsearch bulk, Loki, Fluent Forward and GELF are served on --tcp-port, told by "
        "a connection's first bytes; these open their standard ports too (each TCP port serves every "
        "protocol; Forward's heartbeat and GELF also take UDP on theirs; 0 = any free port)",
    )
    for name, default in STANDARD_PORTS.items():
        flag = "--" + name.removesuffix("_port").replace("_", "-") + "-port"
        shippers.add_argument(flag, dest=name, type=int, metavar="PORT", help=f"(standard {default})")
    shippers.add_argument("--standard-ports", action="store_true",
                          help="open every standard port not given: " + ", ".join(
                              f"{n.removesuffix('_port')} {d}" for n, d in STANDARD_PORTS.items()))  # fmt: skip
    shippers.add_argument("--forward-shared-key", metavar="KEY",
                          help="Forward clients must prove this key (HELO/PING/PONG) on --forward-port")  # fmt: skip
    shippers.add_argument("--auth-token", help="require this token (Bearer, or 'Splunk <token>' for HEC)")
    shippers.add_argument("--max-request", default="16MiB", help="an HTTP body as received (default 16MiB)")
    shippers.add_argument("--max-inflated", default="64MiB", help="an HTTP body decompressed (default 64MiB)")
    p.add_argument("--quiet", action="store_true", help="no [METRIC] line every second")
    contract.add_argument(p, IngestorConfig)
    p.set_defaults(func=run, _parser=p)


def config_from_args(args: argparse.Namespace) -> Any:
    config = contract.from_args(args, IngestorConfig, "ingest", _from_flags)
    return config.model_copy(update={"stats_line": config.stats_line and not args.quiet})


def _from_flags(args: argparse.Namespace) -> Any:
    try:
        return IngestorConfig(
            data_dir=args.data_dir,
            host=args.host,
            tcp_port=args.tcp_port,
            udp_port=None if args.no_udp else args.udp_port,
            http_port=args.http_port,
            workers=args.workers,
            registry_url=args.registry,
            tls=not args.no_tls,
            cert=args.cert,
            key=args.key,
            client_ca=args.client_ca,
            rotate_bytes=int(args.rotate_mb * 1_000_000),
            compression=args.compression,
            compression_level=args.compression_level,
            output=args.output,
            overflow=args.overflow,
            max_queue_bytes=parse_bytes(args.max_queue),
            max_queue_logs=args.max_queue_logs,
            max_connections=args.max_connections,
            idle_timeout_seconds=args.idle_timeout,
            max_line_bytes=args.max_line_bytes,
            max_frame_bytes=args.max_frame_bytes,
            stats_line=not args.quiet,
            auth_token=args.auth_token,
            forward_shared_key=args.forward_shared_key,
            max_request_bytes=parse_bytes(args.max_request),
            max_inflated_bytes=parse_bytes(args.max_inflated),
            **{
                name: getattr(args, name)
                if getattr(args, name) is not None
                else default
                if args.standard_ports
                else None
                for name, default in STANDARD_PORTS.items()
            },
        )
    except ValidationError as exc:
        raise config_error(exc, "ingest") from None


def run(args: argparse.Namespace) -> int:
    from workbench.ingestor.process import setup_logging
    from workbench.ingestor.service import Ingestor

    setup_logging()
    config = config_from_args(args)
    if (config.cert is None) != (config.key is None):
        raise ConfigError("ingest: --cert and --key go together")

    async def main() -> None:
        stop = eventloop.stop_event()
        ingestor = Ingestor(config)
        try:
            await ingestor.start()
        except OSError as exc:
            await ingestor.stop()
            raise ConfigError(f"ingest: cannot listen: {exc}") from None
        print(
            f"[READY] tcp={ingestor.tcp_port} udp={ingestor.udp_port} http={ingestor.http_port}", flush=True
        )
        contract.emit("ready", "ingestor", tcp_port=ingestor.tcp_port, udp_port=ingestor.udp_port,
             http_port=ingestor.http_port, cert_path=ingestor.cert_path, **ingestor.standard_ports,
             config=ingestor.effective_config())  # fmt: skip
        await stop.wait()
        await ingestor.stop()
        t = ingestor.aggregate.summary()["totals"]
        contract.emit("summary", "ingestor", stored=t["logs"], rejected=t["rejected"], dropped=t["dropped"],
             received_bytes=t["bytes"])  # fmt: skip

    eventloop.run(main())
    return 0
