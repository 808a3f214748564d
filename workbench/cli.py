"""``python -m workbench <verb>``: each verb is a thin shell over a library call.

A verb module exposes ``add_parser(subparsers)`` that registers its sub-command and sets
``func`` (taking the parsed ``argparse.Namespace`` and returning an exit code). A
``WorkbenchError`` becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from workbench import __version__
from workbench.errors import WorkbenchError

# verb modules, in the order --help lists them; each later issue adds its own
VERB_MODULES: tuple[str, ...] = (
    "workbench.scenario.cli",
    "workbench.ingestor.cli",
    "workbench.generator.cli",
    "workbench.registry.cli",
    "workbench.collector.cli",
    "workbench.dashboard.report_cli",
    "workbench.dashboard.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workbench",
        description="Log ingestion services and the benchmarking workbench around them.",
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    for name in VERB_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
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
