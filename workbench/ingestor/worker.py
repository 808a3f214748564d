"""One ingestor worker: TCP/TLS and UDP servers on the shared ports, decoding, the write pipeline.

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
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from workbench.ingestor import dispatch
from workbench.ingestor.config import IngestorConfig
from workbench.ingestor.decoding import Codecs, Rejects, SchemaSet, Worker
from workbench.ingestor.metrics import WorkerMetrics
from workbench.ingestor.pipeline import Pipeline
from workbench.ingestor.tcp import IngestProtocol, ServerState
from workbench.ingestor.udp import UdpProtocol, kernel_drops
from workbench.storage.segments import SegmentWriter

log = logging.getLogger("workbench.ingestor")
UDP_RCVBUF_BYTES = 8 << 20


def udp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF_BYTES)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


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
    ) -> None:
        self.config = config
        self.worker_id = worker_id
        self.schemas = schemas
        self.ssl_context = ssl_context
        self.tcp_port = tcp_port
        self.udp_port = udp_port
        self.publish = publish
        self.handoff = handoff  # the parent's connections arrive here; None: listen on tcp_port
        self._protocol: Callable[[], IngestProtocol] | None = None
        self.metrics = WorkerMetrics()
        self.state = ServerState(config.max_connections, config.idle_timeout_seconds)
        self._servers: list[asyncio.AbstractServer] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_sock: socket.socket | None = None
        self._udp_protocol: UdpProtocol | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._connecting: set[asyncio.Task[None]] = set()
        self.pipeline: Pipeline | None = None
        self._kernel_drops_base: int | None = None

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        writer = SegmentWriter(
            cfg.data_dir, self.worker_id, cfg.rotate_bytes, cfg.output, cfg.compression, cfg.compression_level,
            on_finished=lambda _p: self.metrics.add("compressed_files"),
        )  # fmt: skip
        writer.recover()
        self.pipeline = Pipeline(
            loop, writer, self.metrics, cfg.max_queue_logs, cfg.overflow, cfg.flush_interval_seconds
        )
        self.pipeline.start()
        worker = Worker(
            codecs=Codecs(self.schemas, cfg.default_service),
            rejects=Rejects(cfg.data_dir, self.worker_id, self.metrics, cfg.rejected_samples_per_second),
            metrics=self.metrics,
            submit=self.pipeline.submit,
            max_line_bytes=cfg.max_line_bytes,
            max_frame_bytes=cfg.max_frame_bytes,
        )
        flow = self.pipeline.flow
        tls = self.ssl_context is not None
        self._protocol = lambda: IngestProtocol(worker, self.state, flow, tls)
        if self.handoff is not None:
            self.handoff.setblocking(False)
            loop.add_reader(self.handoff.fileno(), self._take_connections)
        else:
            server = await loop.create_server(
                self._protocol, cfg.host, self.tcp_port, ssl=self.ssl_context, reuse_port=True, backlog=1024,
                ssl_handshake_timeout=10.0 if tls else None,
            )  # fmt: skip
            self._servers.append(server)
        if self.udp_port is not None:
            self._udp_sock = udp_socket(cfg.host, self.udp_port)
            self._udp, proto = await loop.create_datagram_endpoint(
                lambda: UdpProtocol(worker, loop, queue_full=self.pipeline.full if self.pipeline else None),
                sock=self._udp_sock,
            )
            self._udp_protocol = proto
            self._kernel_drops_base = kernel_drops(self._udp_sock)
        self._tasks.append(asyncio.create_task(self._housekeeping()))

    def _take_connections(self) -> None:
        assert self.handoff is not None
        socks = dispatch.receive(self.handoff)
        if socks is None:  # the parent closed the channel: it is stopping (or gone)
            self._close_handoff()
            return
        for sock in socks:
            task = asyncio.create_task(self._serve(sock))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _serve(self, sock: socket.socket) -> None:
        assert self._protocol is not None
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                self._protocol, sock, ssl=self.ssl_context,
                ssl_handshake_timeout=10.0 if self.ssl_context is not None else None,
            )  # fmt: skip
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            log.info("connection not established: %s", exc)  # e.g. a plain client on the TLS port
            self.metrics.add("connections_failed")
            sock.close()

    def _close_handoff(self) -> None:
        if self.handoff is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.handoff.fileno())
            self.handoff.close()
            self.handoff = None

    def _update_kernel_drops(self) -> None:
        if self._udp_sock is None or self._kernel_drops_base is None:
            return
        drops = kernel_drops(self._udp_sock)
        if drops is not None:
            self.metrics.counters["dropped"][("udp_receive_buffer",)] = float(drops - self._kernel_drops_base)

    async def _housekeeping(self) -> None:
        interval = self.config.metrics_interval_seconds
        while True:
            await asyncio.sleep(interval)
            self.state.sweep_idle(paused=self.pipeline is not None and self.pipeline.flow.paused)
            self._update_kernel_drops()
            if self.publish is not None:
                self.publish(self.metrics.snapshot())

    async def stop(self) -> None:
        """Graceful stop (see the module docstring); safe to call twice."""
        self._close_handoff()
        for server in self._servers:
            server.close()
        deadline = time.monotonic() + self.config.drain_seconds
        while self.state.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.state.connections):
            session, conn.session = conn.session, None  # decoded once here, not again on close
            if session is not None:
                with contextlib.suppress(Exception):
                    session.eof()
            conn.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        self._servers.clear()
        if self._udp_protocol is not None:
            self._udp_protocol._flush()
        if self._udp is not None:
            self._update_kernel_drops()
            self._udp.close()
            self._udp = None
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
