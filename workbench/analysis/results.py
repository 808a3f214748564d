"""Results folders (``results/<run-id>/``) into Polars frames, one run or many at once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
    clients: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def name(self) -> str:
        return self.path.name

    def cell_dirs(self) -> dict[str, Path]:
        """``cells/<n>-<cell>/`` of each cell, by cell name."""
        out = {}
        for d in sorted((self.path / "cells").glob("*-*")):
            if d.is_dir():
                out[d.name.split("-", 1)[1]] = d
        return out

    def data_dir(self, cell: str) -> Path:
        """The ingestor's data dir of a cell (its stored logs)."""
        dirs = self.cell_dirs()
        if cell not in dirs:
            raise ConfigError(f"{self.path}: no cell {cell!r} (cells: {', '.join(dirs) or 'none'})")
        return dirs[cell] / "data"

    def generators(self) -> pl.DataFrame:
        """One row per cell and generator group from ``cells/*/generator-<n>.json``: the
        generator's own figures (sent, failed, retries, its rate and CPU)."""
        return generator_summaries(self.path)


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
        clients=pl.read_parquet(p / "clients.parquet")
        if (p / "clients.parquet").is_file()
        else pl.DataFrame(),
    )


def generator_summaries(run_dir: str | Path) -> pl.DataFrame:
    """The generator summaries written so far under ``run_dir/cells/`` (readable while a run is
    still going: each is written when its generator finishes)."""
    rows = []
    for path in sorted(Path(run_dir).glob("cells/*-*/generator-*.json")):
        if path.name.endswith(".config.json"):  # what the generator ran with, not what it did
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being written
        row: dict[str, Any] = {"cell": path.parent.name.split("-", 1)[1], "group": path.stem.split("-", 1)[1]}
        for key, value in data.items():
            if isinstance(value, str | int | float | bool) or value is None:
                row[key] = value
        row.update(data.get("totals", {}))
        row["clients"] = len(data.get("clients", []))
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def find_runs(root: str | Path) -> list[Path]:
    """Results folders at or below ``root`` (a run folder itself, or a folder of runs)."""
    r = Path(root)
    if (r / "summary.parquet").is_file():
        return [r]
    return sorted(p.parent for p in r.glob("*/summary.parquet"))


def load_runs(*roots: str | Path, table: str = "summary") -> pl.DataFrame:
    """The summaries (or ``table="timeseries"``, ``"clients"``, ``"generators"``) of every run
    found under ``roots`` in one frame, with a ``run`` column."""
    if table not in ("summary", "timeseries", "clients", "generators"):
        raise ValueError(f"table: summary, timeseries, clients or generators, not {table!r}")
    frames = []
    found = False
    for root in roots:
        for path in find_runs(root):
            found = True
            run = load_run(path)
            df = run.generators() if table == "generators" else getattr(run, table)
            if df.height:
                frames.append(df.with_columns(pl.lit(path.name).alias("run")))
    if not found:
        raise ConfigError(f"no results folders under {', '.join(map(str, roots))}")
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame({"run": []})
