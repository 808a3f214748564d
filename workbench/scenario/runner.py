"""Run a scenario: cell after cell, start → measure → stop → account, results to Parquet.

Per cell: registry (once per run) → ingestor → generators; samples the ingestor's
``/metrics.json`` and the CPU/RSS of its processes every second while the generators run;
stops everything gracefully; reads every output file for the exact accounting. Ctrl-C or a
failing component stops whatever runs (no process left behind) and the cell is recorded as
failed with its reason. Results: ``results/<run-id>/`` (see ``workbench.scenario.results``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from workbench.errors import WorkbenchError
from workbench.ingestor.config import IngestorConfig
from workbench.scenario import results
from workbench.scenario.accounting import account, read_stored
from workbench.scenario.external import (
    count_lines,
    loggen_files,
    loggen_sent,
    merge_stored,
    read_external,
    read_loggen,
    run_loggen,
    start_external,
    stop_external_proc,
)
from workbench.scenario.model import Cell, CollectorGroup, GeneratorGroup, Scenario, expand
from workbench.scenario.placement import ComponentFailed, IngestorHandle, Placement, make_placement
from workbench.scenario.progress import Progress


@dataclass
class CellResult:
    row: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)
    clients: list[dict[str, Any]] = field(default_factory=list)


def generator_args(
    group: GeneratorGroup, ing: IngestorHandle, scenario: Scenario, seed: int, prefix: str
) -> list[str]:
    args = ["--format", group.format, "--batch", str(group.batch), "--clients", str(group.clients),
            "--seed", str(seed), "--client-prefix", prefix, "--address", "127.0.0.1"]  # fmt: skip
    if group.protocol == "udp":
        if ing.udp_port is None:
            raise ComponentFailed("a UDP generator group needs the ingestor's UDP port")
        args += ["--udp", "--udp-port", str(ing.udp_port)]
    else:
        args += ["--tcp-port", str(ing.tcp_port)]
        if ing.cert_path:
            args += ["--ca", ing.cert_path]
        else:
            args.append("--no-tls")
    if group.rate is not None:
        args += ["--rate", str(group.rate)]
    else:
        args += ["--interval", str(group.interval_ms)]
    if group.count is not None:
        args += ["--count", str(group.count * group.clients)]
    else:
        args += ["--duration", f"{scenario.warmup + scenario.duration}s"]
    if group.burst:
        args += ["--burst", group.burst]
    if group.ack:
        args.append("--ack")
    if group.processes > 1:
        args += ["--processes", str(group.processes)]
    if group.level_mix:
        args += ["--level-mix", ",".join(f"{k}={v}" for k, v in group.level_mix.items())]
    return args


def collector_file_args(
    group: CollectorGroup, scenario: Scenario, seed: int, prefix: str, path: Path
) -> list[str]:
    """A generator writing one file for a collector group (one client, so one client_id per file)."""
    args = ["--output", str(path), "--file-format", group.file_format, "--batch", str(group.batch),
            "--rate", str(group.rate), "--seed", str(seed), "--client-prefix", prefix]  # fmt: skip
    if group.count is not None:
        args += ["--count", str(group.count)]
    else:
        args += ["--duration", f"{scenario.warmup + scenario.duration}s"]
    return args


def collector_args(group: CollectorGroup, ing: IngestorHandle, pattern: str, state_dir: Path) -> list[str]:
    args = ["--input", pattern, "--forward", f"127.0.0.1:{ing.tcp_port}", "--forward-format", group.forward_format,
            "--state-dir", str(state_dir), "--read-from", "beginning", "--http-port", "0", "--quiet"]  # fmt: skip
    return args + (["--ca", ing.cert_path] if ing.cert_path else ["--no-tls"])


async def _settle(sampler: Sampler, quiet_seconds: float = 2.0, limit_seconds: float = 60.0) -> None:
    """Wait until the ingestor's stored count stops growing (collectors have forwarded everything)."""
    deadline = time.monotonic() + limit_seconds
    last, since = -1.0, time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now_total = sampler.samples[-1]["logs_total"] if sampler.samples else 0.0
        if now_total != last:
            last, since = now_total, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return


def _proc_tree(pids: list[int]) -> list[psutil.Process]:
    procs: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            procs.append(p)
            procs.extend(p.children(recursive=True))
    return procs


