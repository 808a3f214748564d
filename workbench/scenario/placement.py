"""Where components run: in this process (asyncio tasks) or as local subprocesses (CLI verbs).

A placement starts a component and returns a handle with the same shape whatever runs it, so the
runner, the accounting and the scenarios do not change with the placement (a later placement on
the workers of a distributed engine adds a class here, nothing else).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.ingestor.config import IngestorConfig

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


@dataclass
class GeneratorResult:
    summary: dict[str, Any]
    pids: list[int]


class SubprocessPlacement:
    """Every component as ``python -m workbench <verb>``; stopped with SIGTERM, killed if it hangs."""

    kind = "subprocess"

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[asyncio.subprocess.Process] = []
        self._ingestor_proc: asyncio.subprocess.Process | None = None
        self._ingestor_out: list[bytes] = []
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

    async def start_ingestor(self, cfg: IngestorConfig) -> IngestorHandle:
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
        proc = await self._spawn("ingestor", args)
        self._ingestor_proc = proc
        m = await self._wait_line(proc, READY_RE, "ingestor", keep=self._ingestor_out)
        self._ingestor_reader = asyncio.create_task(_collect(proc, self._ingestor_out))
        udp = m.group(2).decode()
        cert = cfg.data_dir / "tls" / "ingestor-cert.pem" if cfg.tls else None
        return IngestorHandle(int(m.group(1)), int(udp) if udp.isdigit() else None,
                              f"http://{cfg.host}:{m.group(3).decode()}", str(cert) if cert else None, [proc.pid])  # fmt: skip

    async def stop_ingestor(self, handle: IngestorHandle, timeout: float = 120.0) -> None:
        proc = self._ingestor_proc
        if proc is None:
            return
        await terminate(proc, timeout)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ingestor_reader, 5)
        for line in self._ingestor_out:
            if m := SUMMARY_RE.search(line):
                handle.final = {
                    "stored": float(m.group(1)),
                    "rejected": float(m.group(2)),
                    "dropped": float(m.group(3)),
                }
        self._ingestor_proc, self._ingestor_out = None, []

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
        self._ingestor: Any = None
        self._collectors: list[Any] = []

    def component_pids(self) -> dict[str, list[int]]:
        return {}  # every component shares this process: its figures are the ingestor's

    async def start_registry(self, data_dir: Path, port: int = 0) -> str:
        from workbench.registry import Registry

        self._registry = Registry(data_dir=data_dir, port=port)
        await self._registry.start()
        return str(self._registry.url)

    async def start_ingestor(self, cfg: IngestorConfig) -> IngestorHandle:
        from workbench.ingestor import Ingestor

        self._ingestor = Ingestor(cfg)
        await self._ingestor.start()
        ing = self._ingestor
        return IngestorHandle(ing.tcp_port, ing.udp_port, str(ing.url), ing.cert_path, [os.getpid()])

    async def stop_ingestor(self, handle: IngestorHandle, timeout: float = 120.0) -> None:
        if self._ingestor is None:
            return
        await asyncio.wait_for(self._ingestor.stop(), timeout)
        t = self._ingestor.aggregate.summary()["totals"]
        handle.final = {"stored": t["logs"], "rejected": t["rejected"], "dropped": t["dropped"]}
        self._ingestor = None

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
        if self._ingestor is not None:
            with contextlib.suppress(Exception):
                await self._ingestor.stop()
            self._ingestor = None
        if self._registry is not None:
            with contextlib.suppress(Exception):
                await self._registry.stop()
            self._registry = None


Placement = SubprocessPlacement | InProcessPlacement


def make_placement(kind: str, log_dir: Path) -> Placement:
    return InProcessPlacement(log_dir) if kind == "inprocess" else SubprocessPlacement(log_dir)
