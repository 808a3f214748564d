"""Analysis: results folders and stored logs into Polars/Arrow, comparisons. Never imports Panel."""

from __future__ import annotations

from workbench.analysis.compare import accounting, by_setting, compare_runs, regressions
from workbench.analysis.logs import iter_batches, logs_frame, read_logs, scan_logs
from workbench.analysis.results import load_run, load_runs

__all__ = ["accounting", "by_setting", "compare_runs", "iter_batches", "load_run", "load_runs", "logs_frame",
           "read_logs", "regressions", "scan_logs"]  # fmt: skip
