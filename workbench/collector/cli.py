"""``python -m workbench collect``: follow log files and deliver them until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from workbench import contract
from workbench.errors import ConfigError, config_error


def add_parser(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "collect",
        help="tail log files, parse, filter, tag; write JSONL/SQLite/CSV or forward to the ingestor",
        description=(
            "Follow files and glob patterns in real time (rotation by rename and copy-truncate, new "
            "files), parse JSON, syslog, journald JSON and plain lines (multi-line records joined), "
            "filter and tag them, and write them to JSONL, SQLite or CSV, or forward them to the "
            "ingestor over TLS with acknowledgements. Checkpoints in --state-dir make a restart "
            "neither re-read nor skip lines."
        ),
    )
    p.add_argument("-i", "--input", dest="inputs", action="append", metavar="GLOB",
                   help="file or glob pattern to follow (repeatable; ** recurses)")  # fmt: skip
    out = p.add_argument_group("output")
    out.add_argument("--output-type", choices=("jsonl", "sqlite", "csv"), default="jsonl",
                     help="local output format (default jsonl)")  # fmt: skip
    out.add_argument("--output", type=Path, metavar="PATH",
                     help="output file (default collected_logs/collected.{jsonl,db,csv})")  # fmt: skip
    out.add_argument("--forward", metavar="HOST:PORT",
                     help="send to the ingestor instead (TLS, ack mode; nothing lost across restarts)")  # fmt: skip
    out.add_argument(
        "--ca", type=Path, help="CA/certificate to trust for --forward (e.g. the ingestor's self-signed cert)"
    )
    out.add_argument("--insecure", action="store_true", help="--forward without verifying the certificate")
    out.add_argument("--no-tls", action="store_true", help="--forward over plain TCP")
    out.add_argument("--forward-format", choices=("json", "proto"), default="json",
                     help="frame payload format for --forward (default json)")  # fmt: skip
    out.add_argument(
        "--forward-batch", type=int, default=1000, help="entries per forwarded frame (default 1000)"
    )
    out.add_argument("--fsync", action="store_true", help="fsync output and checkpoints (survive power loss)")
    proc = p.add_argument_group("parsing, filtering and tagging")
    proc.add_argument("--filter", metavar="REGEX", help="keep only records matching REGEX")
    proc.add_argument("--exclude", metavar="REGEX", help="drop records matching REGEX")
    proc.add_argument(
        "--tags", type=Path, metavar="FILE", help="YAML tag rules: a list of {tag, pattern, field?}"
    )
    proc.add_argument("--tag", action="append", default=[], metavar="NAME=REGEX",
                      help="a tag rule on the raw record text (repeatable)")  # fmt: skip
    proc.add_argument("--multiline-start", metavar="REGEX",
                      help="a record starts with a line matching REGEX; other lines continue it")  # fmt: skip
    proc.add_argument("--no-multiline", action="store_true", help="every line is a record of its own")
    proc.add_argument("--multiline-timeout", type=float, default=1.0,
                      help="seconds before a pending multi-line record is emitted (default 1)")  # fmt: skip
    proc.add_argument("--default-service", help="service of plain-text lines (default: the file name)")
    proc.add_argument("--drop-unparsed", action="store_true",
                      help="drop records their format refuses (default: keep them as raw entries)")  # fmt: skip
    tail = p.add_argument_group("tailing and state")
    tail.add_argument("--state-dir", type=Path, metavar="DIR",
                      help="checkpoints and parse-error samples (default collected_logs/state)")  # fmt: skip
    tail.add_argument("--read-from", choices=("beginning", "end"), default="beginning",
                      help="where files without a checkpoint start at first start (default beginning)")  # fmt: skip
    tail.add_argument(
        "--poll-interval", type=float, default=0.25, help="seconds between polls (default 0.25)"
    )
    tail.add_argument("--no-watchdog", action="store_true", help="poll only, no file-system events")
    tail.add_argument("--rotate-wait", type=float, default=5.0,
                      help="seconds to keep reading a rotated-away file after it stops growing (default 5)")  # fmt: skip
    tail.add_argument("--partial-line-timeout", type=float, metavar="SECONDS",
                      help="take a last line without newline as complete once the file is quiet this long "
                           "(default: wait for its newline)")  # fmt: skip
    tail.add_argument("--flush-interval", type=float, default=1.0,
                      help="seconds between output flushes and checkpoints (default 1)")  # fmt: skip
    tail.add_argument("--chunk-size", default="1MiB", help="bytes per read (default 1MiB)")
    mon = p.add_argument_group("monitoring")
    mon.add_argument("--http-port", type=int, metavar="PORT",
                     help="serve /, /metrics, /metrics.json on this port (0 = any; default off)")  # fmt: skip
    mon.add_argument(
        "--http-host", default="127.0.0.1", help="address of the HTTP endpoints (default 127.0.0.1)"
    )
    mon.add_argument("--stats-interval", type=float, default=10.0,
                     help="seconds between [COLLECTOR] stats lines on stdout (default 10)")  # fmt: skip
    mon.add_argument("--quiet", action="store_true", help="no periodic stats line")
    from workbench.collector.config import CollectorConfig

    contract.add_argument(p, CollectorConfig)
    p.set_defaults(func=run, _parser=p)


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--forward {text!r}: expected HOST:PORT, e.g. 127.0.0.1:3001")
    return host.strip("[]"), int(port)


def config_from_args(args: argparse.Namespace) -> Any:
    """The collector's config: every setting from ``--config-json``, or the flags."""
    from workbench.collector.config import CollectorConfig

    config = contract.from_args(args, CollectorConfig, "collect", _from_flags)
    if args.quiet:
        config = config.model_copy(update={"stats_interval_seconds": None})
    return config


