"""Where components run: in this process (asyncio tasks) or as local subprocesses (CLI verbs).

A placement starts a component and returns a handle with the same shape whatever runs it, so the
runner, the accounting and the scenarios do not change with the placement. The third placement,
on the workers of a Dask cluster, lives in ``dask_placement`` and is imported only when a
scenario asks for it (``make_placement``), so local runs do not pay for ``import distributed``.
Every placement also reads an ingestor's stored logs where they lie (``read_stored``) and gives
the runner a probe that samples its components once a second (``probe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from workbench.errors import WorkbenchError
from workbench.ingestor.config import IngestorConfig
from workbench.scenario.accounting import Stored, read_stored
from workbench.scenario.sampling import LocalProbe, Probe

if TYPE_CHECKING:
    from workbench.scenario.model import Placement as PlacementSettings

READY_RE = re.compile(rb"\[READY\] tcp=(\d+) udp=(\S+) http=(\S+)")
SUMMARY_RE = re.compile(rb"\[SUMMARY\] stored (\d+) logs, [\d.]+ MB received, rejected (\d+), dropped (\d+)")
REGISTRY_RE = re.compile(rb"registry listening on (\S+)")
COLLECTOR_READY_RE = re.compile(rb"\[READY\] http=")


class ComponentFailed(WorkbenchError):
    """A component did not start or died; the cell fails with this reason."""


@dataclass
class IngestorHandle:
    tcp_port: int
    udp_port: int | None
    http_url: str
    cert_path: str | None
    pids: list[int]
    final: dict[str, float] = field(default_factory=dict)  # stored/rejected/dropped after stop
    address: str = "127.0.0.1"  # where senders reach it
    host: str = field(default_factory=socket.gethostname)  # the name of the host it runs on
    data_dir: Path | None = None  # its data dir (on its host)


@dataclass
class GeneratorResult:
    summary: dict[str, Any]
    pids: list[int]


class Placement(Protocol):
    """The shape of every placement: what the runner calls, whatever runs the components."""

    kind: str

    async def start_registry(self, data_dir: Path, port: int = 0) -> str: ...
    async def start_ingestor(self, cfg: IngestorConfig, name: str = "ingestor") -> IngestorHandle: ...
    async def stop_ingestor(self, handle: IngestorHandle, timeout: float = 120.0) -> None: ...
    async def read_stored(self, handle: IngestorHandle) -> Stored: ...
    async def run_generator(self, args: list[str], name: str, summary_path: Path) -> GeneratorResult: ...
    async def start_collector(self, args: list[str], name: str) -> None: ...
    async def stop_collectors(self) -> None: ...
    async def close(self) -> None: ...
    def component_pids(self) -> dict[str, list[int]]: ...
    def probe(self) -> Probe: ...


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

    async def _wait_line(self, proc: asyncio.subprocess.Process, pattern: re.Pattern[bytes], what: str,
                         keep: list[bytes] | None = None, timeout: float = 60.0) -> re.Match[bytes]:  # fmt: skip
        assert proc.stdout is not None

        async def scan() -> re.Match[bytes]:
            assert proc.stdout is not None
            while line := await proc.stdout.readline():
                if keep is not None:
                    keep.append(line)
                if m := pattern.search(line):
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
        m = await self._wait_line(proc, REGISTRY_RE, "registry")
        self._tasks.add(asyncio.create_task(_drain(proc)))
        return m.group(1).decode()

    def probe(self) -> Probe:
        return LocalProbe(self.component_pids)

    async def start_ingestor(self, cfg: IngestorConfig, name: str = "ingestor") -> IngestorHandle:
        proc = await self._spawn(name, ingest_args(cfg))
        out: list[bytes] = []
        m = await self._wait_line(proc, READY_RE, name, keep=out)
        self._ingestors[proc.pid] = (proc, out, asyncio.create_task(_collect(proc, out)))
        udp = m.group(2).decode()
        cert = cfg.data_dir / "tls" / "ingestor-cert.pem" if cfg.tls else None
        return IngestorHandle(int(m.group(1)), int(udp) if udp.isdigit() else None,
                              f"http://{cfg.host}:{m.group(3).decode()}", str(cert) if cert else None, [proc.pid],
                              address=cfg.host, data_dir=cfg.data_dir)  # fmt: skip

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
        await self._wait_line(proc, COLLECTOR_READY_RE, name)
        self._tasks.add(asyncio.create_task(_drain(proc)))
        self._collectors.append(proc)

    async def stop_collectors(self) -> None:
        await asyncio.gather(*(terminate(p, 60.0) for p in self._collectors))
        self._collectors.clear()

    async def close(self) -> None:
        """Stop whatever still runs (Ctrl-C, a failed cell): SIGTERM, then SIGKILL."""
        await asyncio.gather(*(terminate(p, 30.0) for p in self.procs if p.returncode is None))
        self.procs.clear()


def ingest_args(cfg: IngestorConfig) -> list[str]:
    """The ``ingest`` verb's flags for a config (``--quiet``: no metric line on stdout)."""
    args = [
        "ingest", "--data-dir", str(cfg.data_dir), "--host", cfg.host, "--tcp-port", str(cfg.tcp_port),
        "--http-port", str(cfg.http_port or 0), "--workers", str(cfg.workers),
        "--rotate-mb", str(cfg.rotate_bytes / 1e6), "--compression", cfg.compression,
        "--compression-level", str(cfg.compression_level), "--output", cfg.output, "--overflow", cfg.overflow,
        "--quiet",
    ]  # fmt: skip
    args += ["--udp-port", str(cfg.udp_port)] if cfg.udp_port is not None else ["--no-udp"]
    if not cfg.tls:
        args.append("--no-tls")
    if cfg.registry_url:
        args += ["--registry", cfg.registry_url]
    return args


