"""Once a second, what running components do: an ingestor's ``/metrics.json`` and the CPU and RSS
of process trees.

A probe samples every ingestor of a cell and the other components by role. ``LocalProbe`` does it
from the runner (local placements: the processes are on this host); the Dask placement runs the
same ``ProcessUsage`` and ``metrics_fields`` on each worker, next to the processes, and its rows
come back as Arrow tables. Row fields: ``logs_total``, ``bytes_total``, ``rejected_total``,
``dropped_total``, ``logs_per_sec``, ``mb_per_sec``, ``latency_us``, ``queue_length``,
``connections``, ``cpu_percent``, ``rss_mb``, ``open_fds``; other components:
``<role>_cpu_percent``, ``<role>_rss_mb`` and ``<role>_open_fds``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import aiohttp
import psutil

ROLES_APART = ("ingestor", "target")  # sampled with the ingestor's own row, not as another component


def metrics_fields(snap: dict[str, Any]) -> dict[str, float]:
    """The row fields of one ``/metrics.json`` snapshot, all floats (JSON says 0 or 0.0 as it
    likes; the timeseries columns must have one type whatever placement sampled them)."""
    t, g = snap["totals"], snap["gauges"]
    fields = {
        "logs_total": t["logs"], "bytes_total": t["bytes"], "rejected_total": t["rejected"],
        "dropped_total": t["dropped"], "logs_per_sec": snap["logs_per_sec"], "mb_per_sec": snap["mb_per_sec"],
        "latency_us": snap["latency_us"], "queue_length": g["queue_length"], "connections": g["connections_active"],
    }  # fmt: skip
    return {k: float(v) for k, v in fields.items()}


def proc_tree(pids: Sequence[int]) -> list[psutil.Process]:
    procs: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            procs.append(p)
            procs.extend(p.children(recursive=True))
    return procs


class ProcessUsage:
    """CPU % since the previous call and RSS of process trees (keeps each ``psutil.Process`` so
    that ``cpu_percent`` measures the interval between two samples)."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def usage(self, pids: Sequence[int]) -> tuple[float, float, float]:
        """(CPU percent, RSS in MB, open file descriptors) of the processes and all their descendants."""
        cpu = rss = fds = 0.0
        for p in proc_tree(pids):
            proc = self._procs.setdefault(p.pid, p)
            with contextlib.suppress(psutil.Error):
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
                fds += proc.num_fds()
        return cpu, rss / 1e6, fds

    def by_role(self, components: dict[str, list[int]]) -> dict[str, float]:
        """``<role>_cpu_percent``, ``<role>_rss_mb`` and ``<role>_open_fds`` of every role but the ingestor's."""
        out: dict[str, float] = {}
        for role, pids in components.items():
            if role in ROLES_APART:
                continue
            cpu, rss, fds = self.usage(pids)
            out[f"{role}_cpu_percent"], out[f"{role}_rss_mb"], out[f"{role}_open_fds"] = cpu, rss, fds
        return out


class IngestorLike(Protocol):
    http_url: str
    pids: list[int]


class Probe(Protocol):
    async def sample(self, ings: Sequence[Any]) -> tuple[list[dict[str, float] | None], dict[str, float]]:
        """Per ingestor its row (None: no answer this second), and the other components by role."""
        ...

    async def close(self) -> None: ...


class LocalProbe:
    """Samples components on this host: the ingestors over HTTP, the processes with psutil."""

    def __init__(self, components: Callable[[], dict[str, list[int]]]) -> None:
        self.components = components
        self.processes = ProcessUsage()
        self._session: aiohttp.ClientSession | None = None

    async def sample(
        self, ings: Sequence[IngestorLike]
    ) -> tuple[list[dict[str, float] | None], dict[str, float]]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        snaps = await asyncio.gather(*(self._metrics(ing.http_url) for ing in ings))
        rows: list[dict[str, float] | None] = []
        for ing, snap in zip(ings, snaps, strict=True):
            cpu, rss, fds = self.processes.usage(ing.pids)
            rows.append(
                None
                if snap is None
                else {**metrics_fields(snap), "cpu_percent": cpu, "rss_mb": rss, "open_fds": fds}
            )
        return rows, self.processes.by_role(self.components())

    async def _metrics(self, http_url: str) -> dict[str, Any] | None:
        assert self._session is not None
        try:
            async with self._session.get(f"{http_url}/metrics.json") as r:
                return dict(await r.json())
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
