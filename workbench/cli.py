"""``python -m workbench <verb>``: each verb is a thin shell over a library call.

A verb module exposes ``add_parser(subparsers)`` that registers its sub-command and sets
``func`` (taking the parsed ``argparse.Namespace`` and returning an exit code). A
``WorkbenchError`` becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Sequence

from workbench import __version__
from workbench.errors import WorkbenchError

# every verb: its module and the line ``--help`` lists it with, in that order. Only the chosen
# verb's module is imported (the others would cost seconds: polars, pyarrow, the runner), so the
# listing is here; tests/unit/test_cli.py holds it to each module's own help.
VERBS: dict[str, tuple[str, str]] = {
    "run": ("workbench.scenario.cli", "run a YAML scenario (registry, ingestor, generators), results to Parquet"),
    "ingest": ("workbench.ingestor.cli", "run the ingestor (TLS TCP for every format, UDP, metrics)"),
    "generate": ("workbench.generator.cli",
                 "send realistic logs (TLS TCP, UDP or a file); --blackhole: receive and count them"),
    "registry": ("workbench.registry.cli",
                 "run the schema registry (Confluent Schema Registry REST API, SQLite storage)"),
    "collect": ("workbench.collector.cli",
                "tail log files, parse, filter, tag; write JSONL/SQLite/CSV or forward to the ingestor"),
    "report": ("workbench.dashboard.report_cli",
               "compare result runs (ratios to the first), export Parquet/CSV/HTML, regression check"),
    "dashboard": ("workbench.dashboard.cli",
                  "Panel dashboards: compare result runs and explore their logs, or watch a live run"),
}  # fmt: skip


def build_parser(verbs: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the full sub-parsers of ``verbs`` (None: all of them); every other verb is
    listed with its help line only."""
    full = set(VERBS) if verbs is None else set(verbs)
    parser = argparse.ArgumentParser(
        prog="python -m workbench",
        description="Log ingestion services and the benchmarking workbench around them.",
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    for name, (module, help_line) in VERBS.items():
        if name in full:
            importlib.import_module(module).add_parser(subparsers)
        else:
            subparsers.add_parser(name, help=help_line)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser([verb] if verb in VERBS else [])
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        raise SystemExit(2)
    try:
        code = args.func(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    raise SystemExit(code or 0)
