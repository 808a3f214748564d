"""Bokeh figures from Polars frames, shared by the dashboards, the static report and notebooks.

Only Bokeh here (no Panel): the report embeds these figures in a standalone HTML file.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from bokeh.models import ColumnDataSource, FactorRange, HoverTool
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from workbench.analysis.compare import by_setting

METRIC_TITLES = {
    "logs_per_sec": "logs/s",
    "mb_per_sec": "MB/s",
    "latency_p99_us": "p99 latency (µs)",
    "latency_p50_us": "p50 latency (µs)",
    "cpu_seconds_per_million": "CPU seconds per million logs",
    "compression_ratio": "compression ratio (x)",
    "latency_us": "processing latency (µs)",
    "queue_length": "queue (logs)",
    "cpu_percent": "CPU %",
    "rss_mb": "RSS MB",
    "rejected_total": "rejected (total)",
    "dropped_total": "dropped (total)",
    "logs_total": "stored (total)",
}
BAR_METRICS = ("logs_per_sec", "mb_per_sec", "latency_p99_us", "cpu_seconds_per_million", "compression_ratio")
SERIES_METRICS = ("logs_per_sec", "mb_per_sec", "latency_us", "queue_length", "cpu_percent", "rss_mb")
GOOD, BAD = "#3b7dd8", "#d8453b"


def title_of(metric: str) -> str:
    return METRIC_TITLES.get(metric, metric)


def palette(i: int) -> str:
    return Category10_10[i % len(Category10_10)]


def bar_chart(summary: pl.DataFrame, metric: str, *, height: int = 260, width: int = 420) -> Any:
    """One bar per cell (``format/protocol/batch``); a cell that lost or duplicated logs is red."""
    df = by_setting(summary)
    if metric not in df.columns:
        df = df.with_columns(pl.lit(None, pl.Float64).alias(metric))
    problem = pl.lit(False)
    for col in ("lost", "duplicated"):
        if col in df.columns:
            problem = problem | (pl.col(col).fill_null(0) > 0)
    df = df.with_columns(
        pl.col(metric).cast(pl.Float64).fill_null(0.0).alias("value"),
        pl.when(problem).then(pl.lit(BAD)).otherwise(pl.lit(GOOD)).alias("color"),
    )
    labels = df["setting"].to_list()
    source = ColumnDataSource({"setting": labels, "value": df["value"].to_list(),
                               "color": df["color"].to_list(), "cell": df["cell"].cast(pl.String).to_list()})  # fmt: skip
    fig = figure(x_range=FactorRange(*labels), height=height, width=width, title=title_of(metric),
                 toolbar_location=None, tools="", name=f"bar-{metric}")  # fmt: skip
    fig.vbar(x="setting", top="value", width=0.8, color="color", source=source)
    fig.add_tools(HoverTool(tooltips=[("cell", "@cell"), (title_of(metric), "@value{0,0.00}")]))
    fig.xaxis.major_label_orientation = 0.8 if len(labels) > 3 else 0
    fig.y_range.start = 0  # type: ignore[attr-defined]
    return fig


def timeseries_chart(timeseries: pl.DataFrame, metric: str, *, by: str = "cell", height: int = 240,
                     width: int = 420) -> Any:  # fmt: skip
    """One line per cell (or run/cell) of a metric over the cell's seconds."""
    fig = figure(height=height, width=width, title=title_of(metric), x_axis_label="s",
                 toolbar_location=None, tools="", name=f"series-{metric}")  # fmt: skip
    if timeseries.height == 0 or metric not in timeseries.columns:
        return fig
    keys = [k for k in ("run", by) if k in timeseries.columns]
    if "run" in keys and timeseries["run"].n_unique() == 1:
        keys.remove("run")
    for i, (key, part) in enumerate(timeseries.sort("t").group_by(keys, maintain_order=True)):
        label = " ".join(str(k) for k in key)
        fig.line(part["t"].to_list(), part[metric].cast(pl.Float64).fill_null(0).to_list(),
                 color=palette(i), line_width=2, legend_label=label)  # fmt: skip
    fig.legend.location = "top_left"
    fig.legend.label_text_font_size = "8pt"
    fig.legend.background_fill_alpha = 0.6
    return fig


def stacked_levels_chart(counts: pl.DataFrame, *, height: int = 260, width: int = 520) -> Any:
    """Logs per service, stacked by level (input: ``explore.service_levels``)."""
    levels = [c for c in ("FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE") if c in counts.columns]
    services = counts["service"].cast(pl.String).to_list() if counts.height else []
    fig = figure(x_range=FactorRange(*services), height=height, width=width, title="logs per service and level",
                 toolbar_location=None, tools="", name="service-levels")  # fmt: skip
    if services and levels:
        data: dict[str, list[Any]] = {"service": services, **{lv: counts[lv].to_list() for lv in levels}}
        colors = {"FATAL": "#7a0c0c", "ERROR": "#d8453b", "WARN": "#e8a33b", "INFO": "#3b7dd8",
                  "DEBUG": "#8fb3e8", "TRACE": "#cccccc"}  # fmt: skip
        fig.vbar_stack(levels, x="service", width=0.8, source=ColumnDataSource(data),
                       color=[colors[lv] for lv in levels], legend_label=levels)  # fmt: skip
        fig.xaxis.major_label_orientation = 0.8
        fig.legend.label_text_font_size = "8pt"
    return fig


def error_rate_chart(rates: pl.DataFrame, *, height: int = 240, width: int = 520) -> Any:
    """Error rate over time (input: ``explore.error_rate``)."""
    fig = figure(height=height, width=width, title="error rate (ERROR+FATAL / all)", x_axis_type="datetime",
                 toolbar_location=None, tools="", name="error-rate")  # fmt: skip
    if rates.height:
        fig.line(rates["bucket"].to_list(), rates["error_rate"].to_list(), line_width=2, color=BAD)
    return fig
