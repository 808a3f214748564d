"""Components as objects in the runner's event loop (notebooks); the ingestor's workers may still
be processes. Each takes the same config as in the other placements; a generator of
``processes: N`` runs as the N generators (``config.split``) the subprocess placement would start,
here concurrently in this loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from workbench.collector.config import CollectorConfig
from workbench.generator.config import GeneratorConfig, resolve, split
from workbench.ingestor.config import IngestorConfig
from workbench.registry.config import RegistryConfig
from workbench.scenario.accounting import Stored, read_stored
from workbench.scenario.placement.base import GeneratorResult, IngestorHandle, generator_run
from workbench.scenario.sampling import LocalProbe, Probe


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

    async def start_registry(self, cfg: RegistryConfig) -> dict[str, Any]:
        from workbench.registry import Registry

        self._registry = Registry.from_config(cfg)
        await self._registry.start()
        return {"url": str(self._registry.url), "config": self._registry.effective_config()}

    async def start_ingestor(self, cfg: IngestorConfig, name: str = "ingestor") -> IngestorHandle:
        from workbench.ingestor import Ingestor

        ing = Ingestor(cfg)
        await ing.start()
        self._ingestors[ing.tcp_port] = ing
        return IngestorHandle(ing.tcp_port, ing.udp_port, str(ing.url), ing.cert_path, [os.getpid()],
                              address=cfg.host, data_dir=cfg.data_dir, config=ing.effective_config(),
                              gelf_port=ing.standard_ports.get("gelf_port"))  # fmt: skip

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

    async def run_generator(self, cfg: GeneratorConfig, name: str) -> GeneratorResult:
        from workbench.generator.cli import merge_summaries
        from workbench.generator.generator import Generator

        cfg = generator_run(cfg)
        if cfg.processes == 1:
            gen = Generator(cfg)
            summary = await gen.run()
            return GeneratorResult(summary.as_dict(), [os.getpid()], gen.effective_config())
        cfg = resolve(cfg)
        parts = await asyncio.gather(*(Generator(part).run() for part in split(cfg)))
        merged = merge_summaries([p.as_dict() for p in parts], int(cfg.seed or 0))
        return GeneratorResult(merged, [os.getpid()], cfg.model_dump(mode="json"))

    async def start_collector(self, cfg: CollectorConfig, name: str) -> dict[str, Any]:
        from workbench.collector import Collector

        collector = Collector(cfg)
        await collector.start()
        self._collectors.append(collector)
        return collector.effective_config()

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