class Sampler:
    """Samples the ingestor's metrics and its processes' CPU and memory once a second."""

    def __init__(self, ing: IngestorHandle, cell: Cell, progress: Progress,
                 components: Callable[[], dict[str, list[int]]] | None = None) -> None:  # fmt: skip
        self.ing = ing
        self.cell = cell
        self.progress = progress
        self.components = components or dict
        self.samples: list[dict[str, Any]] = []
        self._procs: dict[int, psutil.Process] = {}
        self._t0 = time.monotonic()
        self._first_log_t: float | None = None

    def _progress(self, t: float, rate: float, total: float) -> None:
        """The bar counts from the first stored log, so component start-up does not fill it."""
        if self._first_log_t is None and total > 0:
            self._first_log_t = t
        self.progress.update(t - self._first_log_t if self._first_log_t is not None else 0.0, rate, total)

    def _usage(self, pids: list[int]) -> tuple[float, float, float]:
        """CPU %, RSS MB and open file descriptors of the processes (and their children)."""
        cpu = rss = fds = 0.0
        for p in _proc_tree(pids):
            proc = self._procs.setdefault(p.pid, p)
            with contextlib.suppress(psutil.Error):
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
                fds += proc.num_fds()
        return cpu, rss / 1e6, fds

    def _resources(self) -> tuple[float, float, float]:
        return self._usage(self.ing.pids)

    def _others(self) -> dict[str, float]:
        """CPU, RSS and open fds of every other component process, by role (e.g. generator_cpu_percent)."""
        out: dict[str, float] = {}
        for role, pids in self.components().items():
            if role in ("ingestor", "target"):
                continue
            cpu, rss, fds = self._usage(pids)
            out[f"{role}_cpu_percent"], out[f"{role}_rss_mb"], out[f"{role}_open_fds"] = cpu, rss, fds
        return out

    async def run(self, session: aiohttp.ClientSession) -> None:
        self._resources()  # prime cpu_percent
        while True:
            await asyncio.sleep(1.0)
            try:
                async with session.get(f"{self.ing.http_url}/metrics.json") as r:
                    snap = await r.json()
            except (aiohttp.ClientError, TimeoutError):
                continue
            cpu, rss, fds = self._resources()
            others = self._others()
            t = snap["totals"]
            g = snap["gauges"]
            sample = {
                "cell": self.cell.name, "t": round(time.monotonic() - self._t0, 3),
                "logs_total": t["logs"], "bytes_total": t["bytes"], "rejected_total": t["rejected"],
                "dropped_total": t["dropped"], "logs_per_sec": snap["logs_per_sec"], "mb_per_sec": snap["mb_per_sec"],
                "latency_us": snap["latency_us"], "queue_length": g["queue_length"], "connections": g["connections_active"],
                "cpu_percent": cpu, "rss_mb": rss, "open_fds": fds,
            }  # fmt: skip
            sample.update(others)
            self.samples.append(sample)
            self._progress(sample["t"], sample["logs_per_sec"], sample["logs_total"])


class ExternalSampler(Sampler):
    """A third-party receiver has no /metrics.json: count its output lines and sample its process."""

    async def run(self, session: aiohttp.ClientSession) -> None:
        self._resources()
        while True:
            await asyncio.sleep(1.0)
            cpu, rss, fds = self._resources()
            others = self._others()
            total = await asyncio.get_running_loop().run_in_executor(
                None, count_lines, self.ing.data_dir, self.ing.output
            )
            prev = self.samples[-1] if self.samples else {"t": 0.0, "logs_total": 0.0}
            t = round(time.monotonic() - self._t0, 3)
            rate = (total - prev["logs_total"]) / max(1e-9, t - prev["t"])
            self.samples.append({"cell": self.cell.name, "t": t, "logs_total": float(total), "bytes_total": 0.0,
                                 "rejected_total": 0, "dropped_total": 0.0, "logs_per_sec": rate, "mb_per_sec": 0.0,
                                 "latency_us": 0.0, "queue_length": 0.0, "connections": 0.0,
                                 "cpu_percent": cpu, "rss_mb": rss, "open_fds": fds, **others})  # fmt: skip
            self._progress(t, rate, total)


