"""Results folders: self-describing, written once, read by any Parquet reader.

``results/<run-id>/`` holds ``scenario.yaml`` (as run, with its seed and placement),
``summary.parquet`` (one row per cell), ``timeseries.parquet`` (metric samples, one row per cell
and second), ``clients.parquet`` (per-client accounting), ``env.json`` (versions, CPU, git
revision) and ``logs/`` (component logs). ``FORMAT_VERSION`` changes when a column changes:

* 1: first version.
* 2: ``host`` (where the ingestors ran, comma-separated) in summary and clients, ``ingestors`` in
  summary; timeseries rows per ingestor and second with ``ingestor`` and ``host``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from workbench.formats import ANSWERED_PROTOCOLS
from workbench.scenario.accounting import Stored
from workbench.scenario.model import Cell, GeneratorGroup, Placement, Scenario
from workbench.scenario.placement.base import IngestorHandle

FORMAT_VERSION = 2
SUMMARY_COLUMNS = (
    "cell", "status", "format", "protocol", "batch", "clients", "workers", "duration_s", "sent", "stored", "lost",
    "duplicated", "rejected", "dropped", "logs_per_sec", "mb_per_sec", "latency_p50_us", "latency_p99_us",
    "cpu_percent", "rss_mb", "compression_ratio", "host",
)  # fmt: skip
PACKAGES = (
    "workbench",
    "msgspec",
    "pyarrow",
    "polars",
    "zstandard",
    "fastavro",
    "protobuf",
    "uvloop",
    "aiohttp",
    "dask",
    "distributed",
)


def cell_row(cell: Cell, handles: list[IngestorHandle], acc: dict[str, Any], stored: Stored,
             final: dict[str, float], samples: list[dict[str, Any]], measured: list[dict[str, Any]],
             duration_s: float, logs_per_sec: float, mb_per_sec: float) -> dict[str, Any]:  # fmt: skip
    """The summary row of a cell that ran: what it was (from the scenario), what was sent, stored
    and lost (``acc``), how fast (``samples``: every second; ``measured``: the measured window)."""
    s = cell.scenario
    busy = [x for x in measured if x["logs_per_sec"] > 0] or measured
    g0 = s.generators[0] if s.generators else GeneratorGroup(format="json")
    hosts = sorted({h.host for h in handles})
    row = {
        "cell": cell.name, "cell_index": cell.index, "status": "ok", "reason": "",
        "target": s.target.type, "tls": bool(handles[0].cert_path),
        "generator": ",".join(sorted({g.tool for g in s.generators})) if s.generators else "",
        "format": ",".join(sorted({g.format if g.protocol in ("tcp", "udp") else g.protocol for g in s.generators}
                                 | {f"files-{c.file_format}" for c in s.collectors})),
        "protocol": ",".join(sorted({g.protocol for g in s.generators} | ({"collector"} if s.collectors else set()))),
        "batch": g0.batch, "clients": sum(g.clients for g in s.generators) + sum(c.files for c in s.collectors),
        "workers": s.ingestor.workers, "ingestors": len(handles), "host": ",".join(hosts),
        "ack": any(g.ack or g.protocol in ANSWERED_PROTOCOLS for g in s.generators), "duration_s": duration_s,
        "sent": acc["sent"], "stored": acc["stored"], "lost": acc["lost"], "duplicated": acc["duplicated"],
        "reordered": acc["reordered"], "rejected": acc["rejected"], "dropped": acc["dropped"],
        "ingestor_stored": final["stored"] if all("stored" in h.final for h in handles) else None,
        "logs_per_sec": logs_per_sec, "mb_per_sec": mb_per_sec,
        "latency_p50_us": stored.latency_us["p50"], "latency_p90_us": stored.latency_us["p90"],
        "latency_p99_us": stored.latency_us["p99"], "latency_max_us": stored.latency_us["max"],
        "cpu_percent": sum(x["cpu_percent"] for x in busy) / len(busy) if busy else 0.0,
        "rss_mb": max((x["rss_mb"] for x in samples), default=0.0),
        "compression_ratio": stored.compression_ratio, "disk_bytes": stored.disk_bytes,
        "generator_cpu_percent": _mean(busy, "generator_cpu_percent"),
        "generator_rss_mb": max((x.get("generator_rss_mb", 0.0) for x in samples), default=0.0),
        "matrix": str(cell.values),
    }  # fmt: skip
    if row["logs_per_sec"] and row["cpu_percent"]:
        row["cpu_seconds_per_million"] = row["cpu_percent"] / 100 / row["logs_per_sec"] * 1e6
    else:
        row["cpu_seconds_per_million"] = 0.0
    return row


def _mean(samples: list[dict[str, Any]], key: str) -> float:
    values = [x[key] for x in samples if key in x]
    return sum(values) / len(values) if values else 0.0


def new_run_dir(results_dir: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = results_dir / f"{name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def write_scenario(run_dir: Path, scenario: Scenario, seed: int, placement: Placement) -> None:
    data = scenario.model_dump(mode="json")
    data["seed"] = seed
    data["placement"] = placement.model_dump(mode="json", exclude_defaults=True) | {"type": placement.type}
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (run_dir / "env.json").write_text(json.dumps(environment(), indent=2) + "\n", encoding="utf-8")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "format_version": FORMAT_VERSION,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "git_revision": _git_revision(),
        "packages": versions,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_results(run_dir: Path, rows: list[dict[str, Any]], samples: list[dict[str, Any]],
                  clients: list[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:  # fmt: skip
    summary = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame({"cell": []})
    for col in SUMMARY_COLUMNS:
        if col not in summary.columns:
            summary = summary.with_columns(pl.lit(None).alias(col))
    summary = summary.with_columns(pl.lit(FORMAT_VERSION).alias("format_version"))
    timeseries = (
        pl.DataFrame(samples, infer_schema_length=None) if samples else pl.DataFrame({"cell": [], "t": []})
    )
    summary.write_parquet(run_dir / "summary.parquet")
    timeseries.write_parquet(run_dir / "timeseries.parquet")
    pl.DataFrame(clients, infer_schema_length=None).write_parquet(
        run_dir / "clients.parquet"
    ) if clients else None
    return summary, timeseries


def add_baseline_ratio(rows: list[dict[str, Any]], values: dict[int, dict[str, Any]],
                       baseline: dict[str, Any]) -> None:  # fmt: skip
    """``ratio_to_baseline``: a cell's logs/s over that of the cell with the baseline's values and
    the same other matrix values (e.g. each target over syslog-ng, per transport and generator)."""

    def key(index: int, with_baseline: bool) -> tuple[tuple[str, str], ...]:
        v = {**values[index], **(baseline if with_baseline else {})}
        return tuple(sorted((k, repr(x)) for k, x in v.items()))

    rate = {key(r["cell_index"], False): r.get("logs_per_sec") for r in rows if r.get("status") == "ok"}
    for r in rows:
        ref = rate.get(key(r["cell_index"], True))
        mine = r.get("logs_per_sec")
        r["ratio_to_baseline"] = mine / ref if ref and mine is not None and r.get("status") == "ok" else None


def format_table(summary: pl.DataFrame) -> str:
    cols = [("cell", "cell", "{}"), ("status", "status", "{}"), ("sent", "sent", "{:,}"), ("stored", "stored", "{:,}"),
            ("lost", "lost", "{:,}"), ("dup", "duplicated", "{:,}"), ("rej", "rejected", "{:,}"),
            ("drop", "dropped", "{:,}"), ("logs/s", "logs_per_sec", "{:,.0f}"), ("MB/s", "mb_per_sec", "{:.2f}"),
            ("p99 µs", "latency_p99_us", "{:,.0f}"), ("CPU %", "cpu_percent", "{:.0f}"), ("RSS MB", "rss_mb", "{:.0f}"),
            ("CPU s/M", "cpu_seconds_per_million", "{:.2f}"), ("zstd x", "compression_ratio", "{:.1f}")]  # fmt: skip
    if "ratio_to_baseline" in summary.columns:
        cols.append(("vs baseline", "ratio_to_baseline", "{:.2f}"))
    table = [[title for title, _, _ in cols]]
    for row in summary.iter_rows(named=True):
        table.append([fmt.format(row[key]) if row.get(key) is not None else "-" for _, key, fmt in cols])
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    lines = ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
             for r in table]  # fmt: skip
    return "\n".join(lines)
