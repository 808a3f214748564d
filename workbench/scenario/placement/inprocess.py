"""Components as objects in the runner's event loop (notebooks); the ingestor's workers may still
be processes. Generators and collectors take the same flags as in the subprocess placement,
parsed by their own verb's parser."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.ingestor.config import IngestorConfig
from workbench.scenario.accounting import Stored, read_stored
from workbench.scenario.placement.base import GeneratorResult, IngestorHandle
from workbench.scenario.sampling import LocalProbe, Probe


def verb_args(add_parser: Callable[[Any], Any], argv: list[str]) -> argparse.Namespace:
    """``argv`` (verb first) parsed by that one verb's parser."""
    parser = argparse.ArgumentParser(prog="python -m workbench")
    add_parser(parser.add_subparsers(dest="verb"))
    return parser.parse_args(argv)


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
                              address=cfg.host, data_dir=cfg.data_dir, config=ing.effective_config())  # fmt: skip

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
        from workbench.generator.cli import add_parser, config_from_args
        from workbench.generator.generator import Generator

        # the same flags as the subprocess placement, parsed by the generate verb itself
        config = config_from_args(verb_args(add_parser, ["generate", *args, "--stats-interval", "0"]))
        summary = await Generator(config).run()
        summary.write_json(summary_path)
        return GeneratorResult(summary.as_dict(), [os.getpid()])

    async def start_collector(self, args: list[str], name: str) -> None:
        from workbench.collector import Collector
        from workbench.collector.cli import add_parser, config_from_args

        collector = Collector(config_from_args(verb_args(add_parser, ["collect", *args])))
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
