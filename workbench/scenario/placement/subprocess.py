"""Every component as a local subprocess: ``python -m workbench <verb>``, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from workbench.ingestor.config import IngestorConfig
from workbench.scenario.accounting import Stored, read_stored
from workbench.scenario.placement.base import (
    COLLECTOR_READY_RE,
    REGISTRY_RE,
    ComponentFailed,
    GeneratorResult,
    IngestorHandle,
    _collect,
    _drain,
    _role,
    final_counts,
    handle_from_ready,
    ingest_args,
    ready_event,
    terminate,
)
from workbench.scenario.sampling import LocalProbe, Probe

T = TypeVar("T")


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
            stdout=asyncio.subprocess.PIPE, stderr=stderr, stdin=asyncio.subprocess.DEVNULL,
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

    async def _wait_line(self, proc: asyncio.subprocess.Process, match: Callable[[bytes], T | None], what: str,
                         keep: list[bytes] | None = None, timeout: float = 60.0) -> T:  # fmt: skip
        """The first line ``match`` finds something in (a regex's ``search``, ``ready_event``)."""
        assert proc.stdout is not None

        async def scan() -> T:
            assert proc.stdout is not None
            while line := await proc.stdout.readline():
                if keep is not None:
                    keep.append(line)
                if (m := match(line)) is not None:
                    return m
            raise ComponentFailed(
                f"{what} exited (code {await proc.wait()}) before it was ready; see {self.log_dir}"
            )

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            raise ComponentFailed(f"{what} not ready within {timeout:.0f}s; see {self.log_dir}") from None

    async def start_registry(self, data_dir: Path, port: int = 0) -> str:
        proc = await self._spawn("registry", ["registry", "--port", str(port), "--data-dir", str(data_dir)])
        m = await self._wait_line(proc, REGISTRY_RE.search, "registry")
        self._tasks.add(asyncio.create_task(_drain(proc)))
        return m.group(1).decode()

    def probe(self) -> Probe:
        return LocalProbe(self.component_pids)

    async def start_ingestor(self, cfg: IngestorConfig, name: str = "ingestor") -> IngestorHandle:
        proc = await self._spawn(name, ingest_args(cfg))
        out: list[bytes] = []
        ready = await self._wait_line(proc, ready_event, name, keep=out)
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

    async def run_generator(self, args: list[str], name: str, summary_path: Path) -> GeneratorResult:
        proc = await self._spawn(
            name, ["generate", *args, "--summary-json", str(summary_path), "--stats-interval", "0"]
        )
        drain = asyncio.create_task(_drain(proc))
        code = await proc.wait()
        await drain
        if code != 0 or not summary_path.is_file():
            raise ComponentFailed(
                f"generator {name} exited with code {code}; see {self.log_dir / (name + '.log')}"
            )
        return GeneratorResult(json.loads(summary_path.read_text()), [proc.pid])

    async def start_collector(self, args: list[str], name: str) -> None:
        proc = await self._spawn(name, ["collect", *args])
        await self._wait_line(proc, COLLECTOR_READY_RE.search, name)
        self._tasks.add(asyncio.create_task(_drain(proc)))
        self._collectors.append(proc)

    async def stop_collectors(self) -> None:
        await asyncio.gather(*(terminate(p, 60.0) for p in self._collectors))
        self._collectors.clear()

    async def close(self) -> None:
        """Stop whatever still runs (Ctrl-C, a failed cell): SIGTERM, then SIGKILL."""
        await asyncio.gather(*(terminate(p, 30.0) for p in self.procs if p.returncode is None))
        self.procs.clear()
