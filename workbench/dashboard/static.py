"""The static report: one self-contained HTML file of a run (or a comparison of runs).

Bar charts by format × protocol × batch, the time series of every cell, the loss/duplicate
accounting (highlighted), and the summary table. BokehJS is inlined (only its core bundle: plots, no widgets)
and nothing else is referenced: the file opens without a network, from a mail attachment or CI
artifact. Uses Bokeh directly, not Panel, whose static export still links stylesheets on a CDN.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import polars as pl
from bokeh.embed import components
from bokeh.layouts import gridplot
from bokeh.resources import Resources

from workbench.analysis.compare import accounting
from workbench.analysis.report import _CSS, _cell
from workbench.analysis.results import Run
from workbench.dashboard.plots import BAR_METRICS, SERIES_METRICS, bar_chart, timeseries_chart
from workbench.errors import ExportError

# a remote resource reference: what the report must never contain
REMOTE_RESOURCE = re.compile(
    r"""(?:<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)|(?:@import\s+["']?(?:url\()?\s*["']?(?:https?:)?//)""",
    re.IGNORECASE,
)

_EXTRA_CSS = """.bad td{background:#fde2e2}.flag{color:#b42318;font-weight:600}h2{margin-top:2rem}
.meta{color:#5b6472;font-size:.85rem}.wrap{overflow-x:auto}"""


def _table(df: pl.DataFrame, highlight: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns if c != highlight)
    rows = []
    for r in df.iter_rows(named=True):
        cls = ' class="bad"' if highlight and r.get(highlight) else ""
        cells = "".join(_cell(c, r[c]) for c in df.columns if c != highlight)
        rows.append(f"<tr{cls}>{cells}</tr>")
    return (
        f"<div class='wrap'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def report_html(runs: list[Run], comparison: pl.DataFrame, title: str) -> str:
    """The report of ``runs`` (``comparison`` from ``compare_runs``) as one HTML document."""
    summary = pl.concat(
        [r.summary.with_columns(pl.lit(r.name).alias("run")) for r in runs], how="diagonal_relaxed"
    )
    series = pl.concat([r.timeseries.with_columns(pl.lit(r.name).alias("run")) for r in runs if r.timeseries.height],
                       how="diagonal_relaxed") if any(r.timeseries.height for r in runs) else pl.DataFrame()  # fmt: skip
    bars = [bar_chart(summary, m) for m in BAR_METRICS if m in summary.columns]
    lines = [timeseries_chart(series, m) for m in SERIES_METRICS if series.height and m in series.columns]
    script, (bar_div, line_div) = components((gridplot(bars, ncols=3, toolbar_location=None),  # type: ignore[arg-type]
                                              gridplot(lines, ncols=3, toolbar_location=None) if lines else gridplot([[]])))  # fmt: skip
    acc = accounting(summary)
    problems = int(acc["problem"].sum())
    flag = (f"<p class='flag'>{problems} cell(s) lost or duplicated logs, or failed</p>" if problems
            else "<p>every log sent was stored exactly once</p>")  # fmt: skip
    env = runs[-1].env
    meta = " · ".join(f"{k}: {html.escape(str(env[k]))}" for k in ("python", "cpu_model", "cores", "git_revision", "created")
                      if env.get(k) is not None)  # fmt: skip
    body = f"""<h1>{html.escape(title)}</h1><p class='meta'>{meta}</p>
<h2>By format × protocol × batch</h2><p class='meta'>red: a cell that lost or duplicated logs</p>{bar_div}
<h2>Accounting</h2>{flag}{_table(acc, "problem")}
<h2>Time series per cell</h2>{line_div}
<h2>Summary</h2>{_table(comparison)}"""
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
{Resources(mode="inline", components=["bokeh"]).render()}<style>{_CSS}{_EXTRA_CSS}</style></head><body>{body}{script}</body></html>"""
    bad = REMOTE_RESOURCE.search(page)
    if bad:  # a Bokeh upgrade that started linking a CDN would break the promise: fail loudly
        raise ExportError(f"static report would reference a remote resource: {bad.group(0)!r}")
    return page


def write_report(runs: list[Run], comparison: pl.DataFrame, path: Path, title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(runs, comparison, title), encoding="utf-8")
    return path
