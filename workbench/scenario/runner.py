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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from workbench.collector.config import CollectorConfig
from workbench.errors import ComponentFailed, WorkbenchError, config_error
from workbench.generator.config import GeneratorConfig, parse_burst
from workbench.registry.config import RegistryConfig
from workbench.scenario import results
from workbench.scenario.accounting import account
from workbench.scenario.external import loggen_files, loggen_sent, merge_stored, read_loggen, run_loggen
from workbench.scenario.model import Cell, CollectorGroup, GeneratorGroup, Scenario, expand, placement_of
from workbench.scenario.model import Placement as PlacementSettings
from workbench.scenario.placement import IngestorHandle, Placement, make_placement
from workbench.scenario.progress import Progress
from workbench.scenario.sampling import Probe
from workbench.scenario.targets import ca_bundle, start_targets

M = TypeVar("M", bound=BaseModel)


@dataclass
class CellResult:
    row: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)
    clients: list[dict[str, Any]] = field(default_factory=list)


def _validated(model: type[M], what: str, **fields: Any) -> M:
    """A component's config from the scenario; a setting it refuses is the cell's error, with its reason."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise config_error(exc, what) from None


def generator_config(group: GeneratorGroup, handles: list[IngestorHandle], scenario: Scenario, seed: int,
                     prefix: str, ca_path: str | None = None, header: bool = True) -> GeneratorConfig:  # fmt: skip
    """The generator of a group; with several receivers its clients spread over them (``targets``,
    client n to receiver n mod k), trusting ``ca_path`` (every receiver's cert)."""
    first = handles[0]
    udp = group.protocol in ("udp", "gelf-udp")
    shipper = group.protocol not in ("tcp", "udp")
    port_of = (lambda h: h.gelf_port) if group.protocol == "gelf-udp" else (lambda h: h.udp_port)
    if udp and any(port_of(h) is None for h in handles):
        raise ComponentFailed(f"a {group.protocol} generator group needs the ingestor's "
                              f"{'GELF' if group.protocol == 'gelf-udp' else 'UDP'} port")  # fmt: skip
    fields: dict[str, Any] = {
        "address": first.address, "transport": "udp" if udp else "tcp", "format": group.format,
        "batch_size": group.batch, "clients": group.clients, "processes": group.processes, "seed": seed,
        "client_prefix": prefix, "interval_ms": group.interval_ms, "rate_per_second": group.rate, "ack": group.ack,
        "header": header,
    }  # fmt: skip
    if shipper:
        fields["protocol"] = group.protocol
    if udp:
        fields["udp_port"] = port_of(first)
    else:
        fields.update(tcp_port=first.tcp_port, tls=bool(first.cert_path),
                      ca_file=(ca_path or first.cert_path) if first.cert_path else None)  # fmt: skip
    if len(handles) > 1:
        fields["targets"] = tuple((h.address, int((port_of(h) if udp else h.tcp_port) or 0)) for h in handles)
    if group.count is not None:
        fields["count"] = group.count * group.clients
    else:
        fields["duration_seconds"] = scenario.warmup + scenario.duration
    if group.burst:
        fields["burst"] = parse_burst(group.burst)
    if group.level_mix:
        fields["level_mix"] = group.level_mix
    return _validated(GeneratorConfig, f"generator group {group.name}", **fields)


def file_generator_config(group: CollectorGroup, scenario: Scenario, seed: int, prefix: str,
                          path: Path) -> GeneratorConfig:  # fmt: skip
    """A generator writing one file for a collector group (one client, so one client_id per file)."""
    fields: dict[str, Any] = {
        "transport": "file", "output_file": path, "file_format": group.file_format, "batch_size": group.batch,
        "rate_per_second": group.rate, "seed": seed, "client_prefix": prefix,
    }  # fmt: skip
    if group.count is not None:
        fields["count"] = group.count
    else:
        fields["duration_seconds"] = scenario.warmup + scenario.duration
    return _validated(GeneratorConfig, f"collector group {group.name}", **fields)


def collector_config(
    group: CollectorGroup, handle: IngestorHandle, pattern: str, state_dir: Path
) -> CollectorConfig:
    """The collector of a group: tails ``pattern`` from the beginning, forwards in ack mode."""
    return _validated(
        CollectorConfig, f"collector group {group.name}", inputs=(pattern,), output_type="forward",
        forward_host=handle.address, forward_port=handle.tcp_port, forward_format=group.forward_format,
        forward_tls=bool(handle.cert_path), forward_ca=handle.cert_path, state_dir=state_dir,
        read_from="beginning", http_port=0, stats_interval_seconds=None,
    )  # fmt: skip


def _write_config(path: Path, config: dict[str, Any]) -> None:
    """What a component reported it runs with, next to what it did."""
    path.write_text(json.dumps(config, indent=2) + "\n")


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


async def run_cell(cell: Cell, placement: Placement, run_dir: Path, registry_url: str | None, seed: int,
                   progress: Progress) -> CellResult:  # fmt: skip
    s = cell.scenario
    cell_dir = run_dir / "cells" / f"{cell.index:03d}-{cell.name}"
    cell_dir.mkdir(parents=True, exist_ok=True)
    targets = await start_targets(
        s, placement, cell_dir, run_dir / "logs", registry_url, f"target-{cell.index}"
    )
    handles = targets.handles
    sampler = Sampler(handles, cell, progress, targets.probe())
    ca_path = ca_bundle(handles, cell_dir)
    gen_results = []
    started = time.monotonic()
    sampling = asyncio.create_task(sampler.run())
    done = False
    try:
        runs = []
        for gi, group in enumerate(s.generators):
            if group.tool == "loggen":  # syslog-ng's generator, on this machine, to the first receiver
                log = run_dir / "logs" / f"loggen-{cell.index}-{gi}.log"
                runs.append(
                    run_loggen(
                        group, handles[0].tcp_port, bool(handles[0].cert_path), s.warmup + s.duration, log
                    )
                )
                continue
            config = generator_config(group, handles, s, seed + cell.index * 1000 + gi,
                                      f"c{cell.index}-{group.name}{gi}", ca_path, targets.header)  # fmt: skip
            runs.append(
                _run_generator(placement, config, f"generator-{cell.index}-{gi}", cell_dir, f"generator-{gi}")
            )
        for ci, cgroup in enumerate(s.collectors):
            files_dir = cell_dir / "files" / f"{ci}-{cgroup.name}"
            files_dir.mkdir(parents=True, exist_ok=True)
            collector = collector_config(cgroup, handles[ci % len(handles)], str(files_dir / "*.log"),
                                         cell_dir / "collector-state" / str(ci))  # fmt: skip
            reported = await placement.start_collector(collector, f"collector-{cell.index}-{ci}")
            _write_config(cell_dir / f"collector-{ci}.config.json", reported)
            for fi in range(cgroup.files):
                config = file_generator_config(cgroup, s, seed + cell.index * 1000 + 500 + ci * 50 + fi,
                                               f"c{cell.index}-{cgroup.name}{ci}f{fi}", files_dir / f"{fi}.log")  # fmt: skip
                name = f"filegen-{cell.index}-{ci}-{fi}"
                runs.append(_run_generator(placement, config, name, cell_dir, name))
        gen_results = await _all_or_none(runs)
        if s.collectors:
            await _settle(sampler)
            await placement.stop_collectors()
        done = True
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        await sampler.probe.close()
        if not done:  # a generator failed: no third-party receiver outlives the cell
            await targets.abandon()
    sent_seconds = time.monotonic() - started
    await targets.stop()
    stored = await targets.read_stored()
    final = {k: sum(h.final.get(k, 0.0) for h in handles) for k in ("stored", "rejected", "dropped")}
    sent: dict[str, dict[str, Any]] = {}
    for r in gen_results:
        if r.summary.get("tool") == "loggen":
            assert handles[0].data_dir is not None  # loggen runs on this machine, to the first receiver
            files = loggen_files(handles[0].data_dir, handles[0].output)
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
    mb_per_sec = targets.mb_per_sec(mb_per_sec, stored, gen_seconds)
    row = results.cell_row(cell, handles, acc, stored, final, samples, measured, round(sent_seconds, 3),
                           logs_per_sec, mb_per_sec)  # fmt: skip
    clients = [{"cell": cell.name, **c} for c in acc["clients"]]
    return CellResult(row, sampler.samples, clients)


async def _run_generator(placement: Placement, config: GeneratorConfig, name: str, cell_dir: Path,
                         stem: str) -> Any:  # fmt: skip
    """A generator run to its end; its summary and what it reported it ran with stored in the cell."""
    result = await placement.run_generator(config, name)
    (cell_dir / f"{stem}.json").write_text(json.dumps(result.summary, indent=2) + "\n")
    _write_config(cell_dir / f"{stem}.config.json", result.config)
    return result


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
    or whole settings (e.g. ``model.DaskPlacement(type="dask", local_workers=2)``)."""
    if placement is None:
        return scenario.placement
    if not isinstance(placement, str):
        return placement
    if placement == scenario.placement.type:
        return scenario.placement
    return placement_of(placement)


async def _start_registry(placement: Placement, scenario: Scenario, run_dir: Path) -> str:
    """The run's registry; ``registry.config.json`` in the run folder says what it runs with."""
    ready = await placement.start_registry(
        RegistryConfig(data_dir=run_dir / "registry", port=scenario.registry.port)
    )
    _write_config(run_dir / "registry.config.json", ready["config"])
    return str(ready["url"])


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
            registry_url = await _start_registry(placement, scenario, run_dir)
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
                    registry_url = await _start_registry(placement, scenario, run_dir)
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
    ``placement`` overrides the scenario's: a kind, or settings such as ``model.DaskPlacement``."""
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
