"""Queries over stored logs (lazy Polars): filters, level and service breakdowns, error rates.

The log explorer of the comparison dashboard and ``notebooks/03_explore_logs.ipynb`` both call
these on ``scan_logs(...)``; each takes and returns a ``LazyFrame`` (or collects a small result).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

ERROR_LEVELS = ("ERROR", "FATAL")


def filter_logs(lf: pl.LazyFrame, *, levels: Sequence[str] = (), services: Sequence[str] = (),
                start: dt.datetime | None = None, end: dt.datetime | None = None, text: str = "",
                regex: bool = False) -> pl.LazyFrame:  # fmt: skip
    """Entries of the given levels and services (empty: all), with ``start <= timestamp < end``,
    whose message contains ``text`` (case-insensitive; a regular expression with ``regex``)."""
    if levels:
        lf = lf.filter(pl.col("level").is_in(list(levels)))
    if services:
        lf = lf.filter(pl.col("service").is_in(list(services)))
    if start is not None:
        lf = lf.filter(pl.col("timestamp") >= _utc(start))
    if end is not None:
        lf = lf.filter(pl.col("timestamp") < _utc(end))
    if text:
        pattern = text if regex else f"(?i){_escape(text)}"
        lf = lf.filter(pl.col("message").str.contains(pattern))
    return lf


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def level_counts(lf: pl.LazyFrame) -> pl.DataFrame:
    return lf.group_by("level").len("logs").sort("logs", descending=True).collect(engine="streaming")


def service_levels(lf: pl.LazyFrame) -> pl.DataFrame:
    """Logs per service and level, one column per level, plus ``total`` and ``error_rate``."""
    counts = lf.group_by("service", "level").len("logs").collect(engine="streaming")
    if counts.height == 0:
        return pl.DataFrame({"service": [], "total": [], "error_rate": []})
    wide = counts.pivot(on="level", index="service", values="logs").fill_null(0)
    levels = [c for c in wide.columns if c != "service"]
    errors = [c for c in levels if c in ERROR_LEVELS]
    wide = wide.with_columns(pl.sum_horizontal(levels).alias("total"))
    err = pl.sum_horizontal(errors) if errors else pl.lit(0)
    return wide.with_columns((err / pl.col("total")).alias("error_rate")).sort("total", descending=True)


def error_rate(lf: pl.LazyFrame, every: str = "1s", by: str | None = None) -> pl.DataFrame:
    """Per time bucket (of ``timestamp``): ``logs``, ``errors`` (ERROR and FATAL), ``error_rate``."""
    keys = [by] if by else []
    return (
        lf.with_columns(pl.col("timestamp").dt.truncate(every).alias("bucket"))
        .group_by("bucket", *keys)
        .agg(pl.len().alias("logs"), pl.col("level").is_in(list(ERROR_LEVELS)).sum().alias("errors"))
        .with_columns((pl.col("errors") / pl.col("logs")).alias("error_rate"))
        .sort("bucket", *keys)
        .collect(engine="streaming")
    )


def distinct_values(lf: pl.LazyFrame, column: str, limit: int = 500) -> list[str]:
    """The distinct values of a column (sorted, at most ``limit``), for pickers."""
    df = lf.select(pl.col(column).unique()).collect(engine="streaming")
    return sorted(v for v in df[column].to_list() if v is not None)[:limit]


def time_range(lf: pl.LazyFrame) -> tuple[dt.datetime | None, dt.datetime | None]:
    df = lf.select(pl.col("timestamp").min().alias("lo"), pl.col("timestamp").max().alias("hi")).collect()
    return df["lo"][0], df["hi"][0]
