"""Results folders (``results/<run-id>/``) into Polars frames, one run or many at once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from workbench.errors import ConfigError


@dataclass
class Run:
    path: Path
    summary: pl.DataFrame
    timeseries: pl.DataFrame
    env: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name


def load_run(path: str | Path) -> Run:
    p = Path(path)
    if not (p / "summary.parquet").is_file():
        raise ConfigError(f"{p} is not a results folder (no summary.parquet)")
    ts_path = p / "timeseries.parquet"
    env_path = p / "env.json"
    return Run(
        path=p,
        summary=pl.read_parquet(p / "summary.parquet"),
        timeseries=pl.read_parquet(ts_path) if ts_path.is_file() else pl.DataFrame(),
        env=json.loads(env_path.read_text()) if env_path.is_file() else {},
    )


def find_runs(root: str | Path) -> list[Path]:
    """Results folders at or below ``root`` (a run folder itself, or a folder of runs)."""
    r = Path(root)
    if (r / "summary.parquet").is_file():
        return [r]
    return sorted(p.parent for p in r.glob("*/summary.parquet"))


def load_runs(*roots: str | Path) -> pl.DataFrame:
    """The summaries of every run found under ``roots`` in one frame, with a ``run`` column."""
    frames = []
    for root in roots:
        for path in find_runs(root):
            frames.append(load_run(path).summary.with_columns(pl.lit(path.name).alias("run")))
    if not frames:
        raise ConfigError(f"no results folders under {', '.join(map(str, roots))}")
    return pl.concat(frames, how="diagonal_relaxed")
