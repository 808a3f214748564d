"""The comparison dashboard: pick runs and cells of ``results/``, compare them, explore their logs.

``python -m workbench dashboard results/``. Tabs: bar charts of logs/s, MB/s, p99 latency, CPU
per log and compression ratio by format × protocol × batch; time series per cell; the summary
(Tabulator; cells that lost or duplicated logs highlighted) and the per-client accounting; a log
explorer over the stored entries of the picked cells (level, service, time, text). State is a
``CompareView`` (``param``); every view is a ``pn.bind`` of it over ``workbench.analysis``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import panel as pn
import param
import polars as pl

from workbench.analysis import explore
from workbench.analysis.compare import accounting, by_setting
from workbench.analysis.logs import scan_logs
from workbench.analysis.results import Run, find_runs, load_run
from workbench.dashboard.plots import (
    BAR_METRICS,
    SERIES_METRICS,
    bar_chart,
    error_rate_chart,
    stacked_levels_chart,
    timeseries_chart,
)

LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
TABLE_COLUMNS = ("run", "cell", "status", "format", "protocol", "batch", "sent", "stored", "lost", "duplicated",
                 "rejected", "dropped", "logs_per_sec", "mb_per_sec", "latency_p99_us", "cpu_seconds_per_million",
                 "compression_ratio")  # fmt: skip


def _highlight_problems(row: Any) -> list[str]:
    bad = (
        (row.get("lost") or 0) > 0
        or (row.get("duplicated") or 0) > 0
        or row.get("status") not in (None, "ok")
    )
    return ["background-color: #fde2e2" if bad else "" for _ in row]


class CompareView(param.Parameterized):
    runs = param.ListSelector(default=[], objects=[], doc="runs to compare")
    cells = param.ListSelector(default=[], objects=[], doc="cells (empty: all)")
    # log explorer
    levels = param.ListSelector(default=[], objects=LEVELS)
    services = param.ListSelector(default=[], objects=[])
    text = param.String(default="", doc="message contains (case-insensitive)")
    start = param.Date(default=None, allow_None=True)
    end = param.Date(default=None, allow_None=True)
    limit = param.Integer(default=200, bounds=(10, 10_000))

    def __init__(self, roots: list[Path], **params: Any) -> None:
        super().__init__(**params)
        self.loaded: dict[str, Run] = {}
        for root in roots:
            for path in find_runs(root):
                self.loaded[path.name] = load_run(path)
        names = list(self.loaded)
        self.param.runs.objects = names
        self.runs = names[-1:]  # the newest by default
        self._update_cells()

    @param.depends("runs", watch=True)
    def _update_cells(self) -> None:
        cells = sorted({c for r in self.runs for c in self.loaded[r].summary["cell"].to_list()})
        self.param.cells.objects = cells
        self.cells = [c for c in self.cells if c in cells]
        lf = self.logs()
        self.param.services.objects = explore.distinct_values(lf, "service") if lf is not None else []

    # -- data (Polars) ---------------------------------------------------------------------------

    def summary(self) -> pl.DataFrame:
        frames = [self.loaded[r].summary.with_columns(pl.lit(r).alias("run")) for r in self.runs]
        df = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame({"cell": [], "run": []})
        return df.filter(pl.col("cell").is_in(self.cells)) if self.cells else df

    def timeseries(self) -> pl.DataFrame:
        frames = [self.loaded[r].timeseries.with_columns(pl.lit(r).alias("run")) for r in self.runs
                  if self.loaded[r].timeseries.height]  # fmt: skip
        df = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame({"cell": [], "t": []})
        return df.filter(pl.col("cell").is_in(self.cells)) if self.cells else df

    def data_dirs(self) -> list[Path]:
        out = []
        for r in self.runs:
            for cell, d in self.loaded[r].cell_dirs().items():
                if (not self.cells or cell in self.cells) and (d / "data").is_dir():
                    out.append(d / "data")
        return out

    def logs(self) -> pl.LazyFrame | None:
        dirs = self.data_dirs()
        return scan_logs(dirs) if dirs else None

    def filtered_logs(self) -> pl.LazyFrame | None:
        lf = self.logs()
        if lf is None:
            return None
        to_dt = lambda d: d if d is None or isinstance(d, dt.datetime) else dt.datetime.combine(d, dt.time())  # noqa: E731
        return explore.filter_logs(lf, levels=self.levels, services=self.services, start=to_dt(self.start),
                                   end=to_dt(self.end), text=self.text)  # fmt: skip

    # -- views -----------------------------------------------------------------------------------

    def bars(self, runs: list[str], cells: list[str]) -> pn.viewable.Viewable:
        df = self.summary()
        if df.height == 0:
            return pn.pane.Markdown("no cells picked")
        return pn.GridBox(*[pn.pane.Bokeh(bar_chart(df, m)) for m in BAR_METRICS], ncols=3)

    def series(self, runs: list[str], cells: list[str]) -> pn.viewable.Viewable:
        ts = self.timeseries()
        return pn.GridBox(
            *[pn.pane.Bokeh(timeseries_chart(ts, m)) for m in SERIES_METRICS if m in ts.columns], ncols=3
        )

    def table(self, runs: list[str], cells: list[str]) -> pn.viewable.Viewable:
        df = by_setting(self.summary())
        cols = [c for c in ("setting", *TABLE_COLUMNS) if c in df.columns]
        acc = accounting(self.summary())
        problems = int(acc["problem"].sum()) if acc.height else 0
        note = (f"**{problems} cell(s) lost or duplicated logs, or failed** (red rows)" if problems
                else "every log sent was stored exactly once")  # fmt: skip
        table = pn.widgets.Tabulator(df.select(cols).to_pandas(), disabled=True, pagination="local", page_size=25,
                                     sizing_mode="stretch_width", show_index=False, name="summary-table")  # fmt: skip
        table.style.apply(_highlight_problems, axis=1)
        clients = [
            self.loaded[r].clients.with_columns(pl.lit(r).alias("run"))
            for r in runs
            if self.loaded[r].clients.height
        ]
        parts: list[Any] = [pn.pane.Markdown(note), table]
        if clients:
            cdf = pl.concat(clients, how="diagonal_relaxed")
            if cells:
                cdf = cdf.filter(pl.col("cell").is_in(cells))
            parts += [pn.pane.Markdown("#### per client"),
                      pn.widgets.Tabulator(cdf.to_pandas(), disabled=True, pagination="local", page_size=10,
                                           sizing_mode="stretch_width", show_index=False)]  # fmt: skip
        return pn.Column(*parts, sizing_mode="stretch_width")

    def explorer(self, runs: list[str], cells: list[str], levels: list[str], services: list[str], text: str,
                 start: Any, end: Any, limit: int) -> pn.viewable.Viewable:  # fmt: skip
        lf = self.filtered_logs()
        if lf is None:
            return pn.pane.Markdown("no stored logs in the picked cells")
        rows = (lf.select("timestamp", "level", "service", "host", "message", "client_id", "seq", "format")
                .head(limit).collect())  # fmt: skip
        counts = explore.service_levels(lf)
        rates = explore.error_rate(lf, "1s")
        matched = lf.select(pl.len()).collect().item()
        return pn.Column(
            pn.pane.Markdown(f"**{matched:,}** matching entries (first {min(limit, matched):,} shown)"),
            pn.Row(pn.pane.Bokeh(stacked_levels_chart(counts)), pn.pane.Bokeh(error_rate_chart(rates))),
            pn.widgets.Tabulator(rows.with_columns(pl.col("timestamp").dt.replace_time_zone(None)).to_pandas(),
                                 disabled=True, pagination="local", page_size=20, sizing_mode="stretch_width",
                                 show_index=False, name="log-table"),
            sizing_mode="stretch_width",
        )  # fmt: skip

    def panel(self) -> pn.viewable.Viewable:
        p = self.param
        pickers = pn.Column(
            "### Runs and cells",
            pn.widgets.MultiChoice.from_param(p.runs, name="runs"),
            pn.widgets.MultiChoice.from_param(p.cells, name="cells (none: all)"),
            width=320,
        )
        filters = pn.Column(
            pn.widgets.MultiChoice.from_param(p.levels, name="level"),
            pn.widgets.MultiChoice.from_param(p.services, name="service"),
            pn.widgets.TextInput.from_param(p.text, name="message contains"),
            pn.widgets.DatetimeInput.from_param(p.start, name="from (UTC)"),
            pn.widgets.DatetimeInput.from_param(p.end, name="to (UTC)"),
            pn.widgets.IntInput.from_param(p.limit, name="rows"),
            width=320,
        )
        runs_cells = (p.runs, p.cells)
        tabs = pn.Tabs(
            ("Charts", pn.panel(pn.bind(self.bars, *runs_cells))),
            ("Time series", pn.panel(pn.bind(self.series, *runs_cells))),
            ("Summary", pn.panel(pn.bind(self.table, *runs_cells))),
            ("Logs", pn.Row(filters, pn.panel(pn.bind(self.explorer, *runs_cells, p.levels, p.services, p.text,
                                                      p.start, p.end, p.limit)))),
            dynamic=False, sizing_mode="stretch_width",
        )  # fmt: skip
        return pn.Row(pickers, tabs, sizing_mode="stretch_width")


def compare_app(roots: list[Path]) -> Any:
    """A Panel app factory (one ``CompareView`` per browser session) for ``pn.serve``."""

    def app() -> pn.viewable.Viewable:
        return CompareView(roots).panel()

    return app
