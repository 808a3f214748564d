"""Every component as a local subprocess: ``python -m workbench <verb>``, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from workbench.collector.config import CollectorConfig
from workbench.generator.config import GeneratorConfig
from workbench.ingestor.config import IngestorConfig
from workbench.registry.config import RegistryConfig
from workbench.scenario.accounting import Stored, read_stored
from workbench.scenario.placement.base import (
    EVENT_LINE_LIMIT,
    ComponentFailed,
    GeneratorResult,
    IngestorHandle,
    _collect,
    _drain,
    _role,
    component_args,
    final_counts,
    generator_run,
    handle_from_ready,
    ready_event,
    summary_event,
    terminate,
)
from workbench.scenario.sampling import LocalProbe, Probe


class SubprocessPlacement:
    """Every component as ``python -m workbench <verb>``; stopped with SIGTERM, killed if it hangs."""

    kind = "subprocess"

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[asyncio.subprocess.Process] = []
        self._ingestors: dict[int, tuple[asyncio.subprocess.Process, list[bytes], asyncio.Task[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._collectors: list[asyncio.subprocess.Process] = []
        self.roles: dict[int, str] = {}

    async def _spawn(self, name: str, args: list[str]) -> asyncio.subprocess.Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stderr = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "workbench", *args,
            stdout=asyncio.subprocess.PIPE, stderr=stderr, stdin=asyncio.subprocess.DEVNULL, limit=EVENT_LINE_LIMIT,
        )  # fmt: skip
        stderr.close()
        self.procs.append(proc)
        self.roles[proc.pid] = _role(name)
        return proc

    def component_pids(self) -> dict[str, list[int]]:
        """Running component processes by role (registry, ingestor, generator, collector)."""
        out: dict[str, list[int]] = {}
        for p in self.procs:
            if p.returncode is None:
                out.setdefault(self.roles.get(p.pid, "other"), []).append(p.pid)
        return out

    async def _start(self, name: str, cfg: BaseModel, keep: list[bytes] | None = None,
                     timeout: float = 60.0) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:  # fmt: skip
        """The component ``cfg`` configures, started, and its ``ready`` event (its stdout lines up
        to it into ``keep``)."""
        proc = await self._spawn(name, component_args(cfg))
        assert proc.stdout is not None

        async def scan() -> dict[str, Any]:
            assert proc.stdout is not None
            while line := await proc.stdout.readline():
                if keep is not None:
                    keep.append(line)
                if (ready := ready_event(line)) is not None:
                    return ready
            raise ComponentFailed(
                f"{name} exited (code {await proc.wait()}) before it was ready; see {self.log_dir / (name + '.log')}"
            )

        try:
            return proc, await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            raise ComponentFailed(f"{name} not ready within {timeout:.0f}s; see {self.log_dir}") from None

    async def start_registry(self, cfg: RegistryConfig) -> dict[str, Any]:
        proc, ready = await self._start("registry", cfg)
        self._tasks.add(asyncio.create_task(_drain(proc)))
        return ready

    def probe(self) -> Probe:
        return LocalProbe(self.component_pids)

    async def start_ingestor(self, cfg: IngestorConfig, name: str = "ingestor") -> IngestorHandle:
        out: list[bytes] = []
        proc, ready = await self._start(name, cfg, keep=out)
        self._ingestors[proc.pid] = (proc, out, asyncio.create_task(_collect(proc, out)))
        return handle_from_ready(ready, cfg.host, cfg.data_dir, [proc.pid])

    async def stop_ingestor(self, handle: IngestorHandle, timeout: float = 120.0) -> None:
        entry = self._ingestors.pop(handle.pids[0], None)
        if entry is None:
            return
        proc, out, reader = entry
        await terminate(proc, timeout)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader, 5)
        handle.final = final_counts(out)

    async def read_stored(self, handle: IngestorHandle) -> Stored:
        assert handle.data_dir is not None
        return await asyncio.get_running_loop().run_in_executor(None, read_stored, handle.data_dir)

    async def run_generator(self, cfg: GeneratorConfig, name: str) -> GeneratorResult:
        out: list[bytes] = []
        proc, ready = await self._start(name, generator_run(cfg), keep=out)
        await _collect(proc, out)
        code = await proc.wait()
        summary = summary_event(out)
        if code != 0 or summary is None:
            raise ComponentFailed(
                f"generator {name} exited with code {code}; see {self.log_dir / (name + '.log')}"
            )
        return GeneratorResult(summary, [proc.pid], ready["config"])

    async def start_collector(self, cfg: CollectorConfig, name: str) -> dict[str, Any]:
        proc, ready = await self._start(name, cfg)
        self._tasks.add(asyncio.create_task(_drain(proc)))
        self._collectors.append(proc)
        return dict(ready["config"])

    async def stop_collectors(self) -> None:
        await asyncio.gather(*(terminate(p, 60.0) for p in self._collectors))
        self._collectors.clear()

    async def close(self) -> None:
        """Stop whatever still runs (Ctrl-C, a failed cell): SIGTERM, then SIGKILL."""
        await asyncio.gather(*(terminate(p, 30.0) for p in self.procs if p.returncode is None))
        self.procs.clear()
