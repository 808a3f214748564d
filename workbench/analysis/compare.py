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


SETTINGS = ("format", "protocol", "batch")


def by_setting(summary: pl.DataFrame) -> pl.DataFrame:
    """The summary with a ``setting`` label per row (``json/tcp/b100``, plus ``run`` when several
    runs are in the frame), the x axis of the comparison charts."""
    parts = []
    for col in SETTINGS:
        if col in summary.columns:
            expr = pl.col(col).cast(pl.String).fill_null("-")
            parts.append(pl.lit("b") + expr if col == "batch" else expr)
    label = pl.concat_str(parts, separator="/") if parts else pl.col("cell").cast(pl.String)
    df = summary.with_columns(label.alias("setting"))
    if "run" in df.columns and df["run"].n_unique() > 1:
        df = df.with_columns(
            pl.concat_str([pl.col("run"), pl.col("setting")], separator=": ").alias("setting")
        )
    return df


def accounting(summary: pl.DataFrame) -> pl.DataFrame:
    """Sent, stored, lost, duplicated, rejected, dropped per cell, and ``problem``: whether any
    log is missing or duplicated (what the dashboards and the report highlight)."""
    cols = [c for c in ("run", "cell", "status", "sent", "stored", "lost", "duplicated", "reordered",
                        "rejected", "dropped") if c in summary.columns]  # fmt: skip
    df = summary.select(cols)
    bad = [pl.col(c).fill_null(0) > 0 for c in ("lost", "duplicated") if c in df.columns]
    if "status" in df.columns:
        bad.append(pl.col("status") != "ok")
    return df.with_columns(
        pl.any_horizontal(bad).fill_null(False).alias("problem") if bad else pl.lit(False).alias("problem")
    )
