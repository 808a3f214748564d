"""The dask placement: every component a process on a worker of a Dask distributed cluster.

``placement: {type: dask, scheduler: tcp://HOST:8786}`` uses a running cluster (``dask
scheduler`` and ``dask worker`` on the hosts, see ``docs/scale-out.md``); ``{type: dask,
local_workers: N}`` starts a LocalCluster of N worker processes on 127.0.0.1 for the run and
closes it at the end. The handle shape is the other placements' (``placement.Placement``), so the
runner does not know where a component runs.

Where: a component goes to the worker that has the fewest of its role (then the fewest
components), among the workers whose free Dask resources cover ``resources[role]`` (e.g.
``ingestor: {ingest: 1}`` for workers started with ``--resources "ingest=1"``). Services bind the
address of their worker, so the other hosts reach them; an ingestor's self-signed certificate
names that address and travels back to the runner, which ships it to the generators.

What comes back: ``start``/``poll``/``stop`` answers over ``Client.run``; metric samples once a
second and, after the cell, each ingestor's accounting, as Arrow tables through futures of tasks
pinned to the ingestor's worker (its files are on that host). Failure: a worker that leaves the
cluster while a component of the cell runs on it fails the cell with that reason (checked every
half second while generators run); every call has a timeout, so nothing waits for a dead worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from distributed import Client, LocalCluster
from pydantic import BaseModel

from workbench.collector.config import CollectorConfig
from workbench.generator.config import GeneratorConfig
from workbench.ingestor.config import IngestorConfig
from workbench.registry.config import RegistryConfig
from workbench.scenario.accounting import Stored, from_arrow
from workbench.scenario.model import DaskPlacement as DaskSettings
from workbench.scenario.placement import dask_worker
from workbench.scenario.placement.base import (
    ROLES,
    ComponentFailed,
    GeneratorResult,
    IngestorHandle,
    generator_run,
    handle_from_ready,
)
from workbench.scenario.sampling import Probe

POLL_SECONDS = 0.5
READY_POLL_SECONDS = 0.1


@dataclass
class _Placed:
    worker: str
    role: str
    name: str


class DaskPlacement:
    """Components as processes on Dask workers; see the module docstring."""

    kind = "dask"

    def __init__(self, settings: DaskSettings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.run_dir = log_dir.parent
        self.timeout = settings.timeout_seconds
        self._needs: dict[str, dict[str, float]] = {
            str(k): v for k, v in settings.resources.items()
        }  # role -> Dask resources
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        self._placed: dict[str, _Placed] = {}  # component id -> where
        self._ingestors: dict[tuple[str, int], str] = {}  # (address, tcp port) -> component id
        self._collectors: list[str] = []
        self._files_worker: dict[str, str] = {}  # a collector's folder -> its worker
        self._connecting = asyncio.Lock()  # ingestors start concurrently: one cluster, not one each

    # --- the cluster ---------------------------------------------------------------------------
    async def _connect(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._connecting:
            if self._client is not None:
                return self._client
            return await self._start_cluster()

    async def _start_cluster(self) -> Client:
        where = self.settings.scheduler or f"a LocalCluster of {self.settings.local_workers} workers"
        try:
            if self.settings.local_workers:
                cluster = LocalCluster(n_workers=self.settings.local_workers, threads_per_worker=2, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0", asynchronous=True,
                                       silence_logs=logging.CRITICAL)  # fmt: skip
                self._cluster = await asyncio.wait_for(cluster, self.timeout)  # type: ignore[arg-type]
            client = await asyncio.wait_for(
                Client(self._cluster or self.settings.scheduler, asynchronous=True, timeout=self.timeout),
                self.timeout,
            )
            self._client = client
            await client.wait_for_workers(1, timeout=self.timeout)
            await client.register_plugin(dask_worker.ComponentReaper())
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise ComponentFailed(
                f"dask placement: {where} not ready within {self.timeout:.0f}s ({exc})"
            ) from None
        return client

    async def _workers(self) -> dict[str, dict[str, Any]]:
        """The workers the scheduler knows now (not the client's cached view)."""
        client = await self._connect()
        info = await asyncio.wait_for(client.scheduler.identity(), self.timeout)
        return dict(info["workers"])

    async def _check_alive(self) -> None:
        """Fail the cell when a worker that runs one of its components left the cluster."""
        workers = await self._workers()
        for placed in self._placed.values():
            if placed.worker not in workers:
                raise ComponentFailed(
                    f"dask worker {placed.worker} running {placed.name} is gone (it died or was killed)"
                )

    async def _pick(self, role: str) -> str:
        """The worker for a component of ``role``: free resources first, then the fewest of its role."""
        workers = await self._workers()
        need = self._needs.get(role, {})

        def fits(addr: str) -> bool:
            free = dict(workers[addr].get("resources") or {})
            for p in self._placed.values():
                if p.worker == addr:
                    for name, amount in self._needs.get(p.role, {}).items():
                        free[name] = free.get(name, 0) - amount
            return all(free.get(name, 0) >= amount for name, amount in need.items())

        candidates = [addr for addr in sorted(workers) if fits(addr)]
        if not candidates:
            raise ComponentFailed(
                f"dask placement: no worker has free resources {need} for a {role} ({len(workers)} workers); "
                f'start workers with --resources "{",".join(f"{k}={v:g}" for k, v in need.items())}" or place fewer'
            )

        def load(addr: str) -> tuple[int, int, str]:
            mine = [p for p in self._placed.values() if p.worker == addr]
            return sum(p.role == role for p in mine), len(mine), addr

        return min(candidates, key=load)

    async def _call(self, worker: str, what: str, fn: Any, *args: Any, timeout: float | None = None) -> Any:
        """``fn(*args)`` on the worker's event loop; any failure is the cell's, with its reason."""
        client = await self._connect()
        try:
            result = await asyncio.wait_for(client.run(fn, *args, workers=[worker]), timeout or self.timeout)
        except TimeoutError:
            raise ComponentFailed(
                f"{what}: dask worker {worker} did not answer within {timeout or self.timeout:.0f}s"
            ) from None
        except (
            OSError,
            RuntimeError,
            ValueError,
            KeyError,
        ) as exc:  # OSError: CommClosedError, a dead worker
            raise ComponentFailed(f"{what} on dask worker {worker}: {exc}") from None
        if worker not in result:
            raise ComponentFailed(f"{what}: dask worker {worker} is gone")
        return result[worker]

    async def _future(self, worker: str, what: str, fn: Any, *args: Any) -> Any:
        """A task pinned to ``worker``; waits as long as the worker lives (counting may take a while)."""
        client = await self._connect()
        future = client.submit(fn, *args, workers=[worker], allow_other_workers=False, pure=False)
        try:
            while True:  # bounded: ends with the task or with the worker
                try:
                    return await asyncio.wait_for(asyncio.shield(future), 2.0)
                except TimeoutError:
                    if worker not in await self._workers():
                        raise ComponentFailed(f"{what}: dask worker {worker} is gone") from None
        except ComponentFailed:
            raise
        except Exception as exc:  # the task's own error, re-raised by the future
            raise ComponentFailed(f"{what} on dask worker {worker}: {exc}") from None
        finally:
            future.release()

    # --- paths on the worker hosts ------------------------------------------------------------
    def remote(self, path: Path | str) -> str:
        """A path under the run folder, as the worker hosts see it (``data_dir`` maps the run folder)."""
        if self.settings.data_dir is None:
            return str(path)
        rel = Path(path).relative_to(self.run_dir)
        return str(Path(self.settings.data_dir) / self.run_dir.name / rel)

    def _remote(self, value: Any) -> Any:
        """A config (as JSON) with every path under the run folder as the worker hosts see it."""
        if isinstance(value, dict):
            return {k: self._remote(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._remote(v) for v in value]
        if isinstance(value, str) and value.startswith(str(self.run_dir)):
            return self.remote(value)
        return value

    async def _start(self, name: str, cfg: BaseModel, worker: str | None = None,
                     tls_host: str | None = None) -> tuple[str, dict[str, Any]]:  # fmt: skip
        """The component ``cfg`` configures, on ``worker`` (else the one ``_pick`` chooses); the CA
        file it trusts travels with it."""
        role = ROLES[type(cfg)]
        worker = worker or await self._pick(role)
        config = cfg.model_dump(mode="json")
        files = {key: Path(config[key]).read_bytes() for key in ("ca_file", "forward_ca") if config.get(key)}
        started = await self._call(worker, f"{role} {name}", dask_worker.start, role, name, self._remote(config),
                                   self.remote(self.log_dir), files, tls_host)  # fmt: skip
        cid = started["id"]
        self._placed[cid] = _Placed(worker, role, name)  # sampled from now on, while it starts too
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:  # bounded by the deadline
            state = await self._call(worker, f"{role} {name}", dask_worker.ready, cid)
            if "ready" in state:
                return worker, {**started, "ready": state["ready"]}
            if "exited" in state:
                self._placed.pop(cid, None)
                raise ComponentFailed(
                    f"{name} exited (code {state['exited']}) before it was ready; {state['log']}"
                )
            if loop.time() > deadline:
                await self._call(worker, f"stopping {name}", dask_worker.stop, cid, 5.0)
                self._placed.pop(cid, None)
                raise ComponentFailed(f"{name} not ready within {self.timeout:.0f}s on dask worker {worker}")
            await asyncio.sleep(READY_POLL_SECONDS)

    # --- the placement's shape ----------------------------------------------------------------
    def component_pids(self) -> dict[str, list[int]]:
        return {}  # on other hosts: the probe samples them there

    def probe(self) -> Probe:
        return DaskProbe(self)

    async def start_registry(self, cfg: RegistryConfig) -> dict[str, Any]:
        worker = await self._pick("registry")
        _, started = await self._start("registry", cfg.model_copy(update={"host": _host(worker)}), worker)
        return dict(started["ready"])

    async def start_ingestor(self, cfg: IngestorConfig, name: str = "ingestor") -> IngestorHandle:
        worker = await self._pick("ingestor")
        host = _host(worker)
        cfg = cfg.model_copy(update={"host": host})
        _, started = await self._start(name, cfg, worker, host if cfg.tls else None)
        ready = started["ready"]
        cert_path = None
        if cfg.tls:  # a local copy of the ingestor's certificate, for the generators' --ca
            cert = self.run_dir / "certs" / f"{name}-{started['id'].replace('@', '-')}.pem"
            cert.parent.mkdir(parents=True, exist_ok=True)
            cert.write_text(started["cert_pem"])
            cert_path = str(cert)
        self._ingestors[(host, int(ready["tcp_port"]))] = started["id"]
        return handle_from_ready(
            {**ready, "cert_path": cert_path}, host, cfg.data_dir, [started["pid"]], host=started["host"]
        )

    def _worker_of(self, handle: IngestorHandle) -> tuple[str, str] | None:
        cid = self._ingestors.get((handle.address, handle.tcp_port))
        return (cid, self._placed[cid].worker) if cid in self._placed else None

    async def stop_ingestor(self, handle: IngestorHandle, timeout: float = 120.0) -> None:
        where = self._worker_of(handle)
        if where is None:
            return
        cid, worker = where
        res = await self._call(worker, f"stopping ingestor {self._placed[cid].name}", dask_worker.stop, cid,
                               timeout, timeout=timeout + self.timeout)  # fmt: skip
        self._placed.pop(cid, None)
        handle.final = res["final"]
        if res["code"] not in (0, None):
            raise ComponentFailed(f"ingestor on {handle.host} exited with code {res['code']} when stopped")

    async def read_stored(self, handle: IngestorHandle) -> Stored:
        cid = self._ingestors.pop((handle.address, handle.tcp_port), None)
        worker = await self._worker_by_address(handle.address)
        assert handle.data_dir is not None
        data = await self._future(worker, f"counting {cid or handle.data_dir}", dask_worker.count_stored,
                                  self.remote(handle.data_dir))  # fmt: skip
        return from_arrow(data)

    async def _worker_by_address(self, address: str) -> str:
        for worker in await self._workers():
            if _host(worker) == address:
                return worker
        raise ComponentFailed(f"no dask worker on {address} any more to count its ingestor's files")

    async def run_generator(self, cfg: GeneratorConfig, name: str) -> GeneratorResult:
        worker = None
        if cfg.output_file is not None:  # a file for a collector: on the collector's host
            worker = self._files_worker.get(str(cfg.output_file.parent))
        worker, started = await self._start(name, generator_run(cfg), worker)
        cid = started["id"]
        loop = asyncio.get_running_loop()
        duration = cfg.duration_seconds
        deadline = loop.time() + duration + self.timeout if duration is not None else None
        done = None
        while done is None:  # bounded: the deadline, or a count-based run ending (a dead worker ends it too)
            await asyncio.sleep(POLL_SECONDS)
            await self._check_alive()
            done = (await self._call(worker, f"generator {name}", dask_worker.poll, [cid]))[cid]
            if done is None and deadline is not None and loop.time() > deadline:
                await self._call(worker, f"generator {name}", dask_worker.stop, cid, 5.0)
                raise ComponentFailed(
                    f"generator {name} still sending {self.timeout:.0f}s after its duration"
                )
        self._placed.pop(cid, None)
        if done["code"] != 0 or "summary" not in done:
            raise ComponentFailed(f"generator {name} exited with code {done['code']}; {done.get('log', '')}")
        return GeneratorResult(done["summary"], [started["pid"]], started["ready"]["config"])

    async def start_collector(self, cfg: CollectorConfig, name: str) -> dict[str, Any]:
        worker, started = await self._start(name, cfg)
        self._files_worker[str(Path(cfg.inputs[0]).parent)] = worker
        self._collectors.append(started["id"])
        return dict(started["ready"]["config"])

    async def stop_collectors(self) -> None:
        for cid in self._collectors:
            placed = self._placed.pop(cid, None)
            if placed is not None:
                await self._call(placed.worker, f"stopping {placed.name}", dask_worker.stop, cid, 60.0,
                                 timeout=60.0 + self.timeout)  # fmt: skip
        self._collectors.clear()

    async def close(self) -> None:
        """Stop every component on every worker still there, then leave (or close) the cluster."""
        client = self._client
        if client is not None:
            for worker in sorted({p.worker for p in self._placed.values()}):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.run(dask_worker.stop_all, 30.0, workers=[worker]), 40.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), self.timeout)
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._cluster.close(), self.timeout)  # type: ignore[arg-type]
        self._client = self._cluster = None
        self._placed.clear()
        self._ingestors.clear()
        self._collectors.clear()
        self._files_worker.clear()


