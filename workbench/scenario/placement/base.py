"""What every placement shares: the ``Placement`` protocol, the handles it returns, and the
contract with a component process (``workbench.contract``: its whole config in as
``--config-json``, its ``ready`` and ``summary`` events out; how it is stopped)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from workbench import contract
from workbench.collector.config import CollectorConfig
from workbench.errors import ComponentFailed
from workbench.generator.config import GeneratorConfig
from workbench.ingestor.config import IngestorConfig
from workbench.registry.config import RegistryConfig
from workbench.scenario.accounting import Stored
from workbench.scenario.sampling import Probe

# the longest event line read from a component (a generator's summary lists every client)
EVENT_LINE_LIMIT = 256 << 20
# the role of each component config, and the verb that runs it (``python -m workbench VERB --config-json ...``)
ROLES: dict[type[BaseModel], str] = {
    RegistryConfig: "registry", IngestorConfig: "ingestor", GeneratorConfig: "generator", CollectorConfig: "collector",
}  # fmt: skip
VERBS = {"registry": "registry", "ingestor": "ingest", "generator": "generate", "collector": "collect"}


@dataclass
class IngestorHandle:
    """Where a receiver of the cell's load answers: one of our ingestors, or a third-party
    receiver (``output``: the glob of its files under ``data_dir``; None for ours)."""

    tcp_port: int
    udp_port: int | None
    http_url: str
    cert_path: str | None
    pids: list[int]
    final: dict[str, float] = field(default_factory=dict)  # stored/rejected/dropped after stop
    address: str = "127.0.0.1"  # where senders reach it
    host: str = field(default_factory=socket.gethostname)  # the name of the host it runs on
    data_dir: Path | None = None  # its data dir (on its host)
    config: dict[str, Any] = field(default_factory=dict)  # its effective config, as it reported it
    output: str | None = None
    gelf_port: int | None = None  # its GELF port (UDP and TCP), when it opened one


@dataclass
class GeneratorResult:
    summary: dict[str, Any]
    pids: list[int]
    config: dict[str, Any] = field(default_factory=dict)  # its effective config, as it reported it


class Placement(Protocol):
    """The shape of every placement: what the runner calls, whatever runs the components."""

    kind: str

    async def start_registry(self, cfg: RegistryConfig) -> dict[str, Any]: ...  # its ready event
    async def start_ingestor(self, cfg: IngestorConfig, name: str = "ingestor") -> IngestorHandle: ...
    async def stop_ingestor(self, handle: IngestorHandle, timeout: float = 120.0) -> None: ...
    async def read_stored(self, handle: IngestorHandle) -> Stored: ...
    async def run_generator(self, cfg: GeneratorConfig, name: str) -> GeneratorResult: ...
    async def start_collector(self, cfg: CollectorConfig, name: str) -> dict[str, Any]: ...  # its config
    async def stop_collectors(self) -> None: ...
    async def close(self) -> None: ...
    def component_pids(self) -> dict[str, list[int]]: ...
    def probe(self) -> Probe: ...


def role_args(role: str, config_json: str) -> list[str]:
    """The command line of a component of ``role`` with its whole config as JSON
    (``workbench.contract``); an ingestor with ``--quiet``: no metric line on stdout."""
    return contract.args(VERBS[role], config_json, *(["--quiet"] if role == "ingestor" else []))


def component_args(cfg: BaseModel) -> list[str]:
    """The command line of the component ``cfg`` configures."""
    return role_args(ROLES[type(cfg)], cfg.model_dump_json())


def ready_event(line: bytes) -> dict[str, Any] | None:
    """A component's ``ready`` event, or None for any other line."""
    return contract.parse(line, "ready")


def summary_event(lines: list[bytes]) -> dict[str, Any] | None:
    """A component's ``summary`` event (without ``event`` and ``component``), or None."""
    found = contract.find(lines, "summary")
    if found is None:
        return None
    return {k: v for k, v in found.items() if k not in ("event", "component")}


def generator_run(cfg: GeneratorConfig) -> GeneratorConfig:
    """A generator as a placement runs it: no stats lines, its summary as an event, not a file."""
    return cfg.model_copy(update={"stats_interval_seconds": 0.0, "summary_json": None})


def final_counts(lines: list[bytes]) -> dict[str, float]:
    """stored/rejected/dropped from an ingestor's ``summary`` event (empty when it printed none)."""
    found = summary_event(lines)
    return {k: float(found[k]) for k in ("stored", "rejected", "dropped")} if found else {}


def handle_from_ready(ready: dict[str, Any], address: str, data_dir: Path | None, pids: list[int],
                      **extra: Any) -> IngestorHandle:  # fmt: skip
    """The handle of an ingestor from its ``ready`` event."""
    return IngestorHandle(int(ready["tcp_port"]), ready["udp_port"], f"http://{address}:{ready['http_port']}",
                          ready.get("cert_path"), pids, address=address, data_dir=data_dir,
                          config=ready["config"], gelf_port=ready.get("gelf_port"), **extra)  # fmt: skip


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


async def terminate(proc: asyncio.subprocess.Process, timeout: float, *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` (to its whole process group with ``group``: a
    component started in a session of its own, with the processes it started)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        await proc.wait()


__all__ = ["ComponentFailed", "GeneratorResult", "IngestorHandle", "Placement", "component_args", "final_counts",
           "generator_run", "handle_from_ready", "ready_event", "summary_event", "terminate"]  # fmt: skip
