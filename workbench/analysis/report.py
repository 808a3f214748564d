"""Comparison exports: Parquet, CSV and a self-contained HTML table (no network needed to open it)."""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl

_CSS = """body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2430}
table{border-collapse:collapse;font-size:.85rem}td,th{border-bottom:1px solid #e3e6ea;padding:.25rem .6rem;text-align:right}
th{background:#f1f3f6}td:first-child,th:first-child{text-align:left}.bad{background:#fde2e2}.good{background:#e3f6e8}"""


def _cell(col: str, value: object) -> str:
    if value is None:
        return "<td>-</td>"
    cls = ""
    if col.endswith("_ratio") and isinstance(value, float):
        cls = ' class="bad"' if value < 0.9 else (' class="good"' if value > 1.1 else "")
    if col in ("lost", "duplicated") and value:
        cls = ' class="bad"'
    text = (
        f"{value:,.3f}"
        if isinstance(value, float)
        else (f"{value:,}" if isinstance(value, int) else str(value))
    )
    return f"<td{cls}>{html.escape(text)}</td>"


def to_html(df: pl.DataFrame, title: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(_cell(c, r[c]) for c in df.columns) + "</tr>" for r in df.iter_rows(named=True)
    )
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></body></html>")  # fmt: skip


def export(df: pl.DataFrame, out_dir: Path, stem: str, title: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.parquet", out_dir / f"{stem}.csv", out_dir / f"{stem}.html"]
    df.write_parquet(paths[0])
    df.write_csv(paths[1])
    paths[2].write_text(to_html(df, title), encoding="utf-8")
    return paths


TEXT_COLUMNS = ("run", "cell", "status", "sent", "stored", "lost", "duplicated", "logs_per_sec", "logs_per_sec_ratio",
                "latency_p99_us", "latency_p99_us_ratio", "cpu_seconds_per_million", "compression_ratio")  # fmt: skip


def to_text(df: pl.DataFrame, columns: tuple[str, ...] = TEXT_COLUMNS) -> str:
    """A fixed-width table of the columns people compare first."""
    cols = [c for c in columns if c in df.columns]
    rows = [cols]
    for r in df.iter_rows(named=True):
        out = []
        for c in cols:
            v = r[c]
            if v is None:
                out.append("-")
            elif isinstance(v, float):
                out.append(f"{v:.2f}" if c.endswith("_ratio") else f"{v:,.0f}")
            elif isinstance(v, int):
                out.append(f"{v:,}")
            else:
                out.append(str(v))
        rows.append(out)
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    return "\n".join("  ".join(v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True)))
                     for row in rows)  # fmt: skip