def final_counts(lines: list[bytes]) -> dict[str, float]:
    """stored/rejected/dropped from an ingestor's ``[SUMMARY]`` line (empty when it printed none)."""
    for line in lines:
        if m := SUMMARY_RE.search(line):
            return {"stored": float(m.group(1)), "rejected": float(m.group(2)), "dropped": float(m.group(3))}
    return {}


def _role(name: str) -> str:
    for role in ("registry", "ingestor", "collector", "target"):
        if name.startswith(role):
            return role
    return "generator"  # generator-<cell>-<n> and filegen-<cell>-<n>-<m>


async def _drain(proc: asyncio.subprocess.Process) -> None:
    if proc.stdout is not None:
        while await proc.stdout.read(1 << 16):
            pass


async def _collect(proc: asyncio.subprocess.Process, lines: list[bytes]) -> None:
    if proc.stdout is not None:
        while line := await proc.stdout.readline():
            lines.append(line)


async def terminate(proc: asyncio.subprocess.Process, timeout: float) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


class InProcessPlacement:
    """Components as objects in this event loop (notebooks): the ingestor's workers may still be processes."""

    kind = "inprocess"

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._registry: Any = None
        self._ingestors: dict[int, Any] = {}  # by the handle's tcp port
        self._collectors: list[Any] = []

    def component_pids(self) -> dict[str, list[int]]:
        return {}  # every component shares this process: its figures are the ingestor's

    def probe(self) -> Probe:
        return LocalProbe(self.component_pids)

    async def start_registry(self, data_dir: Path, port: int = 0) -> str:
        from workbench.registry import Registry

        self._registry = Registry(data_dir=data_dir, port=port)
        await self._registry.start()
        return str(self._registry.url)

    async def start_ingestor(self, cfg: IngestorConfig, name: str = "ingestor") -> IngestorHandle:
        from workbench.ingestor import Ingestor

        ing = Ingestor(cfg)
        await ing.start()
        self._ingestors[ing.tcp_port] = ing
        return IngestorHandle(ing.tcp_port, ing.udp_port, str(ing.url), ing.cert_path, [os.getpid()],
                              address=cfg.host, data_dir=cfg.data_dir)  # fmt: skip

    async def stop_ingestor(self, handle: IngestorHandle, timeout: float = 120.0) -> None:
        ing = self._ingestors.pop(handle.tcp_port, None)
        if ing is None:
            return
        await asyncio.wait_for(ing.stop(), timeout)
        t = ing.aggregate.summary()["totals"]
        handle.final = {"stored": t["logs"], "rejected": t["rejected"], "dropped": t["dropped"]}

    async def read_stored(self, handle: IngestorHandle) -> Stored:
        assert handle.data_dir is not None
        return await asyncio.get_running_loop().run_in_executor(None, read_stored, handle.data_dir)

    async def run_generator(self, args: list[str], name: str, summary_path: Path) -> GeneratorResult:
        from workbench.cli import build_parser
        from workbench.generator.cli import config_from_args
        from workbench.generator.generator import Generator

        # the same flags as the subprocess placement, parsed by the generate verb itself
        config = config_from_args(build_parser().parse_args(["generate", *args, "--stats-interval", "0"]))
        summary = await Generator(config).run()
        summary.write_json(summary_path)
        return GeneratorResult(summary.as_dict(), [os.getpid()])

    async def start_collector(self, args: list[str], name: str) -> None:
        from workbench.cli import build_parser
        from workbench.collector import Collector
        from workbench.collector.cli import config_from_args

        collector = Collector(config_from_args(build_parser().parse_args(["collect", *args])))
        await collector.start()
        self._collectors.append(collector)

    async def stop_collectors(self) -> None:
        for c in self._collectors:
            await c.stop()
        self._collectors.clear()

    async def close(self) -> None:
        await self.stop_collectors()
        for ing in self._ingestors.values():
            with contextlib.suppress(Exception):
                await ing.stop()
        self._ingestors.clear()
        if self._registry is not None:
            with contextlib.suppress(Exception):
                await self._registry.stop()
            self._registry = None


def make_placement(settings: PlacementSettings, log_dir: Path) -> Placement:
    """The placement a scenario asks for; ``log_dir`` is ``<run>/logs`` (the dask placement maps
    the run folder to ``settings.data_dir`` on every worker host)."""
    if settings.type == "dask":
        from workbench.scenario.dask_placement import DaskPlacement

        return DaskPlacement(settings, log_dir)
    return InProcessPlacement(log_dir) if settings.type == "inprocess" else SubprocessPlacement(log_dir)
