"""What receives a cell's load: our ingestors, started through the placement, or one third-party
receiver (rsyslog, syslog-ng, a command: ``external.ExternalReceiver``).

Both have the shape ``Targets``: the handles generators and collectors send to, a probe the
runner samples once a second, a stop, the stored logs for the accounting, and how the cell's MB/s
is measured. ``run_cell`` asks none of them what it is.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Protocol

from workbench.ingestor.config import IngestorConfig
from workbench.scenario.accounting import Stored, combine
from workbench.scenario.external import ExternalReceiver
from workbench.scenario.model import IngestorTarget, Scenario
from workbench.scenario.placement import IngestorHandle, Placement
from workbench.scenario.sampling import Probe


class Targets(Protocol):
    handles: list[IngestorHandle]
    header: bool  # generators send our format header (LOGWB/1) first

    def probe(self) -> Probe: ...
    async def stop(self) -> None: ...  # fills each handle's ``final`` where the receiver reports one
    async def abandon(self) -> None: ...  # a failed cell: stop what the placement does not know of
    async def read_stored(self) -> Stored: ...
    def mb_per_sec(self, measured: float, stored: Stored, seconds: float) -> float: ...


# scenario ingestor settings that are the runner's, and the IngestorConfig names of renamed ones
RUNNER_SETTINGS = frozenset({"instances", "use_registry"})
RENAMED = {"rotate": "rotate_bytes"}


def ingestor_config(scenario: Scenario, data_dir: Path, registry_url: str | None) -> IngestorConfig:
    """An ingestor of the scenario: every ``ingestor:`` setting as it is, ports chosen by the
    ingestor, the registry's URL (when it validates against the registry)."""
    s = scenario
    settings = {RENAMED.get(k, k): v for k, v in s.ingestor.model_dump(exclude=set(RUNNER_SETTINGS)).items()}
    if s.target.tls is not None:
        settings["tls"] = s.target.tls
    if any(g.protocol == "gelf-udp" for g in s.generators):
        settings["gelf_port"] = 0  # GELF's UDP listener, on a free port (the generators learn it)
    return IngestorConfig(
        **settings, data_dir=data_dir, tcp_port=0, udp_port=0, http_port=0, stats_line=False,
        registry_url=registry_url if s.ingestor.use_registry else None,
    )  # fmt: skip


class Ingestors:
    """``ingestor.instances`` of our ingestors, wherever the placement runs them."""

    header = True

    def __init__(self, placement: Placement, handles: list[IngestorHandle]) -> None:
        self.placement = placement
        self.handles = handles

    @classmethod
    async def start(cls, scenario: Scenario, placement: Placement, cell_dir: Path,
                    registry_url: str | None) -> Ingestors:  # fmt: skip
        """One keeps ``data/``, several get ``data/ingestor-<i>/``. Writes ``ingestor.json`` (where
        they answer, for ``dashboard --live RUN``) and ``<name>.config.json`` (what each reported
        it runs with: every setting, the ports it chose)."""
        n = scenario.ingestor.instances
        names = ["ingestor"] if n == 1 else [f"ingestor-{i}" for i in range(n)]
        dirs = [cell_dir / "data"] if n == 1 else [cell_dir / "data" / name for name in names]
        handles = list(await asyncio.gather(*(
            placement.start_ingestor(ingestor_config(scenario, d, registry_url), name)
            for d, name in zip(dirs, names, strict=True))))  # fmt: skip
        where = [{"http_url": h.http_url, "tcp_port": h.tcp_port, "udp_port": h.udp_port, "host": h.host}
                 for h in handles]  # fmt: skip
        (cell_dir / "ingestor.json").write_text(json.dumps({**where[0], "ingestors": where}) + "\n")
        for name, handle in zip(names, handles, strict=True):
            (cell_dir / f"{name}.config.json").write_text(json.dumps(handle.config, indent=2) + "\n")
        return cls(placement, handles)

    def probe(self) -> Probe:
        return self.placement.probe()

    async def stop(self) -> None:
        await asyncio.gather(*(self.placement.stop_ingestor(h) for h in self.handles))

    async def abandon(self) -> None:
        """Nothing to do: the placement stops the ingestors it started when it closes."""

    async def read_stored(self) -> Stored:
        parts = list(await asyncio.gather(*(self.placement.read_stored(h) for h in self.handles)))
        return combine(parts, [h.host for h in self.handles])

    def mb_per_sec(self, measured: float, stored: Stored, seconds: float) -> float:
        return measured  # the ingestors' own count of the bytes they received


async def start_targets(scenario: Scenario, placement: Placement, cell_dir: Path, log_dir: Path,
                        registry_url: str | None, name: str) -> Targets:  # fmt: skip
    """The cell's receivers, as ``scenario.target`` names them."""
    target = scenario.target
    if isinstance(target, IngestorTarget):
        return await Ingestors.start(scenario, placement, cell_dir, registry_url)
    return await ExternalReceiver.start(
        target, cell_dir, log_dir, f"{name}-{target.type}", placement.component_pids
    )


def ca_bundle(handles: list[IngestorHandle], cell_dir: Path) -> str | None:
    """One file trusting every receiver's certificate (each self-signs its own)."""
    certs = [h.cert_path for h in handles if h.cert_path]
    if len(certs) < 2:
        return certs[0] if certs else None
    bundle = cell_dir / "ingestors-ca.pem"
    bundle.write_bytes(b"".join(Path(c).read_bytes() for c in certs))
    return str(bundle)
