"""Run a scenario: cell after cell, start → measure → stop → account, results to Parquet.

Per cell: registry (once per run) → ingestors (``ingestor.instances``) → generators, whose
clients spread round-robin over the ingestors; samples each ingestor's ``/metrics.json`` and the
CPU/RSS of its processes every second while the generators run (through the placement's probe,
so on a Dask cluster the sampling runs next to the processes); stops everything gracefully;
reads every output file where it lies for the exact accounting, summed over the ingestors. Ctrl-C or a
failing component stops whatever runs (no process left behind) and the cell is recorded as
failed with its reason. Results: ``results/<run-id>/`` (see ``workbench.scenario.results``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ComponentFailed, WorkbenchError
from workbench.ingestor.config import IngestorConfig
from workbench.scenario import results
from workbench.scenario.accounting import Stored, account, combine
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
from workbench.scenario.model import Placement as PlacementSettings
from workbench.scenario.placement import IngestorHandle, Placement, make_placement
from workbench.scenario.progress import Progress
from workbench.scenario.sampling import Probe, ProcessUsage


@dataclass
class CellResult:
    row: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)
    clients: list[dict[str, Any]] = field(default_factory=list)


def generator_args(group: GeneratorGroup, ings: list[IngestorHandle], scenario: Scenario, seed: int, prefix: str,
                   ca_path: str | None = None) -> list[str]:  # fmt: skip
    """The ``generate`` flags of a group; with several ingestors its clients spread over them
    (``--targets``, client n to ingestor n mod k), trusting ``ca_path`` (every ingestor's cert)."""
    args = ["--format", group.format, "--batch", str(group.batch), "--clients", str(group.clients),
            "--seed", str(seed), "--client-prefix", prefix, "--address", ings[0].address]  # fmt: skip
    if group.protocol == "udp":
        if any(ing.udp_port is None for ing in ings):
            raise ComponentFailed("a UDP generator group needs the ingestor's UDP port")
        args += ["--udp", "--udp-port", str(ings[0].udp_port)]
        ports = [ing.udp_port for ing in ings]
    else:
        args += ["--tcp-port", str(ings[0].tcp_port)]
        ports = [ing.tcp_port for ing in ings]
        if ings[0].cert_path:
            args += ["--ca", ca_path or ings[0].cert_path]
        else:
            args.append("--no-tls")
    if len(ings) > 1:
        args += [
            "--targets",
            ",".join(f"{_host_port(ing.address)}:{port}" for ing, port in zip(ings, ports, strict=True)),
        ]
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


def _host_port(address: str) -> str:
    return f"[{address}]" if ":" in address else address


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
    args = ["--input", pattern, "--forward", f"{_host_port(ing.address)}:{ing.tcp_port}", "--forward-format", group.forward_format,
            "--state-dir", str(state_dir), "--read-from", "beginning", "--http-port", "0", "--quiet"]  # fmt: skip
    return args + (["--ca", ing.cert_path] if ing.cert_path else ["--no-tls"])


async def _settle(sampler: Sampler, quiet_seconds: float = 2.0, limit_seconds: float = 60.0) -> None:
    """Wait until the ingestor's stored count stops growing (collectors have forwarded everything)."""
    deadline = time.monotonic() + limit_seconds
    last, since = -1.0, time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now_total = sampler.ticks[-1]["logs_total"] if sampler.ticks else 0.0
        if now_total != last:
            last, since = now_total, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return


class Sampler:
    """Once a second, every ingestor's metrics and its processes' CPU and memory, through the probe.

    ``samples``: one row per ingestor and second (``ingestor``, ``host``, figures), what
    ``timeseries.parquet`` holds; ``ticks``: the ingestors summed per second, what the cell's
    rates, CPU and progress come from (a second some ingestor did not answer is left out).
    """

    def __init__(self, ings: list[Any], cell: Cell, progress: Progress, probe: Probe) -> None:
        self.ings = ings
        self.cell = cell
        self.progress = progress
        self.probe = probe
        self.samples: list[dict[str, Any]] = []
        self.ticks: list[dict[str, Any]] = []
        self._t0 = time.monotonic()
        self._first_log_t: float | None = None

    def _progress(self, t: float, rate: float, total: float) -> None:
        """The bar counts from the first stored log, so component start-up does not fill it."""
        if self._first_log_t is None and total > 0:
            self._first_log_t = t
        self.progress.update(t - self._first_log_t if self._first_log_t is not None else 0.0, rate, total)

    def _add(self, t: float, rows: list[dict[str, float] | None], others: dict[str, float]) -> None:
        for i, (ing, row) in enumerate(zip(self.ings, rows, strict=True)):
            if row is not None:
                self.samples.append(
                    {"cell": self.cell.name, "t": t, "ingestor": i, "host": ing.host, **row, **others}
                )
        if any(row is None for row in rows):
            return
        tick: dict[str, Any] = {"t": t, **others}
        for key in rows[0] or {}:
            values = [row[key] for row in rows if row is not None]
            tick[key] = max(values) if key == "latency_us" else sum(values)
        self.ticks.append(tick)
        self._progress(t, tick["logs_per_sec"], tick["logs_total"])

    async def run(self) -> None:
        await self.probe.sample(self.ings)  # primes cpu_percent
        while True:
            await asyncio.sleep(1.0)
            rows, others = await self.probe.sample(self.ings)
            self._add(round(time.monotonic() - self._t0, 3), rows, others)


class ExternalSampler(Sampler):
    """A third-party receiver has no /metrics.json: count its output lines and sample its process."""

    def __init__(self, ing: Any, cell: Cell, progress: Progress, components: Any) -> None:
        super().__init__([ing], cell, progress, probe=None)  # type: ignore[arg-type]
        self.components = components
        self.processes = ProcessUsage()

    async def run(self) -> None:
        ing = self.ings[0]
        self.processes.usage(ing.pids)
        while True:
            await asyncio.sleep(1.0)
            cpu, rss, fds = self.processes.usage(ing.pids)
            others = self.processes.by_role(self.components())
            total = await asyncio.get_running_loop().run_in_executor(
                None, count_lines, ing.data_dir, ing.output
            )
            prev = self.ticks[-1] if self.ticks else {"t": 0.0, "logs_total": 0.0}
            t = round(time.monotonic() - self._t0, 3)
            rate = (total - prev["logs_total"]) / max(1e-9, t - prev["t"])
            row = {"logs_total": float(total), "bytes_total": 0.0, "rejected_total": 0.0, "dropped_total": 0.0,
                   "logs_per_sec": rate, "mb_per_sec": 0.0, "latency_us": 0.0, "queue_length": 0.0,
                   "connections": 0.0, "cpu_percent": cpu, "rss_mb": rss, "open_fds": fds}  # fmt: skip
            self._add(t, [row], others)


def ingestor_config(scenario: Scenario, data_dir: Path, registry_url: str | None) -> IngestorConfig:
    s = scenario
    return IngestorConfig(
        data_dir=data_dir, tcp_port=0, udp_port=0, http_port=0, workers=s.ingestor.workers,
        tls=s.ingestor.tls if s.target.tls is None else s.target.tls,
        output=s.ingestor.output, rotate_bytes=s.ingestor.rotate, compression=s.ingestor.compression,
        compression_level=s.ingestor.compression_level, overflow=s.ingestor.overflow,
        max_queue_logs=s.ingestor.max_queue_logs, stats_line=False,
        registry_url=registry_url if s.ingestor.use_registry else None,
    )  # fmt: skip


async def start_ingestors(scenario: Scenario, placement: Placement, cell_dir: Path,
                          registry_url: str | None) -> list[IngestorHandle]:  # fmt: skip
    """``ingestor.instances`` ingestors: one keeps ``data/``, several get ``data/ingestor-<i>/``."""
    n = scenario.ingestor.instances
    if n == 1:
        return [await placement.start_ingestor(ingestor_config(scenario, cell_dir / "data", registry_url))]
    return list(
        await asyncio.gather(*(placement.start_ingestor(
            ingestor_config(scenario, cell_dir / "data" / f"ingestor-{i}", registry_url), f"ingestor-{i}")
            for i in range(n)))
    )  # fmt: skip


def ca_bundle(ings: list[IngestorHandle], cell_dir: Path) -> str | None:
    """One file trusting every ingestor's certificate (each self-signs its own)."""
    certs = [ing.cert_path for ing in ings if ing.cert_path]
    if len(certs) < 2:
        return certs[0] if certs else None
    bundle = cell_dir / "ingestors-ca.pem"
    bundle.write_bytes(b"".join(Path(c).read_bytes() for c in certs))
    return str(bundle)


async def run_cell(cell: Cell, placement: Placement, run_dir: Path, registry_url: str | None, seed: int,
                   progress: Progress) -> CellResult:  # fmt: skip
    s = cell.scenario
    cell_dir = run_dir / "cells" / f"{cell.index:03d}-{cell.name}"
    external = s.target.type != "ingestor"
    cell_dir.mkdir(parents=True, exist_ok=True)
    ings: list[Any]
    if external:
        ings = [
            await start_external(s.target, cell_dir, run_dir / "logs", f"target-{cell.index}-{s.target.type}")
        ]
        sampler: Sampler = ExternalSampler(ings[0], cell, progress, placement.component_pids)
    else:
        ings = await start_ingestors(s, placement, cell_dir, registry_url)
        # where the cell's ingestors answer, for `dashboard --live RUN` while the cell runs
        where = [
            {"http_url": i.http_url, "tcp_port": i.tcp_port, "udp_port": i.udp_port, "host": i.host}
            for i in ings
        ]
        (cell_dir / "ingestor.json").write_text(json.dumps({**where[0], "ingestors": where}) + "\n")
        # what each ingestor reported it runs with (every setting, the ports it chose)
        for i, handle in enumerate(ings):
            name = "ingestor" if len(ings) == 1 else f"ingestor-{i}"
            (cell_dir / f"{name}.config.json").write_text(json.dumps(handle.config, indent=2) + "\n")
        sampler = Sampler(ings, cell, progress, placement.probe())
    ca_path = ca_bundle(ings, cell_dir)
    gen_results = []
    started = time.monotonic()
    sampling = asyncio.create_task(sampler.run())
    try:
        runs = []
        for gi, group in enumerate(s.generators):
            if group.tool == "loggen":  # syslog-ng's generator, on this machine, to the first receiver
                log = run_dir / "logs" / f"loggen-{cell.index}-{gi}.log"
                runs.append(
                    run_loggen(group, ings[0].tcp_port, bool(ings[0].cert_path), s.warmup + s.duration, log)
                )
                continue
            args = generator_args(group, ings, s, seed + cell.index * 1000 + gi, f"c{cell.index}-{group.name}{gi}",
                                  ca_path) + (["--no-header"] if external else [])  # fmt: skip
            runs.append(
                placement.run_generator(
                    args, f"generator-{cell.index}-{gi}", cell_dir / f"generator-{gi}.json"
                )
            )
        for ci, cgroup in enumerate(s.collectors):
            files_dir = cell_dir / "files" / f"{ci}-{cgroup.name}"
            files_dir.mkdir(parents=True, exist_ok=True)
            target = ings[ci % len(ings)]
            await placement.start_collector(
                collector_args(
                    cgroup, target, str(files_dir / "*.log"), cell_dir / "collector-state" / str(ci)
                ),
                f"collector-{cell.index}-{ci}",
            )
            for fi in range(cgroup.files):
                args = collector_file_args(cgroup, s, seed + cell.index * 1000 + 500 + ci * 50 + fi,
                                           f"c{cell.index}-{cgroup.name}{ci}f{fi}", files_dir / f"{fi}.log")  # fmt: skip
                name = f"filegen-{cell.index}-{ci}-{fi}"
                runs.append(placement.run_generator(args, name, cell_dir / f"{name}.json"))
        gen_results = await _all_or_none(runs)
        if s.collectors:
            await _settle(sampler)
            await placement.stop_collectors()
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        if not external:
            await sampler.probe.close()
    sent_seconds = time.monotonic() - started
    if external:
        ing: Any = ings[0]
        await stop_external_proc(ing.proc)
        loop = asyncio.get_running_loop()
        parts: list[Stored] = [await loop.run_in_executor(None, read_external, ing.data_dir, ing.output)]
        hosts = [socket.gethostname()]
    else:
        await asyncio.gather(*(placement.stop_ingestor(ing) for ing in ings))
        parts = list(await asyncio.gather(*(placement.read_stored(ing) for ing in ings)))
        hosts = [ing.host for ing in ings]
    stored = combine(parts, hosts)
    final = {k: sum(ing.final.get(k, 0.0) for ing in ings) for k in ("stored", "rejected", "dropped")}
    sent: dict[str, dict[str, Any]] = {}
    for r in gen_results:
        if r.summary.get("tool") == "loggen":
            first: Any = ings[0]
            files = loggen_files(first.data_dir, first.output if external else None)
            by_loggen = await asyncio.get_running_loop().run_in_executor(None, read_loggen, files)
            sent.update(loggen_sent(r.summary["sent_total"], by_loggen))
            stored = merge_stored(stored, by_loggen)
        for c in r.summary["clients"]:
            sent[c["client_id"]] = {"sent": c["sent_logs"], "first_seq": c.get("first_seq")}
    acc = account(sent, stored, final["rejected"], final["dropped"])
    samples = sampler.ticks
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
        "target": s.target.type, "tls": bool(ings[0].cert_path),
        "generator": ",".join(sorted({g.tool for g in s.generators})) if s.generators else "",
        "format": ",".join(sorted({g.format for g in s.generators} | {f"files-{c.file_format}" for c in s.collectors})),
        "protocol": ",".join(sorted({g.protocol for g in s.generators} | ({"collector"} if s.collectors else set()))),
        "batch": g0.batch, "clients": sum(g.clients for g in s.generators) + sum(c.files for c in s.collectors), "workers": s.ingestor.workers,
        "ingestors": len(ings), "host": ",".join(sorted(set(hosts))),
        "ack": any(g.ack for g in s.generators), "duration_s": round(sent_seconds, 3),
        "sent": acc["sent"], "stored": acc["stored"], "lost": acc["lost"], "duplicated": acc["duplicated"],
        "reordered": acc["reordered"], "rejected": acc["rejected"], "dropped": acc["dropped"],
        "ingestor_stored": final["stored"] if all("stored" in ing.final for ing in ings) else None,
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
    return CellResult(row, sampler.samples, clients)


async def _all_or_none(coros: list[Any]) -> list[Any]:
    """Every result, or the first failure after the others are cancelled (nothing keeps running)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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


def _placement_settings(scenario: Scenario, placement: str | PlacementSettings | None) -> PlacementSettings:
    """The scenario's placement, or an override: a kind (``subprocess`` runs a dask scenario locally)
    or whole settings (e.g. ``Placement(type="dask", local_workers=2)``)."""
    if placement is None:
        return scenario.placement
    if isinstance(placement, PlacementSettings):
        return placement
    if placement == scenario.placement.type:
        return scenario.placement
    return PlacementSettings(type=placement)  # type: ignore[arg-type]  # pydantic checks the literal


async def run_async(scenario: Scenario, results_dir: Path = Path("results"),
                    placement_kind: str | PlacementSettings | None = None, quiet: bool = False) -> RunResult:  # fmt: skip
    seed = scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(1, 2**31)
    settings = _placement_settings(scenario, placement_kind)
    cells = expand(scenario.model_copy(update={"placement": settings}))
    run_dir = results.new_run_dir(results_dir, scenario.name)
    placement = make_placement(settings, run_dir / "logs")
    results.write_scenario(run_dir, scenario, seed, settings)
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


def run_scenario(scenario: Scenario | str | Path, results_dir: str | Path = "results",
                 placement: str | PlacementSettings | None = None, quiet: bool = False) -> RunResult:  # fmt: skip
    """Run a scenario (a model or a YAML path) to the end; works inside Jupyter's running loop too.
    ``placement`` overrides the scenario's: a kind, or ``model.Placement`` settings."""
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
