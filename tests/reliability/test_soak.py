"""Soak: ``scenarios/soak.yaml`` through the workbench runner, with exact accounting.

Mixed formats over TLS with backpressure and frequent rotation: nothing lost, and the ingestor's
RSS and open file descriptors flat, compared between the first and the last third of the run
(from ``timeseries.parquet``, sampled each second by the runner). The always-on test runs the
scenario for ``SHORT_SECONDS``; ``-m soak`` runs it for its full five minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from workbench.scenario import load_scenario, run_scenario

SOAK = Path(__file__).resolve().parents[2] / "scenarios" / "soak.yaml"
SHORT_SECONDS = 20.0
RSS_GROWTH_MB = 40.0  # mean of the last third minus the first, the ingestor's process tree
FD_GROWTH = 8.0


def _soak(tmp_path: Path, duration: float | None) -> tuple[dict[str, Any], pl.DataFrame]:
    scenario = load_scenario(SOAK)
    if duration is not None:
        scenario = scenario.model_copy(update={"duration": duration})
    result = run_scenario(scenario, results_dir=tmp_path, quiet=True)
    (row,) = result.summary.to_dicts()
    return row, result.timeseries


def _flat(ts: pl.DataFrame, column: str) -> float:
    """Growth of a sampled figure: mean over the last third minus mean over the first third."""
    busy = ts.filter(pl.col("logs_per_sec") > 0).sort("t")
    n = busy.height
    assert n >= 9, f"only {n} busy samples"
    first, last = busy[column][: n // 3].mean(), busy[column][-(n // 3) :].mean()
    return float(last) - float(first)  # type: ignore[arg-type]


def _check(row: dict[str, Any], ts: pl.DataFrame) -> None:
    assert row["status"] == "ok", row
    assert row["sent"] > 0 and row["lost"] == 0 and row["stored"] == row["sent"], row
    assert row["rejected"] == 0 and row["dropped"] == 0, row
    assert ts["open_fds"].min() > 0  # sampled at all
    rss, fds = _flat(ts, "rss_mb"), _flat(ts, "open_fds")
    print(f"soak: {row['sent']:,} logs, rss growth {rss:+.1f} MB, open fds growth {fds:+.1f}")
    assert rss < RSS_GROWTH_MB, rss
    assert fds <= FD_GROWTH, fds


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_soak_short(tmp_path: Path) -> None:
    _check(*_soak(tmp_path, SHORT_SECONDS))


@pytest.mark.soak
@pytest.mark.timeout(1200)
def test_soak_full(tmp_path: Path) -> None:
    _check(*_soak(tmp_path, None))
