"""Fluent Forward sender of one generator client: PackedForward messages over TCP/TLS, chunk acks.

The pool (``protocols.forward_packed``) holds one message per batch, ``[tag, bin, {"size": n}]``,
patched like any pool; a chunk of batches is one write. Per message, before it is written:

* ack mode (``ack``): the option map ends with ``"chunk"``, 16 placeholder bytes that are the
  message's last bytes; they become the message's chunk id, its first seq as 16 hex digits
  (unique on the client's connections, the same when the message is resent). The ingestor
  answers ``{"ack": id}`` once the message's entries are written; the message is kept until then
  (at most ``max_unacked_frames`` messages), and a new connection first resends those still
  unacknowledged, in order. As with our ack mode, a message whose ack was lost with the
  connection is stored twice;
* ``compression: gzip``: CompressedPackedForward, the entries gzipped and ``"compressed":
  "gzip"`` in the options (the message unpacked and packed again: two C calls per message).

Without ack mode a message is sent once written to the connection (as ``tcp.TcpSender``); the
retries and backoff are the same. ``close`` waits for the last acks (``drain_timeout_seconds``),
then shuts TLS down with close_notify. Counted as in ``stats``: ``acked_logs_total`` per ack,
``resent_frames_total``/``resent_logs_total`` for messages written again.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass

import msgpack

from workbench.ackclient import AckClientProtocol
from workbench.errors import ConfigError, SendFailed
from workbench.generator.config import GeneratorConfig
from workbench.generator.pool import Chunk
from workbench.generator.protocols import CHUNK_BYTES
from workbench.generator.requestpool import gzip_bytes
from workbench.generator.stats import ClientStats, Totals

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Message:
    chunk: str | None
    data: bytes
    logs: int


class ForwardAckProtocol(AckClientProtocol):
    """The connection: flow control as ``AckClientProtocol``; what comes back is ``{"ack": id}`` maps."""

    def __init__(self, sender: ForwardSender, label: str) -> None:
        super().__init__(sender, label)
        self.sender = sender
        self._unpacker = msgpack.Unpacker(max_buffer_size=1 << 20)

    def data_received(self, data: bytes) -> None:
        try:
            self._unpacker.feed(data)
            for answer in self._unpacker:
                chunk = answer.get("ack") if isinstance(answer, dict) else None
                if not isinstance(chunk, str):
                    raise ValueError(f"not an ack: {answer!r:.80}")
                self.sender.on_chunk_ack(self, chunk)
        except (ValueError, msgpack.UnpackException) as exc:
            log.warning("%s: the Forward receiver answered %s; closing the connection", self.label, exc)
            if self.transport is not None:
                self.transport.abort()


class ForwardSender:
    def __init__(self, config: GeneratorConfig, stats: ClientStats, totals: Totals,
                 ssl_context: ssl.SSLContext | None, endpoint: tuple[str, int]) -> None:  # fmt: skip
        self.config = config
        self.address, self.port = endpoint
        self.stats = stats
        self.totals = totals
        self.ssl = ssl_context
        self.ack = config.ack
        self.gzip = config.compression == "gzip"
        self.conn: ForwardAckProtocol | None = None
        self.unacked: dict[str, _Message] = {}  # in the order written
        self._window = asyncio.Event()
        self._window.set()
        self._connections = 0

    # --- callbacks of the protocol -------------------------------------------------------------
    def on_chunk_ack(self, conn: ForwardAckProtocol, chunk: str) -> None:
        message = self.unacked.pop(chunk, None)
        if message is None:  # an ack for a message already acked (resent, then acked twice)
            return
        self.stats.acked_logs += message.logs
        self.totals.acked_logs_total += message.logs
        if len(self.unacked) < self.config.max_unacked_frames:
            self._window.set()

    def on_ack(self, conn: AckClientProtocol, frames_done: int) -> None:
        """Not called: Forward's acks name their chunk (``on_chunk_ack``)."""

    def on_lost(self, conn: AckClientProtocol) -> None:
        self._window.set()  # wake a sender waiting for acks: it will see the connection gone

    # --- messages ------------------------------------------------------------------------------
    def message(self, frame: bytes, logs: int, first_seq: int) -> _Message:
        """A pool message as it is sent: its chunk id written in, its entries gzipped if asked."""
        chunk = f"{first_seq:016x}" if self.ack else None
        if self.gzip:
            tag, entries, option = msgpack.unpackb(frame)
            option = {"size": option["size"], "compressed": "gzip"}
            if chunk is not None:
                option["chunk"] = chunk
            return _Message(chunk, msgpack.packb([tag, gzip_bytes(entries), option], use_bin_type=True), logs)
        if chunk is not None:
            return _Message(chunk, frame[:-CHUNK_BYTES] + chunk.encode(), logs)
        return _Message(None, frame, logs)

    # --- connection ---------------------------------------------------------------------------
    async def _connect(self) -> ForwardAckProtocol:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: ForwardAckProtocol(self, self.stats.client_id), self.address,
                                       self.port, ssl=self.ssl,
                                       server_hostname=self.address if self.ssl is not None else None),
                self.config.connect_timeout_seconds,
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
        self.conn = proto
        if self.unacked:  # what the last connection did not confirm goes first
            proto.transport.write(b"".join(m.data for m in self.unacked.values()))
            logs = sum(m.logs for m in self.unacked.values())
            self.stats.resent_frames += len(self.unacked)
            self.stats.resent_logs += logs
            self.totals.resent_frames_total += len(self.unacked)
            self.totals.resent_logs_total += logs
        return proto

    async def _ensure(self) -> ForwardAckProtocol:
        if self.conn is not None and self.conn.alive:
            return self.conn
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.abort()
        self.conn = None
        return await self._connect()

    # --- sending -------------------------------------------------------------------------------
    async def send(self, chunk: Chunk) -> None:
        """Write a chunk's messages, reconnecting and retrying; ``SendFailed`` after the retries."""
        cfg = self.config
        messages = [self.message(chunk.data[s:e], n, seq) for s, e, n, seq in chunk.frames]
        data = b"".join(m.data for m in messages) if len(messages) > 1 else messages[0].data
        delay = cfg.retry_backoff_seconds
        queued = False
        for attempt in range(cfg.retries + 1):
            if attempt:
                self.totals.retries_total += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            try:
                conn = await self._ensure()
                if self.ack:
                    await self._wait_window(conn)
                    if not queued:
                        self.unacked.update((m.chunk, m) for m in messages if m.chunk is not None)
                        queued = True
                        conn.transport.write(data)  # type: ignore[union-attr]
                    # else: _connect() resent them with the other unacked messages
                else:
                    conn.transport.write(data)  # type: ignore[union-attr]
                await conn.drain()
                if not conn.alive and not self.ack:
                    raise ConnectionResetError("connection closed while writing")
                self.totals.sent_bytes_total += len(data) - len(chunk.data)  # the generator counts the pool's
                return
            except (OSError, TimeoutError, ssl.SSLError, ConnectionError) as exc:
                log.debug("%s: send attempt %d failed: %s", self.stats.client_id, attempt + 1, exc)
                if self.conn is not None and not self.conn.alive:
                    self.conn = None
        for m in messages:  # given up: older unacked messages stay queued
            if m.chunk is not None:
                self.unacked.pop(m.chunk, None)
        raise SendFailed(f"{self.stats.client_id}: chunk not delivered after {cfg.retries} retries")

    async def _wait_window(self, conn: ForwardAckProtocol) -> None:
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
        while self.ack and self.unacked and loop.time() < deadline:
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
        self.stats.unacked_logs = sum(m.logs for m in self.unacked.values())
        conn, self.conn = self.conn, None
        if conn is None or conn.transport is None:
            return
        try:
            await conn.drain()
            conn.transport.close()  # TLS: close_notify, then the peer's close_notify (read to EOF)
            await asyncio.wait_for(asyncio.shield(conn.closed), max(1.0, deadline - loop.time()))
        except (TimeoutError, OSError, ssl.SSLError):
            conn.transport.abort()
