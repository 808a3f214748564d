"""The analysis API over a real run: results, stored logs, queries, live figures, the HTML report."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from test_analysis_fixtures import tiny_run

from workbench.analysis import explore, load_run, load_runs
from workbench.analysis.compare import accounting, by_setting
from workbench.analysis.live import LiveSource
from workbench.analysis.logs import scan_logs
from workbench.cli import main

pytestmark = pytest.mark.slow  # a real scenario run (~10 s), shared by the session


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory)


def test_run_tables_and_the_stored_logs_agree(run_dir: Path) -> None:
    run = load_run(run_dir)
    assert set(run.cell_dirs()) == {"format=json", "format=proto"}
    gens = run.generators()
    assert gens["sent_logs_total"].sum() == run.summary["sent"].sum()
    assert load_runs(run_dir.parent, table="clients")["run"].unique().to_list() == [run.name]
    for cell, stored in run.summary.select("cell", "stored").iter_rows():
        lf = scan_logs(run.data_dir(cell))
        assert lf.select(pl.len()).collect().item() == stored
        assert lf.select(pl.col("client_id").n_unique()).collect().item() == 2
    assert by_setting(run.summary)["setting"].to_list() == ["json/tcp/b100", "proto/tcp/b100"]
    assert not accounting(run.summary)["problem"].any()


def test_explore_queries(run_dir: Path) -> None:
    lf = scan_logs(run_dir)
    total = lf.select(pl.len()).collect().item()
    levels = explore.level_counts(lf)
    assert levels["logs"].sum() == total
    wide = explore.service_levels(lf)
    assert wide["total"].sum() == total and wide["error_rate"].is_between(0, 1).all()
    rates = explore.error_rate(lf, "1s")
    assert rates["logs"].sum() == total
    errors = explore.filter_logs(lf, levels=["ERROR"]).collect()
    assert errors.height == levels.filter(pl.col("level") == "ERROR")["logs"].sum()
    word = errors["message"][0].split()[0].upper()
    hits = explore.filter_logs(lf, text=word).collect()
    assert hits.height >= 1 and hits["message"].str.to_uppercase().str.contains(re.escape(word)).all()
    lo, hi = explore.time_range(lf)
    assert lo is not None and hi is not None
    assert explore.filter_logs(lf, start=hi).collect().height >= 1


def test_report_html_is_self_contained(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(run_dir), "--out", str(tmp_path / "export"), "--html", str(out)])
    assert exit_info.value.code == 0
    assert (tmp_path / "export" / "report.parquet").is_file()
    page = out.read_text()
    assert f"wrote {out}" in capsys.readouterr().out
    assert "Bokeh" in page and "json/tcp/b100" in page and "Accounting" in page
    remote = re.findall(
        r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//[^"'>]*""", page, re.I
    )
    assert remote == []
    assert not re.search(r"""url\(\s*["']?https?://|@import\s+["']?(?:url\()?["']?https?://""", page, re.I)


def test_live_source_turns_snapshots_into_rates() -> None:
    src = LiveSource("http://127.0.0.1:9")
    snap = {"totals": {"logs": 100, "bytes": 1000, "rejected": 1, "dropped": 0}, "gauges": {"queue_length": 5},
            "logs_per_sec": 50.0, "mb_per_sec": 0.1, "latency_us": 12.0, "by_format": {"json": 100},
            "by_transport": {"tls": 100}, "samples": {"json": ["{}"]}, "rates": {"rejected": 0.5}}  # fmt: skip
    first = src._sample(1000.0, snap, "u")
    assert first.by_format == {"json": 0.0} and first.row["queue_length"] == 5
    snap2 = {**snap, "by_format": {"json": 300, "proto": 50}, "by_transport": {"tls": 350}}
    second = src._sample(1002.0, snap2, "u")
    assert second.by_format == {"json": 100.0, "proto": 25.0} and second.by_transport == {"tls": 125.0}
    assert second.row["rejected_per_sec"] == 0.5 and src.frame().height == 2
    assert src.poll().ok is False  # nothing listens on port 9
