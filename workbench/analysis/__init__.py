"""Analysis: results folders and stored logs into Polars/Arrow, comparisons. Never imports Panel."""

from __future__ import annotations

from workbench.analysis.compare import compare_runs, regressions
from workbench.analysis.results import load_run, load_runs

__all__ = ["compare_runs", "load_run", "load_runs", "regressions"]