async def run_cell(cell: Cell, placement: Placement, run_dir: Path, registry_url: str | None, seed: int,
                   progress: Progress) -> CellResult:  # fmt: skip
    s = cell.scenario
    cell_dir = run_dir / "cells" / f"{cell.index:03d}-{cell.name}"
    data_dir = cell_dir / "data"
    cfg = IngestorConfig(
        data_dir=data_dir, tcp_port=0, udp_port=0, http_port=0, workers=s.ingestor.workers,
        tls=s.ingestor.tls if s.target.tls is None else s.target.tls,
        output=s.ingestor.output, rotate_bytes=s.ingestor.rotate, compression=s.ingestor.compression,
        compression_level=s.ingestor.compression_level, overflow=s.ingestor.overflow,
        max_queue_logs=s.ingestor.max_queue_logs, stats_line=False,
        registry_url=registry_url if s.ingestor.use_registry else None,
    )  # fmt: skip
    external = s.target.type != "ingestor"
    cell_dir.mkdir(parents=True, exist_ok=True)
    ing: Any
    if external:
        ing = await start_external(
            s.target, cell_dir, run_dir / "logs", f"target-{cell.index}-{s.target.type}"
        )
        sampler: Sampler = ExternalSampler(ing, cell, progress, placement.component_pids)
    else:
        ing = await placement.start_ingestor(cfg)
        # where the cell's ingestor answers, for `dashboard --live RUN` while the cell runs
        (cell_dir / "ingestor.json").write_text(json.dumps({"http_url": ing.http_url, "tcp_port": ing.tcp_port,
                                                            "udp_port": ing.udp_port}) + "\n")  # fmt: skip
        sampler = Sampler(ing, cell, progress, placement.component_pids)
    gen_results = []
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        sampling = asyncio.create_task(sampler.run(session))
        try:
            cell_dir.mkdir(parents=True, exist_ok=True)
            runs = []
            tls = bool(ing.cert_path)
            for gi, group in enumerate(s.generators):
                if group.tool == "loggen":
                    log = run_dir / "logs" / f"loggen-{cell.index}-{gi}.log"
                    runs.append(run_loggen(group, ing.tcp_port, tls, s.warmup + s.duration, log))
                    continue
                args = generator_args(
                    group, ing, s, seed + cell.index * 1000 + gi, f"c{cell.index}-{group.name}{gi}"
                ) + (["--no-header"] if external else [])
                runs.append(
                    placement.run_generator(
                        args, f"generator-{cell.index}-{gi}", cell_dir / f"generator-{gi}.json"
                    )
                )
            for ci, cgroup in enumerate(s.collectors):
                files_dir = cell_dir / "files" / f"{ci}-{cgroup.name}"
                files_dir.mkdir(parents=True, exist_ok=True)
                await placement.start_collector(
                    collector_args(
                        cgroup, ing, str(files_dir / "*.log"), cell_dir / "collector-state" / str(ci)
                    ),
                    f"collector-{cell.index}-{ci}",
                )
                for fi in range(cgroup.files):
                    args = collector_file_args(cgroup, s, seed + cell.index * 1000 + 500 + ci * 50 + fi,
                                               f"c{cell.index}-{cgroup.name}{ci}f{fi}", files_dir / f"{fi}.log")  # fmt: skip
                    name = f"filegen-{cell.index}-{ci}-{fi}"
                    runs.append(placement.run_generator(args, name, cell_dir / f"{name}.json"))
            gen_results = await asyncio.gather(*runs)
            if s.collectors:
                await _settle(sampler)
                await placement.stop_collectors()
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
    sent_seconds = time.monotonic() - started
    loop = asyncio.get_running_loop()
    if external:
        await stop_external_proc(ing.proc)
        stored = await loop.run_in_executor(None, read_external, ing.data_dir, ing.output)
    else:
        await placement.stop_ingestor(ing)
        stored = await loop.run_in_executor(None, read_stored, data_dir)
    sent: dict[str, dict[str, Any]] = {}
    for r in gen_results:
        if r.summary.get("tool") == "loggen":
            files = loggen_files(ing.data_dir if external else data_dir, ing.output if external else None)
            by_loggen = await loop.run_in_executor(None, read_loggen, files)
            sent.update(loggen_sent(r.summary["sent_total"], by_loggen))
            stored = merge_stored(stored, by_loggen)
        for c in r.summary["clients"]:
            sent[c["client_id"]] = {"sent": c["sent_logs"], "first_seq": c.get("first_seq")}
    acc = account(sent, stored, ing.final.get("rejected", 0), ing.final.get("dropped", 0))
    samples = sampler.samples
    gen_seconds = (
        max((float(r.summary.get("duration_seconds") or 0) for r in gen_results), default=0.0) or sent_seconds
    )
    logs_per_sec, mb_per_sec = acc["stored"] / gen_seconds, 0.0
    measured = _window(samples, s.warmup)
    if len(measured) > 1:
        span = measured[-1]["t"] - measured[0]["t"]
        mb_per_sec = (measured[-1]["bytes_total"] - measured[0]["bytes_total"]) / span / 1e6
        if s.warmup > 0:
            logs_per_sec = (measured[-1]["logs_total"] - measured[0]["logs_total"]) / span
    if external and gen_seconds:  # a receiver's file holds what it received, one line per message
        mb_per_sec = stored.uncompressed_bytes / gen_seconds / 1e6
    busy = [x for x in measured if x["logs_per_sec"] > 0] or measured
    g0 = s.generators[0] if s.generators else GeneratorGroup(format="json")
    row = {
        "cell": cell.name, "cell_index": cell.index, "status": "ok", "reason": "",
        "target": s.target.type, "tls": bool(ing.cert_path),
        "generator": ",".join(sorted({g.tool for g in s.generators})) if s.generators else "",
        "format": ",".join(sorted({g.format for g in s.generators} | {f"files-{c.file_format}" for c in s.collectors})),
        "protocol": ",".join(sorted({g.protocol for g in s.generators} | ({"collector"} if s.collectors else set()))),
        "batch": g0.batch, "clients": sum(g.clients for g in s.generators) + sum(c.files for c in s.collectors), "workers": s.ingestor.workers,
        "ack": any(g.ack for g in s.generators), "duration_s": round(sent_seconds, 3),
        "sent": acc["sent"], "stored": acc["stored"], "lost": acc["lost"], "duplicated": acc["duplicated"],
        "reordered": acc["reordered"], "rejected": acc["rejected"], "dropped": acc["dropped"],
        "ingestor_stored": ing.final.get("stored"),
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
    clients = [{"cell": cell.name, **c} for c in acc["clients"]]
    return CellResult(row, samples, clients)


def _mean(samples: list[dict[str, Any]], key: str) -> float:
    values = [x[key] for x in samples if key in x]
    return sum(values) / len(values) if values else 0.0


def _window(samples: list[dict[str, Any]], warmup: float) -> list[dict[str, Any]]:
    """The samples of the measured window: from the first log stored plus the warm-up, to the last increase."""
    started = next((i for i, x in enumerate(samples) if x["logs_total"] > 0), None)
    if started is None:
        return []
    t0 = samples[started]["t"] + warmup
    last = max(i for i, x in enumerate(samples) if x["logs_total"] >= samples[-1]["logs_total"])
    return [x for x in samples[max(0, started - 1) : last + 1] if x["t"] >= t0 - 1.0]


@dataclass
class RunResult:
    path: Path
    summary: Any  # polars DataFrame
    timeseries: Any


async def run_async(scenario: Scenario, results_dir: Path = Path("results"), placement_kind: str | None = None,
                    quiet: bool = False) -> RunResult:  # fmt: skip
    seed = scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(1, 2**31)
    run_dir = results.new_run_dir(results_dir, scenario.name)
    cells = expand(scenario)
    kind = placement_kind or scenario.placement.type
    placement = make_placement(kind, run_dir / "logs")
    results.write_scenario(run_dir, scenario, seed, kind)
    progress = Progress(len(cells), scenario.warmup + scenario.duration, quiet=quiet)
    rows, samples, clients = [], [], []
    try:
        registry_url = None
        if scenario.registry.enabled:
            registry_url = await placement.start_registry(run_dir / "registry", scenario.registry.port)
        for cell in cells:
            progress.start_cell(cell.index, cell.name)
            try:
                res = await run_cell(cell, placement, run_dir, registry_url, seed, progress)
            except (ComponentFailed, WorkbenchError, OSError) as exc:
                progress.end_cell(f"FAILED: {exc}")
                await placement.close()
                rows.append(
                    {"cell": cell.name, "cell_index": cell.index, "status": "failed", "reason": str(exc)}
                )
                if scenario.registry.enabled:  # the registry went down with the others
                    registry_url = await placement.start_registry(
                        run_dir / "registry", scenario.registry.port
                    )
                continue
            progress.end_cell(
                f"{res.row['stored']:,} stored, {res.row['logs_per_sec']:,.0f} logs/s, lost {res.row['lost']}"
            )
            rows.append(res.row)
            samples.extend(res.samples)
            clients.extend(res.clients)
    finally:
        await placement.close()
    if scenario.baseline:
        results.add_baseline_ratio(rows, {c.index: c.values for c in cells}, scenario.baseline)
    summary, timeseries = results.write_results(run_dir, rows, samples, clients)
    if not quiet:
        print(results.format_table(summary), flush=True)
        print(f"results: {run_dir}", flush=True)
    return RunResult(run_dir, summary, timeseries)


def run_scenario(scenario: Scenario | str | Path, results_dir: str | Path = "results", placement: str | None = None,
                 quiet: bool = False) -> RunResult:  # fmt: skip
    """Run a scenario (a model or a YAML path) to the end; works inside Jupyter's running loop too."""
    from workbench.scenario.model import load_scenario

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    coro_args = (sc, Path(results_dir), placement, quiet)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_async(*coro_args))
    # a running loop (a notebook): run in a thread with its own loop
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(run_async(*coro_args))).result()


__all__ = ["RunResult", "run_scenario"]
