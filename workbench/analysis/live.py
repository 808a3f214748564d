"""Live figures of a running ingestor (and collector): ``/metrics.json`` polled into flat rows.

``LiveSource.poll()`` fetches one snapshot and returns a ``LiveSample``: the ingestor's own
figures (``logs_per_sec``, ``mb_per_sec``, ``latency_us``, queue, drops, rejects, connections)
plus per-format and per-transport rates computed from the difference of two snapshots' totals,
and the latest sample entries per format. Pure Python and Polars: the live dashboard and a
notebook both use it.

A source is a URL (``http://127.0.0.1:8080``) or a results run folder that a scenario is writing:
the ingestor of the cell in progress is found by its process (whose command line names, or whose
open files lie in, ``RUN/cells/*/data``) and the HTTP port among that process's listening ports
that answers ``/healthz``. It is found again when a new cell starts a new ingestor.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

TIMEOUT_SECONDS = 2.0


@dataclass
class LiveSample:
    t: float  # wall-clock seconds
    ok: bool
    row: dict[str, float] = field(default_factory=dict)  # the headline figures
    by_format: dict[str, float] = field(default_factory=dict)  # logs/s per format
    by_transport: dict[str, float] = field(default_factory=dict)  # logs/s per transport
    totals_by_format: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)  # latest stored lines per format
    error: str = ""
    url: str = ""


def fetch_json(url: str, timeout: float = TIMEOUT_SECONDS) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _listening_ports(pid: int) -> list[int]:
    import psutil

    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return []
    return sorted({c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN and c.laddr})


def discover_ingestor(run_dir: str | Path) -> str | None:
    """The ``http://host:port`` of the ingestor writing into ``run_dir/cells/*/data``, if one runs.

    The runner writes each cell's address to ``cells/<n>-<cell>/ingestor.json``: the newest one
    that answers wins; processes are scanned only for runs written without it.
    """
    import psutil

    for marker in sorted(
        Path(run_dir).glob("cells/*/ingestor.json"), key=lambda p: p.stat().st_mtime, reverse=True
    ):
        try:
            url = str(json.loads(marker.read_text())["http_url"])
            if "totals" in fetch_json(f"{url}/metrics.json", timeout=0.5):
                return url
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            continue
    cells = str(Path(run_dir).resolve() / "cells")
    candidates: list[int] = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if "ingest" in cmd and cells in cmd:
                candidates.insert(0, proc.pid)
            elif any(f.path.startswith(cells) for f in proc.open_files()):
                candidates.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    for pid in candidates:
        for port in _listening_ports(pid):
            url = f"http://127.0.0.1:{port}"
            try:
                snap = fetch_json(f"{url}/metrics.json", timeout=0.5)
            except (OSError, ValueError, urllib.error.URLError):
                continue
            if "totals" in snap and "gauges" in snap:
                return url
    return None


class LiveSource:
    """Polls an ingestor's ``/metrics.json`` (and optionally a collector's) and keeps the
    history as rows. ``target`` is a URL or a run folder (see the module docstring)."""

    def __init__(self, target: str | Path, collector_url: str | None = None, history: int = 600) -> None:
        text = str(target)
        self.run_dir: Path | None = None if text.startswith(("http://", "https://")) else Path(text)
        self.url: str | None = text.rstrip("/") if self.run_dir is None else None
        self.collector_url = collector_url.rstrip("/") if collector_url else None
        self.history = history
        self.rows: list[dict[str, float]] = []
        self._prev: tuple[float, dict[str, float], dict[str, float]] | None = None

    def _ingestor_url(self) -> str | None:
        if self.url is None and self.run_dir is not None:
            self.url = discover_ingestor(self.run_dir)
        return self.url

    def poll(self) -> LiveSample:
        now = time.time()
        url = self._ingestor_url()
        if url is None:
            return LiveSample(now, False, error=f"no running ingestor found for {self.run_dir}")
        try:
            snap = fetch_json(f"{url}/metrics.json")
        except (OSError, ValueError, urllib.error.URLError) as exc:
            if self.run_dir is not None:
                self.url = None  # the cell ended: look again next time
                self._prev = None
            return LiveSample(now, False, error=f"{url}: {exc}", url=url)
        return self._sample(now, snap, url)

    def _sample(self, now: float, snap: dict[str, Any], url: str) -> LiveSample:
        t, g = snap.get("totals", {}), snap.get("gauges", {})
        fmt_totals = {k: float(v) for k, v in snap.get("by_format", {}).items()}
        tr_totals = {k: float(v) for k, v in snap.get("by_transport", {}).items()}
        by_format: dict[str, float] = dict.fromkeys(fmt_totals, 0.0)
        by_transport: dict[str, float] = dict.fromkeys(tr_totals, 0.0)
        if self._prev is not None:
            t0, f0, tr0 = self._prev
            dt = max(now - t0, 1e-6)
            by_format = {k: max(0.0, v - f0.get(k, 0.0)) / dt for k, v in fmt_totals.items()}
            by_transport = {k: max(0.0, v - tr0.get(k, 0.0)) / dt for k, v in tr_totals.items()}
        self._prev = (now, fmt_totals, tr_totals)
        rates = snap.get("rates", {})
        row = {
            "t": now,
            "logs_per_sec": float(snap.get("logs_per_sec", 0.0)),
            "mb_per_sec": float(snap.get("mb_per_sec", 0.0)),
            "latency_us": float(snap.get("latency_us", 0.0)),
            "queue_length": float(g.get("queue_length", 0.0)),
            "queue_length_max": float(g.get("queue_length_max", 0.0)),
            "connections": float(g.get("connections_active", 0.0)),
            "logs_total": float(t.get("logs", 0.0)),
            "bytes_total": float(t.get("bytes", 0.0)),
            "rejected_total": float(t.get("rejected", 0.0)),
            "dropped_total": float(t.get("dropped", 0.0)),
            "rejected_per_sec": float(rates.get("rejected", 0.0)),
            "dropped_per_sec": float(rates.get("dropped", 0.0)),
            "disk_bytes": float(g.get("disk_bytes", 0.0)),
            "workers": float(g.get("workers", 0.0)),
        }
        self.rows.append(row)
        del self.rows[: -self.history]
        return LiveSample(
            now, True, row, by_format, by_transport, fmt_totals, snap.get("samples", {}), url=url
        )

    def frame(self) -> pl.DataFrame:
        """The polled history, one row per poll."""
        return pl.DataFrame(self.rows) if self.rows else pl.DataFrame({"t": []})

    def collector(self) -> dict[str, Any]:
        """The collector's ``/metrics.json`` flattened to ``name: number`` (empty when none)."""
        if not self.collector_url:
            return {}
        try:
            return flatten(fetch_json(f"{self.collector_url}/metrics.json"))
        except (OSError, ValueError, urllib.error.URLError) as exc:
            return {"error": str(exc)}


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested JSON numbers as ``a.b.c: value`` (lists and strings other than at the top skipped)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif (isinstance(data, int | float) and not isinstance(data, bool)) or (
        isinstance(data, str) and prefix.count(".") == 1
    ):
        out[prefix[:-1]] = data
    return out
