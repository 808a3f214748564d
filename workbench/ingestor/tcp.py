"""The TCP/TLS universal handler: one ``asyncio.Protocol`` per connection, every format.

Flow control is explicit: the worker's pipeline pauses every connection's reading when its
queue is full and resumes it when half empty. The idle timeout counts time without record
progress (a complete record or header read), not without bytes: a client that trickles a
record a byte at a time (slowloris) is cut as surely as a silent one; while reading is paused
for backpressure the clock does not run. A broken stream (a lying length prefix, a bad
header) closes the connection with the reason counted and sampled; a bad record does not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

from workbench.codecs.base import FRAMING, RecordError
from workbench.errors import FramingError
from workbench.ingestor.decoding import Session, Worker
from workbench.ingestor.pipeline import FlowControl

log = logging.getLogger("workbench.ingestor")


class ServerState:
    """Connections of one worker's TCP server, for limits, idle sweeps and shutdown."""

    def __init__(self, max_connections: int, idle_timeout_seconds: float) -> None:
        self.connections: set[IngestProtocol] = set()
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout_seconds
        self.refused = 0

    def sweep_idle(self, paused: bool = False) -> int:
        now = time.monotonic()
        if paused:  # we are not reading: no sender is idle by its own fault
            for c in self.connections:
                c.last_progress = now
            return 0
        idle = [c for c in self.connections if now - c.last_progress > self.idle_timeout]
        for c in idle:
            log.warning("closing idle connection from %s (no complete record for %.0fs)",
                        c.peer, now - c.last_progress)  # fmt: skip
            c.w.metrics.add("connections_idle_closed")
            c.close()
        return len(idle)


def _pending_bytes(session: Session) -> int:
    splitter = session.splitter
    return splitter.pending_bytes() if splitter is not None else len(session._head)


class IngestProtocol(asyncio.Protocol):
    def __init__(self, worker: Worker, state: ServerState, flow: FlowControl, tls: bool) -> None:
        self.w = worker
        self.state = state
        self.flow = flow
        self.kind = "tls" if tls else "tcp"
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.peer = "?"
        self.last_progress = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio subclasses: no isinstance
        self.transport = transport
        peername: Any = transport.get_extra_info("peername")
        host, port = (peername[0], peername[1]) if isinstance(peername, tuple) else (str(peername), 0)
        self.peer = f"{host}:{port}"
        if len(self.state.connections) >= self.state.max_connections:
            self.state.refused += 1
            self.w.metrics.add("connections_refused")
            log.warning("refusing connection from %s: %d connections open (max %d)", self.peer,
                        len(self.state.connections), self.state.max_connections)  # fmt: skip
            transport.abort()
            return
        self.session = Session(self.w, self.kind, self.peer, host, self._reply)
        self.state.connections.add(self)
        self.flow.transports.add(transport)
        if self.flow.paused:
            transport.pause_reading()
        self.w.metrics.add("connections")
        self.w.metrics.gauges["connections_active"] = len(self.state.connections)

    def _reply(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None:
            return
        before = _pending_bytes(session)
        try:
            session.feed(data)
        except FramingError as exc:
            self._broken(str(exc))
        if _pending_bytes(session) < before + len(data):  # a record (or the header) completed
            self.last_progress = time.monotonic()
        self.w.metrics.counters["bytes"][(session.fmt, self.kind)] += len(data)

    def eof_received(self) -> bool | None:
        if self.session is not None:
            try:
                self.session.eof()
            except FramingError as exc:
                self._broken(str(exc))
        return None  # close our side too

    def _broken(self, reason: str) -> None:
        fmt = self.session.fmt if self.session else "unknown"
        self.session = None  # closing a TLS transport calls eof_received: nothing more to decode
        self.w.rejects.record([RecordError(0, FRAMING, reason, b"")], fmt, self.kind, self.peer)
        log.warning("closing connection from %s: %s", self.peer, reason)
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        if self.transport is not None:
            self.flow.transports.discard(self.transport)
        self.w.metrics.gauges["connections_active"] = len(self.state.connections)
