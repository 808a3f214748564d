"""report: comparison ratios against the first run, exports, and the regression exit code."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from workbench.cli import main


def _run(root: Path, name: str, rates: dict[str, float], lost: int = 0) -> Path:
    path = root / name
    path.mkdir(parents=True)
    pl.DataFrame({
        "cell": list(rates), "status": ["ok"] * len(rates), "sent": [100] * len(rates),
        "stored": [100 - lost] * len(rates), "lost": [lost] * len(rates),
        "logs_per_sec": list(rates.values()), "latency_p99_us": [1000.0] * len(rates),
    }).write_parquet(path / "summary.parquet")  # fmt: skip
    return path


def test_two_runs_give_ratios_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _run(tmp_path, "a", {"json": 100.0, "proto": 200.0})
    b = _run(tmp_path, "b", {"json": 95.0, "proto": 300.0})
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(a), str(b), "--threshold", "0.10", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 0
    comparison = pl.read_parquet(tmp_path / "out" / "comparison.parquet")
    ratios = {(r["run"], r["cell"]): r["logs_per_sec_ratio"] for r in comparison.iter_rows(named=True)}
    assert ratios[("a", "json")] == 1.0 and ratios[("b", "json")] == pytest.approx(0.95)
    assert ratios[("b", "proto")] == pytest.approx(1.5)
    assert (tmp_path / "out" / "comparison.csv").read_text().startswith("cell,")
    assert "<table>" in (tmp_path / "out" / "comparison.html").read_text()
    assert "no regression" in capsys.readouterr().out


def test_a_slower_cell_or_a_loss_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _run(tmp_path, "a", {"json": 100.0})
    slow = _run(tmp_path, "slow", {"json": 80.0})
    lossy = _run(tmp_path, "lossy", {"json": 100.0}, lost=3)
    for run in (slow, lossy):
        with pytest.raises(SystemExit) as exit_info:
            main(["report", str(a), str(run), "--threshold", "0.10", "--out", str(tmp_path / run.name)])
        assert exit_info.value.code == 1
        assert "REGRESSION" in capsys.readouterr().out


def test_not_a_results_folder_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: report: no results folders")
