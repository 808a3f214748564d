"""One ingestor worker: its listeners (``listeners.LISTENERS``: TCP/TLS and UDP on the shared
ports), decoding, the write pipeline.

A worker runs in its own process (``worker_main``, one per core, TCP connections handed over by
the parent, see ``dispatch``; the UDP port shared with SO_REUSEPORT) or inside the caller's event
loop (``workers=0``, for notebooks and tests: it listens itself). It
sends a metrics snapshot to the parent every ``metrics_interval_seconds`` and stops in a fixed
order: close the listeners, keep reading open connections for ``drain_seconds``, close them
(their last partial line is decoded), write everything queued, finish the open segment, wait
for the compressions.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workbench.formats import UDP_STANDARD_PORTS
from workbench.ingestor import listeners
from workbench.ingestor.decoding import Codecs, Rejects, SchemaSet, WorkerContext
from workbench.ingestor.metrics import WorkerMetrics
from workbench.ingestor.pipeline import Pipeline
from workbench.storage.segments import SegmentWriter

if TYPE_CHECKING:  # a worker process gets its settings without the model (``process.worker_settings``)
    from workbench.ingestor.config import IngestorConfig

log = logging.getLogger("workbench.ingestor")


class WorkerRuntime:
    def __init__(
        self,
        config: IngestorConfig,
        worker_id: int,
        schemas: SchemaSet,
        ssl_context: ssl.SSLContext | None,
        tcp_port: int,
        udp_port: int | None,
        publish: Callable[[dict[str, Any]], None] | None = None,
        handoff: socket.socket | None = None,
        standard_ports: dict[str, int] | None = None,
    ) -> None:
        self.config = config
        self.worker_id = worker_id
        self.schemas = schemas
        self.ssl_context = ssl_context
        self.publish = publish
        self.handoff = handoff  # the parent's connections arrive here; None: listen on tcp_port
        self.standard_ports = standard_ports or {}  # shippers' ports (served like tcp_port)
        self.ports: dict[str, int | None] = {"tcp": tcp_port, "udp": udp_port}
        # the standard ports that take UDP too (Forward's heartbeat, GELF): every worker binds them
        self.ports.update({kind: self.standard_ports.get(name) for name, kind in UDP_STANDARD_PORTS.items()})
        self.metrics = WorkerMetrics()
        self.listeners: list[listeners.Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.pipeline: Pipeline | None = None

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        writer = SegmentWriter(
            cfg.data_dir, self.worker_id, cfg.rotate_bytes, cfg.output, cfg.compression, cfg.compression_level,
            on_finished=lambda _p: self.metrics.add("compressed_files"),
        )  # fmt: skip
        writer.recover()
        self.pipeline = Pipeline(loop, writer, self.metrics, cfg.max_queue_logs, cfg.overflow,
                                 cfg.flush_interval_seconds, max_queue_bytes=cfg.max_queue_bytes)  # fmt: skip
        self.pipeline.start()
        ctx = WorkerContext(
            codecs=Codecs(self.schemas, cfg.default_service),
            rejects=Rejects(cfg.data_dir, self.worker_id, self.metrics, cfg.rejected_samples_per_second),
            metrics=self.metrics,
            submit=self.pipeline.submit,
            max_line_bytes=cfg.max_line_bytes,
            max_frame_bytes=cfg.max_frame_bytes,
        )
        shared = listeners.ListenerContext(cfg, ctx, self.metrics, self.pipeline, self.ssl_context, self.ports,
                                           self.handoff, self.worker_id, self.standard_ports)  # fmt: skip
        self.listeners = listeners.build(shared)
        for listener in self.listeners:
            await listener.start()
        self._tasks.append(asyncio.create_task(self._housekeeping()))

    async def _housekeeping(self) -> None:
        interval = self.config.metrics_interval_seconds
        while True:
            await asyncio.sleep(interval)
            for listener in self.listeners:
                listener.housekeeping()
            if self.publish is not None:
                self.publish(self.metrics.snapshot())

    async def stop(self) -> None:
        """Graceful stop (see the module docstring); safe to call twice."""
        for listener in self.listeners:
            listener.stop_accepting()
        deadline = time.monotonic() + self.config.drain_seconds
        while any(listener.busy() for listener in self.listeners) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for listener in self.listeners:
            await listener.close()
        self.listeners = []
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        if self.pipeline is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.pipeline.stop)
            self.metrics.counters["rotations"][()] = self.pipeline.writer.rotations
            self.metrics.gauges["queue_length"] = self.pipeline.queued_logs
            self.pipeline = None
        if self.publish is not None:
            self.publish(self.metrics.snapshot())
