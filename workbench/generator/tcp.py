"""TCP/TLS sender of one generator client: format header, one write per chunk, retries, acks.

A connection opens with the format header (``wire.make_header``), then each chunk of rendered
batches is one ``transport.write``. Flow control: the protocol pauses us at the transport's
high-water mark and we wait for it to drain.

Retries: when the connection is gone (refused, reset, closed by the receiver) before or while
a chunk is written, the sender reconnects with exponential backoff (``retry_backoff_seconds``
doubling) and writes it again, up to ``retries`` times; after that the chunk is counted failed
and the client goes on with the next one. Without ack mode, bytes already handed to a
connection that the receiver then drops are lost without notice: the receiver sees the seq gap.

Ack mode (``ack=1``, length framing): every frame (batch) written is kept until the receiver's
cumulative ``ACK <n>`` covers it; the window is bounded (``max_unacked_frames``), and a new
connection first resends the frames still unacknowledged, in order. Only those are resent, so a
receiver sees a duplicate only for a frame it processed but whose ack was lost with the
connection. ``close`` waits (``drain_timeout_seconds``) for the last acks, then shuts TLS down
with close_notify and reads to EOF, so the receiver never loses the tail to a TCP reset.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from dataclasses import dataclass

from workbench.ackclient import AckClientProtocol, take_acked
from workbench.errors import ConfigError, SendFailed
from workbench.generator.config import GeneratorConfig
from workbench.generator.pool import Chunk
from workbench.generator.stats import ClientStats, Totals

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Frame:
    data: bytes
    logs: int
    first_seq: int
    conn_no: int = 0  # its number on the connection it was last written to (1-based)


class TcpSender:
    def __init__(self, config: GeneratorConfig, stats: ClientStats, totals: Totals, header: bytes,
                 ssl_context: ssl.SSLContext | None, endpoint: tuple[str, int] | None = None) -> None:  # fmt: skip
        self.config = config
        self.address, self.port = endpoint or (config.address, config.tcp_port)
        self.stats = stats
        self.totals = totals
        self.header = header
        self.ssl = ssl_context
        self.conn: AckClientProtocol | None = None
        self.unacked: collections.deque[_Frame] = collections.deque()
        self._conn_frames = 0  # frames written on the current connection
        self._window = asyncio.Event()
        self._window.set()
        self._connections = 0

    # --- callbacks of the protocol -------------------------------------------------------------
    def on_ack(self, conn: AckClientProtocol, n: int) -> None:
        if conn is not self.conn:
            return
        for f in take_acked(self.unacked, n):
            self.stats.acked_logs += f.logs
            self.totals.acked_logs_total += f.logs
        if len(self.unacked) < self.config.max_unacked_frames:
            self._window.set()

    def on_lost(self, conn: AckClientProtocol) -> None:
        self._window.set()  # wake a sender waiting for acks: it will see the connection gone

    # --- connection ---------------------------------------------------------------------------
    async def _connect(self) -> AckClientProtocol:
        loop = asyncio.get_running_loop()
        cfg = self.config
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    lambda: AckClientProtocol(self, self.stats.client_id), self.address, self.port, ssl=self.ssl,
                    server_hostname=self.address if self.ssl is not None else None,
                ),
                cfg.connect_timeout_seconds,
            )  # fmt: skip
        except ssl.SSLCertVerificationError as exc:  # no retry can fix this
            raise ConfigError(
                f"TLS certificate of {self.address}:{self.port} not trusted ({exc.verify_message}); "
                "give --ca FILE (e.g. the receiver's self-signed cert) or --insecure"
            ) from None
        assert proto.transport is not None
        self._connections += 1
        if self._connections > 1:
            self.stats.reconnects += 1
            self.totals.reconnects_total += 1
        proto.transport.write(self.header)
        self.conn = proto
        self._conn_frames = 0
        if self.unacked:  # ack mode: what the last connection did not confirm goes first
            parts = []
            for f in self.unacked:
                self._conn_frames += 1
                f.conn_no = self._conn_frames
                parts.append(f.data)
                self.stats.resent_frames += 1
                self.stats.resent_logs += f.logs
                self.totals.resent_frames_total += 1
                self.totals.resent_logs_total += f.logs
            proto.transport.write(b"".join(parts))
        return proto

    async def _ensure(self) -> AckClientProtocol:
        if self.conn is not None and self.conn.alive:
            return self.conn
        if self.conn is not None:
            self.conn.transport.abort() if self.conn.transport else None  # type: ignore[func-returns-value]
            self.conn = None
        return await self._connect()

    # --- sending -------------------------------------------------------------------------------
    async def send(self, chunk: Chunk) -> None:
        """Write a chunk, reconnecting and retrying; raises ``SendFailed`` after the retries."""
        cfg = self.config
        if cfg.ack:
            frames = [_Frame(chunk.data[s:e], n, seq) for s, e, n, seq in chunk.frames]
        delay = cfg.retry_backoff_seconds
        queued = False
        for attempt in range(cfg.retries + 1):
            if attempt:
                self.totals.retries_total += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            try:
                conn = await self._ensure()
                if cfg.ack:
                    await self._wait_window(conn)
                    if not queued:
                        for f in frames:
                            self._conn_frames += 1
                            f.conn_no = self._conn_frames
                        self.unacked.extend(frames)
                        queued = True
                        conn.transport.write(chunk.data)  # type: ignore[union-attr]
                    # else: _connect() already resent them with the other unacked frames
                else:
                    conn.transport.write(chunk.data)  # type: ignore[union-attr]
                await conn.drain()
                if not conn.alive and not cfg.ack:
                    raise ConnectionResetError("connection closed while writing")
                return
            except (OSError, TimeoutError, ssl.SSLError, ConnectionError) as exc:
                log.debug("%s: send attempt %d failed: %s", self.stats.client_id, attempt + 1, exc)
                if self.conn is not None and not self.conn.alive:
                    self.conn = None
        if cfg.ack and queued:  # give up on this chunk's frames; older unacked frames stay queued
            ids = {id(f) for f in frames}
            self.unacked = collections.deque(f for f in self.unacked if id(f) not in ids)
        raise SendFailed(f"{self.stats.client_id}: chunk not delivered after {cfg.retries} retries")

    async def _wait_window(self, conn: AckClientProtocol) -> None:
        while len(self.unacked) >= self.config.max_unacked_frames:
            self._window.clear()
            await self._window.wait()
            if not conn.alive:
                raise ConnectionResetError("connection lost while waiting for acks")

    async def close(self) -> None:
        """Flush: wait for outstanding acks (ack mode), then a clean TLS/TCP shutdown."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.drain_timeout_seconds
        attempts = 0
        while cfg.ack and self.unacked and loop.time() < deadline:
            conn = self.conn
            if conn is None or not conn.alive:
                if attempts > cfg.retries:
                    break
                attempts += 1
                try:
                    await self._ensure()
                except (OSError, TimeoutError, ssl.SSLError):
                    await asyncio.sleep(cfg.retry_backoff_seconds * 2**attempts)
                continue
            self._window.clear()
            try:
                await asyncio.wait_for(self._window.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
        left = sum(f.logs for f in self.unacked)
        self.stats.unacked_logs = left
        conn, self.conn = self.conn, None
        if conn is None or conn.transport is None:
            return
        try:
            await conn.drain()
            conn.transport.close()  # TLS: close_notify, then the peer's close_notify (read to EOF)
            await asyncio.wait_for(asyncio.shield(conn.closed), max(1.0, deadline - loop.time()))
        except (TimeoutError, OSError, ssl.SSLError):
            conn.transport.abort()
