"""The registry of the ingestor's listeners: one module per kind, one entry in ``LISTENERS``.

A listener is what a worker serves on one port: the universal TLS/TCP port for every format
(``tcp.TcpListener``, which also serves the shippers' TCP protocols), UDP datagrams
(``udp.UdpListener``), and the shippers' UDP on their standard ports: Forward's heartbeat
(``forward.HeartbeatListener``) and GELF datagrams (``gelf.GelfUdpListener``). Each kind is a class with the shape ``Listener``, built by the
worker with a ``ListenerContext`` (what every listener of the worker shares) and started after
the write pipeline; the worker stops them in one order: ``stop_accepting`` for all, wait while
any is ``busy`` (up to ``drain_seconds``), then ``close`` each (partial records decoded, the last
batch submitted) before the pipeline writes what is queued. ``docs/architecture.md`` ("Add a
listener") shows the two edits a new kind takes.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from workbench._lazy import resolve
from workbench.ingestor.decoding import WorkerContext
from workbench.ingestor.metrics import WorkerMetrics
from workbench.ingestor.pipeline import Pipeline

if TYPE_CHECKING:
    from workbench.ingestor.config import IngestorConfig


@dataclass
class ListenerContext:
    """What every listener of one worker shares."""

    config: IngestorConfig
    ctx: WorkerContext  # codecs, rejections, metrics, submit
    metrics: WorkerMetrics
    pipeline: Pipeline
    ssl_context: ssl.SSLContext | None
    ports: dict[str, int | None]  # by kind: the port each listener serves (None: that kind is off)
    handoff: socket.socket | None  # TCP connections the parent accepted arrive here; None: listen
    worker_id: int = 0
    # the shippers' standard TCP ports (``IngestorConfig`` field: port) served like the universal
    # one; with a ``handoff`` the parent listens on them too, else the TCP listener does
    standard_ports: dict[str, int] | None = None


class Listener(Protocol):
    kind: str

    async def start(self) -> None: ...
    def stop_accepting(self) -> None: ...
    def busy(self) -> bool: ...  # connections still open (they may still send)
    async def close(self) -> None: ...
    def housekeeping(self) -> None: ...  # every metrics interval


@dataclass(frozen=True)
class ListenerSpec:
    kind: str
    cls: str  # "module:Class"
    port: str  # the ``IngestorConfig`` field of its port (None there: not served)


LISTENERS: dict[str, ListenerSpec] = {
    spec.kind: spec
    for spec in (
        ListenerSpec("tcp", "workbench.ingestor.tcp:TcpListener", "tcp_port"),
        ListenerSpec("udp", "workbench.ingestor.udp:UdpListener", "udp_port"),
        ListenerSpec("forward_heartbeat", "workbench.ingestor.forward:HeartbeatListener", "forward_port"),
        ListenerSpec("gelf_udp", "workbench.ingestor.gelf:GelfUdpListener", "gelf_port"),
    )
}


def build(shared: ListenerContext) -> list[Listener]:
    """The listeners of every kind whose port is set."""
    out: list[Listener] = []
    for kind, spec in LISTENERS.items():
        if shared.ports.get(kind) is None:
            continue
        out.append(resolve(spec.cls)(shared))
    return out
