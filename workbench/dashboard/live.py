"""The live dashboard: a running ingestor's figures as streaming charts, updated every second.

``python -m workbench dashboard --live URL|RUN``. State is a ``LiveView`` (``param``), the data
comes from ``workbench.analysis.live.LiveSource``; each browser session polls on its own
periodic callback and streams into Bokeh ``ColumnDataSource`` s (the last ``window`` points).
Shows logs/s, MB/s, latency, queue, drops and rejects, logs/s per format and per transport, the
latest stored entries per format, the generators' summaries of a run folder (as each cell's
generators finish) and a collector's ``/metrics.json`` when ``--collector URL`` is given.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import panel as pn
import param
from bokeh.core.validation import silence
from bokeh.core.validation.warnings import MISSING_RENDERERS
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from workbench.analysis.live import LiveSample, LiveSource
from workbench.analysis.results import generator_summaries
from workbench.dashboard.plots import palette

silence(MISSING_RENDERERS, True)  # the per-format charts get a line per format as formats appear

NUMBERS = (("logs_per_sec", "logs/s", "{:,.0f}"), ("mb_per_sec", "MB/s", "{:,.2f}"),
           ("latency_us", "latency µs", "{:,.1f}"), ("queue_length", "queue", "{:,.0f}"),
           ("logs_total", "stored", "{:,.0f}"), ("rejected_total", "rejected", "{:,.0f}"),
           ("dropped_total", "dropped", "{:,.0f}"), ("connections", "connections", "{:,.0f}"))  # fmt: skip
CHARTS = (("logs_per_sec", "logs/s"), ("mb_per_sec", "MB/s"), ("latency_us", "processing latency (µs)"),
          ("queue_length", "queue (logs)"))  # fmt: skip
CSS = """.wb-numbers{display:flex;gap:1.2rem;flex-wrap:wrap;font-family:system-ui,sans-serif}
.wb-number{min-width:7rem}.wb-number b{display:block;font-size:1.5rem}.wb-number span{color:#5b6472;font-size:.8rem}
.wb-bad b{color:#b42318}.wb-samples pre{font-size:.72rem;white-space:pre-wrap;margin:.2rem 0 .6rem}"""


def _line_figure(title: str, name: str) -> Any:
    fig = figure(
        height=220, width=440, title=title, x_axis_type="datetime", tools="", toolbar_location=None, name=name
    )
    fig.y_range.start = 0  # type: ignore[attr-defined]
    return fig


class LiveView(param.Parameterized):
    """One session's state and widgets over a ``LiveSource``."""

    target = param.String(doc="ingestor URL or run folder")
    interval_ms = param.Integer(default=1000, bounds=(100, 60_000))
    window = param.Integer(default=300, doc="points kept in each chart")
    status = param.String(default="starting")
    polls = param.Integer(default=0)

    def __init__(self, target: str, collector_url: str | None = None, **params: Any) -> None:
        super().__init__(target=target, **params)
        self.source = LiveSource(target, collector_url=collector_url)
        self.run_dir = self.source.run_dir
        self.main = ColumnDataSource(
            {"t": [], **{k: [] for k, _ in CHARTS}, "rejected_per_sec": [], "dropped_per_sec": []}
        )
        self.figures = {k: _line_figure(title, f"live-{k}") for k, title in CHARTS}
        for k, _ in CHARTS:
            self.figures[k].line("t", k, source=self.main, line_width=2, color=palette(0))
        self.losses = _line_figure("rejected and dropped per second", "live-losses")
        self.losses.line(
            "t",
            "rejected_per_sec",
            source=self.main,
            color="#e8a33b",
            line_width=2,
            legend_label="rejected/s",
        )
        self.losses.line(
            "t", "dropped_per_sec", source=self.main, color="#d8453b", line_width=2, legend_label="dropped/s"
        )
        self.per_format = _line_figure("logs/s per format", "live-by-format")
        self.per_transport = _line_figure("logs/s per transport", "live-by-transport")
        self._series: dict[tuple[str, str], ColumnDataSource] = {}
        self.numbers = pn.pane.HTML(self._numbers_html({}), stylesheets=[CSS], sizing_mode="stretch_width")
        self.samples = pn.pane.HTML("<p>no samples yet</p>", stylesheets=[CSS], sizing_mode="stretch_width")
        self.generators = pn.pane.HTML("", sizing_mode="stretch_width")
        self.collector = pn.pane.HTML("", sizing_mode="stretch_width")
        self.status_pane = pn.pane.HTML(self._status_html(), sizing_mode="stretch_width")
        self._last_gen_refresh = 0.0

    def _status_html(self) -> str:
        return (
            f"<small>{html.escape(self.status)} · polls: <span class='wb-polls'>{self.polls}</span></small>"
        )

    @staticmethod
    def _numbers_html(row: dict[str, float]) -> str:
        cells = []
        for key, label, fmt in NUMBERS:
            v = row.get(key)
            bad = key in ("rejected_total", "dropped_total") and bool(v)
            text = fmt.format(v) if v is not None else "-"
            cells.append(f"<div class='wb-number{' wb-bad' if bad else ''}' data-metric='{key}'>"
                         f"<b class='wb-value'>{text}</b><span>{label}</span></div>")  # fmt: skip
        return f"<div class='wb-numbers'>{''.join(cells)}</div>"

    def _stream_series(self, fig: Any, kind: str, values: dict[str, float], t: float) -> None:
        for name, v in sorted(values.items()):
            src = self._series.get((kind, name))
            if src is None:
                src = self._series[(kind, name)] = ColumnDataSource({"t": [], "v": []})
                fig.line(
                    "t", "v", source=src, line_width=2, color=palette(len(fig.renderers)), legend_label=name
                )
                fig.legend.location = "top_left"
            src.stream({"t": [t], "v": [v]}, rollover=self.window)

    def tick(self) -> LiveSample:
        """Poll once and push the sample into every chart and pane."""
        sample = self.source.poll()
        self.polls += 1
        if sample.ok:
            t = sample.t * 1000
            row = sample.row
            self.main.stream({"t": [t], **{k: [row[k]] for k, _ in CHARTS},
                              "rejected_per_sec": [row["rejected_per_sec"]],
                              "dropped_per_sec": [row["dropped_per_sec"]]}, rollover=self.window)  # fmt: skip
            self._stream_series(self.per_format, "format", sample.by_format, t)
            self._stream_series(self.per_transport, "transport", sample.by_transport, t)
            self.numbers.object = self._numbers_html(row)
            if sample.samples:
                self.samples.object = (
                    "<div class='wb-samples'>"
                    + "".join(
                        f"<h4>{html.escape(fmt)}</h4><pre>{html.escape(chr(10).join(lines[-5:]))}</pre>"
                        for fmt, lines in sorted(sample.samples.items())
                    )
                    + "</div>"
                )
            self.status = f"{sample.url}: ok"
        else:
            self.status = sample.error
        if time.monotonic() - self._last_gen_refresh > 3:
            self._last_gen_refresh = time.monotonic()
            self._refresh_side()
        self.status_pane.object = self._status_html()
        return sample

    def _tick(self) -> None:
        self.tick()

    def _refresh_side(self) -> None:
        if self.run_dir is not None:
            gens = generator_summaries(self.run_dir)
            if gens.height:
                cols = [c for c in ("cell", "group", "format", "transport", "sent_logs_total", "failed_logs_total",
                                    "retries_total", "reconnects_total", "logs_per_second", "mb_per_second",
                                    "cpu_seconds") if c in gens.columns]  # fmt: skip
                self.generators.object = _html_table(
                    gens.select(cols).rows(), cols, "generators (finished cells)"
                )
            else:
                self.generators.object = "<p><small>generators: no cell finished yet</small></p>"
        stats = self.source.collector()
        if stats:
            self.collector.object = _html_table(sorted(stats.items()), ["collector", "value"], "collector")

    def panel(self) -> pn.viewable.Viewable:
        charts = pn.GridBox(*[pn.pane.Bokeh(f) for f in (*self.figures.values(), self.losses, self.per_format,
                                                        self.per_transport)], ncols=2)  # fmt: skip
        layout = pn.Column(
            pn.pane.Markdown(f"## Live: {html.escape(self.target)}"), self.status_pane, self.numbers, charts,
            pn.Row(pn.Column("### Latest entries per format", self.samples, width=620),
                   pn.Column(self.generators, self.collector, width=620)),
            sizing_mode="stretch_width",
        )  # fmt: skip
        self.tick()
        pn.state.add_periodic_callback(self._tick, period=self.interval_ms)
        return layout


def _html_table(rows: Any, cols: Sequence[str], title: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>" for r in rows)
    return (f"<h4>{html.escape(title)}</h4><table style='font-size:.8rem;border-collapse:collapse'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")  # fmt: skip


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return "" if v is None else str(v)


def live_app(target: str | Path, collector_url: str | None = None, interval_ms: int = 1000) -> Any:
    """A Panel app factory (one ``LiveView`` per browser session) for ``pn.serve``."""

    def app() -> pn.viewable.Viewable:
        return LiveView(str(target), collector_url=collector_url, interval_ms=interval_ms).panel()

    return app
