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
import contextlib
import logging
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any, cast

from workbench.codecs.base import FRAMING, RecordError
from workbench.errors import FramingError
from workbench.ingestor import dispatch, http1
from workbench.ingestor.decoding import Session, WorkerContext
from workbench.ingestor.forward import ForwardConnection, ForwardSetup
from workbench.ingestor.gelf import GelfConnection, GelfSetup
from workbench.ingestor.pipeline import FlowControl

if TYPE_CHECKING:
    from workbench.ingestor.grpc import GrpcConnection
    from workbench.ingestor.listeners import ListenerContext

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
            c.ctx.metrics.add("connections_idle_closed")
            c.close()
        return len(idle)


class IngestProtocol(asyncio.Protocol):
    """One connection of the universal port: its first bytes say whether it is an HTTP/1.1
    client (a shipper's protocol, ``http1``), HTTP/2 (gRPC), Fluent Forward, GELF, or a stream
    of our formats (``Session``)."""

    def __init__(self, ctx: WorkerContext, state: ServerState, flow: FlowControl, tls: bool,
                 http: http1.HttpSetup, forward: ForwardSetup, gelf: GelfSetup) -> None:  # fmt: skip
        self.ctx = ctx
        self.state = state
        self.flow = flow
        self.http = http
        self.forward = forward
        self.gelf = gelf
        self.kind = "tls" if tls else "tcp"
        self.transport: asyncio.Transport | None = None
        self.session: (
            Session | http1.HttpConnection | GrpcConnection | ForwardConnection | GelfConnection | None
        ) = None
        self._sniffed: bytes | None = b""  # the first bytes, until they tell the kind (then None)
        self.peer = "?"
        self.host = "?"
        self.last_progress = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio subclasses: no isinstance
        self.transport = transport
        peername: Any = transport.get_extra_info("peername")
        host, port = (peername[0], peername[1]) if isinstance(peername, tuple) else (str(peername), 0)
        self.peer = f"{host}:{port}"
        self.host = host
        if len(self.state.connections) >= self.state.max_connections:
            self.state.refused += 1
            self.ctx.metrics.add("connections_refused")
            log.warning("refusing connection from %s: %d connections open (max %d)", self.peer,
                        len(self.state.connections), self.state.max_connections)  # fmt: skip
            transport.abort()
            return
        self.session = Session(self.ctx, self.kind, self.peer, host, self._reply)
        sockname: Any = transport.get_extra_info("sockname")
        if (
            self.forward.shared_key is not None
            and isinstance(sockname, tuple)
            and sockname[1] == self.forward.port
        ):
            # the Forward handshake: on its own port the server speaks first (HELO)
            self._sniffed = None
            self.session = ForwardConnection(self.ctx, self.forward, self.kind, self.peer, host, self._reply,
                                             self.close, handshake=True)  # fmt: skip
        self.state.connections.add(self)
        self.flow.transports.add(transport)
        if self.flow.paused:
            transport.pause_reading()
        self.ctx.metrics.add("connections")
        self.ctx.metrics.gauges["connections_active"] = len(self.state.connections)

    def _reply(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None:
            return
        if self._sniffed is not None:
            head = self._sniffed + data
            kind = http1.sniff(head)
            if kind is None:
                self._sniffed = head
                return
            self._sniffed = None
            data = head
            if kind == "http1":
                session = self.session = http1.HttpConnection(
                    self.ctx, self.http, self.kind, self.peer, self.host, self._reply, self.close
                )
            elif kind == "forward":
                session = self.session = ForwardConnection(
                    self.ctx, self.forward, self.kind, self.peer, self.host, self._reply, self.close
                )
            elif kind == "gelf":
                session = self.session = GelfConnection(self.ctx, self.gelf, self.kind, self.peer, self.host)
            elif kind == "h2":
                from workbench.ingestor.grpc import GrpcConnection

                session = self.session = GrpcConnection(
                    self.ctx, self.http, self.kind, self.peer, self.host, self._reply, self.close
                )
        before = session.pending_bytes()
        try:
            session.feed(data)
        except FramingError as exc:
            self._broken(str(exc))
        if session.pending_bytes() < before + len(data):  # a record (or the header) completed
            self.last_progress = time.monotonic()
        self.ctx.metrics.counters["bytes"][(session.fmt, self.kind)] += len(data)

    def eof_received(self) -> bool | None:
        if self._sniffed:  # a short stream that ended before its kind was clear: our formats
            data, self._sniffed = self._sniffed, None
            self.data_received(data)
        if self.session is not None:
            try:
                self.session.eof()
            except FramingError as exc:
                self._broken(str(exc))
        return None  # close our side too

    def _broken(self, reason: str) -> None:
        fmt = self.session.fmt if self.session else "unknown"
        self.session = None  # closing a TLS transport calls eof_received: nothing more to decode
        self.ctx.rejects.record([RecordError(0, FRAMING, reason, b"")], fmt, self.kind, self.peer)
        log.warning("closing connection from %s: %s", self.peer, reason)
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        if self.transport is not None:
            self.flow.transports.discard(self.transport)
        self.ctx.metrics.gauges["connections_active"] = len(self.state.connections)


class TcpListener:
    """The universal port: TLS (or plain TCP) connections of every format.

    With a ``handoff`` socket the parent accepts and passes each connection over (see
    ``dispatch``); without one the worker listens on the port itself (``workers=0``)."""

    kind = "tcp"

    def __init__(self, shared: ListenerContext) -> None:
        self.shared = shared
        cfg = shared.config
        self.state = ServerState(cfg.max_connections, cfg.idle_timeout_seconds)
        self.handoff = shared.handoff
        self.port = shared.ports["tcp"]
        tls = shared.ssl_context is not None
        flow = shared.pipeline.flow
        self.standard_ports = dict(shared.standard_ports or {})
        http = http1.HttpSetup.from_config(cfg, shared.worker_id)
        forward = ForwardSetup.from_config(cfg, self.standard_ports.get("forward_port"))
        gelf = GelfSetup.from_config(cfg)
        self._protocol = lambda: IngestProtocol(shared.ctx, self.state, flow, tls, http, forward, gelf)
        self._servers: list[asyncio.AbstractServer] = []
        self._connecting: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.handoff is not None:
            self.handoff.setblocking(False)
            loop.add_reader(self.handoff.fileno(), self._take_connections)
            return
        tls = self.shared.ssl_context is not None
        for port in (self.port, *self.standard_ports.values()):
            server = await loop.create_server(
                self._protocol, self.shared.config.host, port, ssl=self.shared.ssl_context, reuse_port=True,
                backlog=1024, ssl_handshake_timeout=10.0 if tls else None,
            )  # fmt: skip
            self._servers.append(server)

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
        ssl_context = self.shared.ssl_context
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                self._protocol, sock, ssl=ssl_context, ssl_handshake_timeout=10.0 if ssl_context is not None else None,
            )  # fmt: skip
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            log.info("connection not established: %s", exc)  # e.g. a plain client on the TLS port
            self.shared.metrics.add("connections_failed")
            sock.close()

    def _close_handoff(self) -> None:
        if self.handoff is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.handoff.fileno())
            self.handoff.close()
            self.handoff = None

    def stop_accepting(self) -> None:
        self._close_handoff()
        for server in self._servers:
            server.close()

    def busy(self) -> bool:
        return bool(self.state.connections)

    async def close(self) -> None:
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

    def housekeeping(self) -> None:
        pipeline = self.shared.pipeline
        self.state.sweep_idle(paused=pipeline.flow.paused)
