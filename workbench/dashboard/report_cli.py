"""``python -m workbench report RUN [RUN ...]``: print and export a comparison of runs.

With one run: its summary. With several: every cell's figures and their ratio to the first run
(the baseline); ``--threshold`` makes it a regression check whose exit code CI can use (1 when a
cell's ``--metric`` got worse than the baseline by more than the threshold, or lost logs).
``--html FILE`` also writes the static report: charts by format x protocol x batch, time series,
accounting and the summary in one self-contained file that opens without a network.

The verb lives beside the dashboards because ``--html`` is a view (Bokeh); the tables, the
comparison and the exports are ``workbench.analysis``, which never imports a view.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="compare result runs (ratios to the first), export Parquet/CSV/HTML, regression check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", type=Path, help="results/<run-id> folders; the first is the baseline")
    p.add_argument("--out", type=Path, help="export folder (default: the last run's folder)")
    p.add_argument(
        "--metric", default="logs_per_sec", help="metric of the regression check (default logs_per_sec)"
    )
    p.add_argument(
        "--threshold", type=float, help="fail (exit 1) when a cell is worse by more than this fraction"
    )
    p.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write a self-contained HTML report with charts to FILE",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import polars as pl

    from workbench.analysis.compare import compare_runs, regressions
    from workbench.analysis.report import export, to_text
    from workbench.analysis.results import find_runs, load_run

    paths = [p for root in args.runs for p in find_runs(root)]
    if not paths:
        from workbench.errors import ConfigError

        raise ConfigError(f"report: no results folders in {', '.join(map(str, args.runs))}")
    runs = [load_run(p) for p in paths]
    comparison = compare_runs(runs)
    print(to_text(comparison))
    out = args.out or runs[-1].path
    stem = "comparison" if len(runs) > 1 else "report"
    for path in export(comparison, out, stem, f"workbench: {' vs '.join(r.name for r in runs)}"):
        print(f"wrote {path}")
    if args.html:
        from workbench.dashboard.static import write_report  # Bokeh only on request

        title = f"workbench: {' vs '.join(r.name for r in runs)}"
        print(f"wrote {write_report(runs, comparison, args.html, title)}")
    if args.threshold is not None and len(runs) > 1:
        bad = regressions(comparison.filter(pl.col("run") != runs[0].name), args.threshold, args.metric)
        if bad.height:
            print(f"REGRESSION: {bad.height} cell(s) worse than {runs[0].name} by more than "
                  f"{args.threshold:.0%} in {args.metric}, or losing logs:")  # fmt: skip
            print(to_text(bad, ("run", "cell", args.metric, f"{args.metric}_ratio", "lost")))
            return 1
        print(f"no regression over {args.threshold:.0%} in {args.metric}")
    return 0
