"""Compare runs of a scenario cell by cell: ratios against a baseline run, regression checks."""

from __future__ import annotations

import polars as pl

from workbench.analysis.results import Run

# metric -> True when higher is better
METRICS = {
    "logs_per_sec": True,
    "mb_per_sec": True,
    "latency_p99_us": False,
    "cpu_seconds_per_million": False,
    "rss_mb": False,
    "compression_ratio": True,
    "lost": False,
}


def compare_runs(runs: list[Run]) -> pl.DataFrame:
    """One row per cell and run; ``<metric>_ratio`` is the run's value over the first run's."""
    base = runs[0].summary.select(
        "cell", *[pl.col(m).alias(f"{m}_base") for m in METRICS if m in runs[0].summary.columns]
    )
    frames = []
    for run in runs:
        wanted = ("cell", "status", "format", "protocol", "batch", "clients", "sent", "stored", "duplicated",
                  "rejected", "dropped", *METRICS)  # fmt: skip
        cols = [c for c in dict.fromkeys(wanted) if c in run.summary.columns]
        df = run.summary.select(cols).with_columns(pl.lit(run.name).alias("run"))
        df = df.join(base, on="cell", how="left")
        ratios = [
            (pl.col(m) / pl.col(f"{m}_base")).alias(f"{m}_ratio")
            for m in METRICS
            if m in df.columns and f"{m}_base" in df.columns and m != "lost"
        ]
        frames.append(df.with_columns(ratios).drop([c for c in df.columns if c.endswith("_base")]))
    return pl.concat(frames, how="diagonal_relaxed")


def regressions(
    comparison: pl.DataFrame, threshold: float = 0.10, metric: str = "logs_per_sec"
) -> pl.DataFrame:
    """Cells whose ``metric`` got worse than the baseline by more than ``threshold`` (0.10 = 10 %),
    and cells that lost logs the baseline did not."""
    higher_better = METRICS.get(metric, True)
    ratio = pl.col(f"{metric}_ratio")
    worse = ratio < (1 - threshold) if higher_better else ratio > (1 + threshold)
    return comparison.filter(worse.fill_null(False) | (pl.col("lost").fill_null(0) > 0))
