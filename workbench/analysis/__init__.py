"""Analysis: results folders and stored logs into Polars/Arrow, comparisons. Never imports Panel."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.analysis.compare import accounting, by_setting, compare_runs, regressions
    from workbench.analysis.logs import iter_batches, logs_frame, read_logs, scan_logs
    from workbench.analysis.results import load_run, load_runs
else:
    from workbench._lazy import exports

    __getattr__ = exports(
        __name__,
        {
            "accounting": "workbench.analysis.compare",
            "by_setting": "workbench.analysis.compare",
            "compare_runs": "workbench.analysis.compare",
            "regressions": "workbench.analysis.compare",
            "iter_batches": "workbench.analysis.logs",
            "logs_frame": "workbench.analysis.logs",
            "read_logs": "workbench.analysis.logs",
            "scan_logs": "workbench.analysis.logs",
            "load_run": "workbench.analysis.results",
            "load_runs": "workbench.analysis.results",
        },
    )

__all__ = ["accounting", "by_setting", "compare_runs", "iter_batches", "load_run", "load_runs", "logs_frame",
           "read_logs", "regressions", "scan_logs"]  # fmt: skip