class DaskProbe:
    """Samples through one task per worker that runs components of the cell (Arrow rows back)."""

    def __init__(self, placement: DaskPlacement) -> None:
        self.placement = placement

    async def sample(
        self, ings: Sequence[IngestorHandle]
    ) -> tuple[list[dict[str, float] | None], dict[str, float]]:
        p = self.placement
        client = await p._connect()
        by_worker: dict[str, dict[str, str]] = {pl.worker: {} for pl in p._placed.values()}
        for ing in ings:
            cid = p._ingestors.get((ing.address, ing.tcp_port))
            if cid in p._placed:
                by_worker[p._placed[cid].worker][cid] = ing.http_url
        tasks = [asyncio.ensure_future(self._sample_worker(client, w, ids)) for w, ids in by_worker.items()]
        for t in tasks:  # a task cut short by the end of the cell is not an error to report later
            t.add_done_callback(lambda t: t.cancelled() or t.exception())
        done, pending = await asyncio.wait(tasks, timeout=3.0) if tasks else (set(), set())
        for t in pending:
            t.cancel()
        if pending or any(t.exception() for t in done):  # a slow or dead worker: no sample this second
            return [None] * len(ings), {}
        results = [t.result() for t in tasks]
        rows: dict[str, dict[str, float]] = {}
        others: dict[str, float] = {}
        for table, usage in results:
            for row in table.to_pylist():
                rows[row.pop("id")] = row
            for key, value in usage.items():
                others[key] = others.get(key, 0.0) + value
        return [rows.get(p._ingestors.get((ing.address, ing.tcp_port), "")) for ing in ings], others

    @staticmethod
    async def _sample_worker(
        client: Client, worker: str, ids: dict[str, str]
    ) -> tuple[Any, dict[str, float]]:
        future = client.submit(
            dask_worker.sample, ids, workers=[worker], allow_other_workers=False, pure=False
        )
        try:
            return tuple(await future)  # type: ignore[return-value]
        finally:
            future.release()

    async def close(self) -> None:
        return None


def _host(worker: str) -> str:
    """The host part of a worker address such as ``tcp://10.0.0.5:40123``."""
    return urlsplit(worker).hostname or "127.0.0.1"