def _from_flags(args: argparse.Namespace) -> Any:
    from workbench.collector.config import CollectorConfig, load_tag_rules, parse_tag_flag

    if not args.inputs:
        raise ConfigError("collect: give at least one --input GLOB (or --config-json)")
    from workbench.units import parse_bytes

    rules = list(load_tag_rules(args.tags)) if args.tags else []
    rules += [parse_tag_flag(t) for t in args.tag]
    settings: dict[str, Any] = {
        "inputs": tuple(args.inputs),
        "output_type": args.output_type,
        "output_path": args.output,
        "include_regex": args.filter,
        "exclude_regex": args.exclude,
        "tag_rules": tuple(rules),
        "multiline": not args.no_multiline,
        "multiline_start_regex": args.multiline_start,
        "multiline_timeout_seconds": args.multiline_timeout,
        "default_service": args.default_service,
        "keep_unparsed": not args.drop_unparsed,
        "read_from": args.read_from,
        "poll_interval_seconds": args.poll_interval,
        "use_watchdog": not args.no_watchdog,
        "rotate_wait_seconds": args.rotate_wait,
        "flush_interval_seconds": args.flush_interval,
        "partial_line_timeout_seconds": args.partial_line_timeout,
        "chunk_bytes": parse_bytes(args.chunk_size),
        "fsync": args.fsync,
        "http_host": args.http_host,
        "http_port": args.http_port,
        "stats_interval_seconds": None if args.quiet or args.stats_interval <= 0 else args.stats_interval,
    }
    if args.state_dir is not None:
        settings["state_dir"] = args.state_dir
    elif args.output is not None:
        settings["state_dir"] = args.output.parent / "state"
    if args.forward:
        host, port = parse_address(args.forward)
        settings.update(
            output_type="forward", forward_host=host, forward_port=port, forward_tls=not args.no_tls,
            forward_ca=args.ca, forward_insecure=args.insecure, forward_format=args.forward_format,
            forward_batch_entries=args.forward_batch,
        )  # fmt: skip
    elif args.ca or args.insecure or args.no_tls:
        raise ConfigError("collect: --ca, --insecure and --no-tls go with --forward")
    try:
        return CollectorConfig(**settings)
    except ValidationError as exc:
        raise config_error(exc, "collect") from None


def run(args: argparse.Namespace) -> int:
    from workbench.collector.service import run_until_signalled
    from workbench.ingestor.process import setup_logging

    setup_logging()
    return run_until_signalled(config_from_args(args))


def main(argv: list[str] | None = None) -> None:
    """The ``collect`` verb alone (``python -m workbench.collector``), as the workbench CLI runs it."""
    from workbench.cli import main as workbench_main

    workbench_main(["collect", *(sys.argv[1:] if argv is None else argv)])
