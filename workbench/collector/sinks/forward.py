"""Forwarding to the ingestor over TLS in ack mode: nothing is lost across a restart of either side.

The connection opens with ``LOGWB/1 format=json framing=length ack=1 client=...`` (or
``format=proto``); each frame is one batch of up to ``forward_batch_entries`` entries. Every frame
is kept until the ingestor's cumulative ``ACK <n>`` covers it; a lost connection is re-opened
with exponential backoff (``retry_backoff_seconds`` doubling up to ``max_backoff_seconds``) and
the unacknowledged frames are resent first, in order. The window is bounded
(``max_unacked_frames``): when it is full, ``write`` waits, and so the tailing pauses
(backpressure instead of memory growth while the ingestor is down).

Checkpoints: each frame carries the file offsets its last entry reached; ``commit`` returns the
offsets of acknowledged frames only, so a checkpoint never covers data the ingestor has not
confirmed. A frame the ingestor stored but whose ack was lost with the connection is sent again:
at-least-once, duplicates only in that window.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from workbench import wire
from workbench.ackclient import AckClientProtocol, take_acked
from workbench.codecs.proto import ProtoCodec
from workbench.collector.config import CollectorConfig
from workbench.collector.sinks.base import Positions
from workbench.tls import client_context

log = logging.getLogger("workbench.collector")
_json = msgspec.json.Encoder()


@dataclass(slots=True)
class _Frame:
    data: bytes
    entries: int
    positions: Positions = field(default_factory=dict)
    conn_no: int = 0


class ForwardSink:
    name = "forward"

    def __init__(self, cfg: CollectorConfig) -> None:
        self.cfg = cfg
        self.path: Path | None = None
        self.ssl: ssl.SSLContext | None = None
        self.header = wire.make_header(cfg.forward_format, framing="length", ack=True,
                                       client=cfg.client_name).encode()  # fmt: skip
        self.encode = _json.encode_lines if cfg.forward_format == "json" else ProtoCodec().encode
        self.unacked: collections.deque[_Frame] = collections.deque()
        self.acked_positions: Positions = {}
        self.buffer: list[Any] = []
        self.buffer_positions: Positions = {}
        self.conn: AckClientProtocol | None = None
        self._conn_frames = 0
        self._window = asyncio.Event()
        self._window.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = {"frames_sent": 0, "frames_acked": 0, "entries_acked": 0, "frames_resent": 0,
                      "connections": 0, "connect_failures": 0}  # fmt: skip

    @property
    def connected(self) -> bool:
        return self.conn is not None and self.conn.alive

    async def open(self, mark: int | None) -> None:
        cfg = self.cfg
        if cfg.forward_tls:
            self.ssl = client_context(cfg.forward_ca, insecure=cfg.forward_insecure)
        self._task = asyncio.create_task(self._run(), name="collector-forward")

    # --- callbacks -----------------------------------------------------------------------------
    def on_ack(self, conn: AckClientProtocol, n: int) -> None:
        if conn is not self.conn:
            return
        for f in take_acked(self.unacked, n):
            self.acked_positions.update(f.positions)
            self.stats["frames_acked"] += 1
            self.stats["entries_acked"] += f.entries
        if len(self.unacked) < self.cfg.max_unacked_frames:
            self._window.set()

    def on_lost(self, conn: AckClientProtocol) -> None:
        self._window.set()

    # --- connection --------------------------------------------------------------------------
    async def _connect(self) -> AckClientProtocol:
        cfg = self.cfg
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(
            loop.create_connection(lambda: AckClientProtocol(self, "forward"), cfg.forward_host, cfg.forward_port, ssl=self.ssl,
                                   server_hostname=cfg.forward_host if self.ssl is not None else None),
            cfg.connect_timeout_seconds,
        )  # fmt: skip
        assert proto.transport is not None
        self.stats["connections"] += 1
        self._conn_frames = 0
        parts = [self.header]
        for f in self.unacked:  # what the last connection did not confirm goes first, in order
            if f.conn_no:  # written to an earlier connection (else queued while disconnected)
                self.stats["frames_resent"] += 1
            self._conn_frames += 1
            f.conn_no = self._conn_frames
            parts.append(f.data)
        proto.transport.write(b"".join(parts))
        self.conn = proto
        return proto

    async def _run(self) -> None:
        cfg = self.cfg
        delay = cfg.retry_backoff_seconds
        while not self._closing:
            try:
                conn = await self._connect()
            except ssl.SSLCertVerificationError as exc:
                self.stats["connect_failures"] += 1
                log.error("forward: TLS certificate of %s:%s not trusted (%s); give --ca FILE or --insecure",
                          cfg.forward_host, cfg.forward_port, exc.verify_message)  # fmt: skip
                await asyncio.sleep(cfg.max_backoff_seconds)
                continue
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                self.stats["connect_failures"] += 1
                log.debug("forward: connect to %s:%s failed: %s", cfg.forward_host, cfg.forward_port, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, cfg.max_backoff_seconds)
                continue
            delay = cfg.retry_backoff_seconds
            await conn.closed
            if self.conn is conn:
                self.conn = None
            if not self._closing:
                log.info("forward: connection to %s:%s lost; %d frame(s) unacknowledged, reconnecting",
                         cfg.forward_host, cfg.forward_port, len(self.unacked))  # fmt: skip

    # --- sink ----------------------------------------------------------------------------------
    async def write(self, entries: Sequence[Any], positions: Positions) -> None:
        if entries:
            self.buffer.extend(entries)
            self.buffer_positions.update(positions)
            if len(self.buffer) >= self.cfg.forward_batch_entries:
                await self._emit()
        elif self.buffer:
            self.buffer_positions.update(positions)
        elif self.unacked:  # nothing to send: these offsets are delivered once what is before them is
            self.unacked[-1].positions.update(positions)
        else:
            self.acked_positions.update(positions)

    async def _emit(self) -> None:
        entries, positions = self.buffer, self.buffer_positions
        self.buffer, self.buffer_positions = [], {}
        step = self.cfg.forward_batch_entries
        for i in range(0, len(entries), step):
            batch = entries[i : i + step]
            last = i + step >= len(entries)
            frame = _Frame(wire.frame(self.encode(batch)), len(batch), positions if last else {})
            while len(self.unacked) >= self.cfg.max_unacked_frames:
                self._window.clear()
                await self._window.wait()
            self.unacked.append(frame)
            self.stats["frames_sent"] += 1
            conn = self.conn
            if conn is not None and conn.alive and conn.transport is not None:
                self._conn_frames += 1
                frame.conn_no = self._conn_frames
                conn.transport.write(frame.data)
                await conn.drain()
            # else: the next connection sends it with the other unacknowledged frames

    async def commit(self) -> tuple[Positions | None, int | None]:
        if self.buffer:
            await self._emit()
        return dict(self.acked_positions), None

    async def close(self) -> Positions | None:
        """Send what is buffered, wait (``drain_timeout_seconds``) for the acks, close TLS cleanly."""
        loop = asyncio.get_running_loop()
        if self.buffer:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emit(), self.cfg.drain_timeout_seconds)
        deadline = loop.time() + self.cfg.drain_timeout_seconds
        while self.unacked and loop.time() < deadline:
            self._window.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._window.wait(), min(0.2, max(0.0, deadline - loop.time())))
        if self.unacked:
            log.warning("forward: %d frame(s) (%d entries) not acknowledged at stop; they are read "
                        "again from the files on the next start", len(self.unacked),
                        sum(f.entries for f in self.unacked))  # fmt: skip
        self._closing = True
        conn, self.conn = self.conn, None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if conn is not None and conn.transport is not None and conn.alive:
            try:
                await conn.drain()
                conn.transport.close()  # TLS: close_notify, then read to EOF (no RST loses the tail)
                await asyncio.wait_for(asyncio.shield(conn.closed), 5.0)
            except (TimeoutError, OSError, ssl.SSLError):
                conn.transport.abort()
        return dict(self.acked_positions)
