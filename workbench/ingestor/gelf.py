"""GELF on the ingestor: NUL-delimited messages on the TCP ports, datagrams on ``--gelf-port``.

TCP: a connection whose first bytes are a JSON object ended by NUL (``http1.sniff``) is served by
a ``GelfConnection`` on every TCP port, TLS or not as the port. Each NUL ends a message (a
newline before it is allowed); a message over ``max_line_bytes`` is skipped to its NUL and
counted ``too_large``. GELF over TCP has no acks.

UDP (``GelfUdpListener``, a socket per worker on the GELF port with SO_REUSEPORT): a datagram is
a whole message, uncompressed (``{``), zlib (``0x78``) or gzip (``0x1f 0x8b``), or one chunk of
one (magic ``0x1e 0x0f``, an 8-byte message id, sequence number, count ≤ 128). Chunks are
reassembled per message id (``Assembler``); a message not complete within
``CHUNK_TIMEOUT_SECONDS`` (5 s, as Graylog) is dropped, and so are the oldest incomplete ones
when what waits would pass ``max_request_bytes``: each counted in
``ingest_dropped_total{reason="gelf_incomplete"}``. Inflating stops at ``max_inflated_bytes``
(``too_large``). Datagrams of one loop iteration are decoded together, per sender.

Counted: ``ingest_requests_total{protocol="gelf",status}`` per message (``ok``, ``dropped``,
``malformed``, ``too_large``); rejected messages in ``ingest_rejected_total{reason,format="gelf"}``.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.codecs.base import MALFORMED, TOO_LARGE, RecordError
from workbench.ingestor.decoding import WorkerContext, make_batch, stored_suffix
from workbench.ingestor.http1 import TooLarge, inflate
from workbench.ingestor.udp import UdpListener, UdpProtocol
from workbench.shippers.gelf import GelfCodec

if TYPE_CHECKING:
    from workbench.ingestor.listeners import ListenerContext

CHUNK_MAGIC = b"\x1e\x0f"
MAX_CHUNKS = 128
CHUNK_TIMEOUT_SECONDS = 5.0
# what one waiting message costs besides its bytes (so a flood of message ids is bounded too)
PARTIAL_OVERHEAD_BYTES = 512


@dataclass
class GelfSetup:
    """What every GELF connection and datagram of one worker shares."""

    codec: GelfCodec
    max_message_bytes: int  # one TCP message (``max_line_bytes``)
    max_inflated_bytes: int  # one datagram's message inflated
    max_pending_bytes: int  # chunks waiting for the rest of their message (``max_request_bytes``)

    @classmethod
    def from_config(cls, config: Any) -> GelfSetup:
        return cls(GelfCodec(config.default_service), config.max_line_bytes, config.max_inflated_bytes,
                   config.max_request_bytes)  # fmt: skip


def _reject(ctx: WorkerContext, reason: str, detail: str, raw: bytes, transport: str, peer: str) -> None:
    ctx.rejects.record([RecordError(0, reason, detail, raw[:512])], "gelf", transport, peer)
    ctx.metrics.add("requests", 1, "gelf", reason)


def _submit(ctx: WorkerContext, raws: list[bytes], setup: GelfSetup, transport: str, peer: str, host: str,
            t0: float, queue_full: Callable[[], bool] | None = None) -> None:  # fmt: skip
    # plain messages are written by the transcoder with the batch's stored fields already
    end = stored_suffix(time.time(), "gelf", transport, peer) if setup.codec.fast else b"}\n"
    decoded = setup.codec.messages(raws, host, end)
    batch = make_batch(ctx, decoded, "gelf", transport, peer, host, t0)
    if batch is None:
        return
    if queue_full is not None and queue_full():  # UDP cannot be paused: dropped, as on the UDP port
        ctx.metrics.add("dropped", batch.logs, "queue_full")
        ctx.metrics.add("requests", batch.logs, "gelf", "dropped")
    elif ctx.submit(batch):
        ctx.metrics.add("requests", batch.logs, "gelf", "ok")
    else:
        ctx.metrics.add("requests", batch.logs, "gelf", "dropped")


class GelfConnection:
    """One GELF TCP connection; the shape of a stream ``Session`` for ``tcp.IngestProtocol``."""

    fmt = "gelf"

    def __init__(self, ctx: WorkerContext, setup: GelfSetup, transport: str, peer: str, host: str) -> None:
        self.ctx = ctx
        self.setup = setup
        self.transport = transport
        self.peer = peer
        self.host = host
        self._buffer = b""
        self._skipping = False  # inside a message over the limit: dropped up to its NUL

    def pending_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        t0 = time.perf_counter()
        buffer = self._buffer + data if self._buffer else data
        end = buffer.rfind(b"\0")
        if end < 0:
            self._buffer = buffer
            if len(buffer) > self.setup.max_message_bytes:
                if not self._skipping:
                    self._too_large(buffer)
                self._skipping, self._buffer = True, b""
            return
        self._buffer = buffer[end + 1 :]
        parts = buffer[:end].split(b"\0")
        if self._skipping:
            parts, self._skipping = parts[1:], False  # the tail of the message over the limit
        self._messages(parts, t0)

    def eof(self) -> None:
        rest, self._buffer = self._buffer, b""
        if rest.strip() and not self._skipping:
            self._messages([rest], time.perf_counter())

    def _messages(self, parts: list[bytes], t0: float) -> None:
        raws = []
        for part in parts:
            part = part.strip()
            if not part:
                continue
            if len(part) > self.setup.max_message_bytes:
                self._too_large(part)
                continue
            raws.append(part)
        if raws:
            _submit(self.ctx, raws, self.setup, self.transport, self.peer, self.host, t0)

    def _too_large(self, raw: bytes) -> None:
        _reject(self.ctx, TOO_LARGE, f"a GELF message over {self.setup.max_message_bytes} bytes", raw,
                self.transport, self.peer)  # fmt: skip


@dataclass
class _Partial:
    deadline: float
    parts: list[bytes | None]
    size: int = 0
    got: int = 0
    peer: str = ""


@dataclass
class Assembler:
    """Chunked GELF messages being reassembled, bounded in time and bytes."""

    max_pending_bytes: int
    timeout_seconds: float = CHUNK_TIMEOUT_SECONDS
    on_incomplete: Callable[[int], None] = lambda n: None
    partials: dict[bytes, _Partial] = field(default_factory=dict)
    pending_bytes: int = 0

    def add(self, chunk: bytes, peer: str, now: float) -> bytes | str | None:
        """A chunk in: the whole message once its last chunk arrived, None while it waits, or
        why the chunk is refused."""
        if len(chunk) < 12:
            return "a GELF chunk has a 12-byte header"
        msg_id, seq, count = chunk[2:10], chunk[10], chunk[11]
        if not 0 < count <= MAX_CHUNKS or seq >= count:
            return f"a GELF chunk numbered {seq} of {count} (at most {MAX_CHUNKS})"
        partial = self.partials.get(msg_id)
        if partial is None:
            partial = self.partials[msg_id] = _Partial(now + self.timeout_seconds, [None] * count, peer=peer)
            self.pending_bytes += PARTIAL_OVERHEAD_BYTES
        elif len(partial.parts) != count:
            self._forget(msg_id)
            self.on_incomplete(1)
            return f"GELF chunks of one message disagree on their count ({len(partial.parts)}, {count})"
        if partial.parts[seq] is None:  # a repeated chunk is ignored
            body = chunk[12:]
            partial.parts[seq] = body
            partial.got += 1
            partial.size += len(body)
            self.pending_bytes += len(body)
        if partial.got == count:
            self._forget(msg_id)
            return b"".join(p for p in partial.parts if p is not None)
        while self.pending_bytes > self.max_pending_bytes and self.partials:
            self._forget(next(iter(self.partials)))  # the oldest first
            self.on_incomplete(1)
        return None

    def expire(self, now: float) -> int:
        old = [k for k, p in self.partials.items() if p.deadline <= now]
        for key in old:
            self._forget(key)
        if old:
            self.on_incomplete(len(old))
        return len(old)

    def _forget(self, msg_id: bytes) -> None:
        partial = self.partials.pop(msg_id, None)
        if partial is not None:
            self.pending_bytes -= partial.size + PARTIAL_OVERHEAD_BYTES


def unpack(payload: bytes, limit: int) -> bytes:
    """A datagram's message: gzip and zlib undone (``TooLarge`` past ``limit``; ``ValueError``
    when it is none of the three)."""
    head = payload[:2]
    if head == b"\x1f\x8b":
        return inflate(payload, "gzip", limit)
    if head[:1] == b"\x78":
        return inflate(payload, "deflate", limit)
    if payload.lstrip()[:1] == b"{":
        return payload
    raise ValueError("a GELF datagram is JSON, zlib, gzip or a chunk (0x1e 0x0f)")


class GelfUdpProtocol(UdpProtocol):
    """The UDP port's batching per loop turn (``UdpProtocol``), GELF's reassembly and decoding in ``flush``."""

    def __init__(self, ctx: WorkerContext, setup: GelfSetup, loop: asyncio.AbstractEventLoop,
                 queue_full: Callable[[], bool] | None = None) -> None:  # fmt: skip
        super().__init__(ctx, loop, queue_full)
        self.setup = setup
        self.assembler = Assembler(setup.max_pending_bytes, on_incomplete=self._incomplete)

    def _incomplete(self, n: int) -> None:
        self.ctx.metrics.add("dropped", n, "gelf_incomplete")
        self.ctx.metrics.add("requests", n, "gelf", "dropped")

    def flush(self) -> None:
        self._scheduled = False
        pending, self.pending = self.pending, []
        t0 = time.perf_counter()
        now = time.monotonic()
        ctx = self.ctx
        by_addr: dict[Any, list[bytes]] = defaultdict(list)
        received = 0
        for data, addr in pending:
            received += len(data)
            if data[:1] == b"{":  # a whole uncompressed message, the usual case: as it is
                by_addr[addr].append(data)
                continue
            if data[:2] == CHUNK_MAGIC:
                got = self.assembler.add(data, _peer(addr), now)
                if got is None:
                    continue
                if isinstance(got, str):
                    _reject(ctx, MALFORMED, got, data[:64], "udp", _peer(addr))
                    continue
                data = got
            try:
                by_addr[addr].append(unpack(data, self.setup.max_inflated_bytes))
            except TooLarge as exc:
                _reject(ctx, TOO_LARGE, str(exc), b"", "udp", _peer(addr))
            except ValueError as exc:
                _reject(ctx, MALFORMED, str(exc), data, "udp", _peer(addr))
        ctx.metrics.counters["bytes"][("gelf", "udp")] += received
        for addr, raws in by_addr.items():
            peer = _peer(addr)
            _submit(ctx, raws, self.setup, "udp", peer, peer.rsplit(":", 1)[0], t0, self.queue_full)


def _peer(addr: Any) -> str:
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)


class GelfUdpListener(UdpListener):
    """GELF datagrams on the GELF port (every worker binds it); kernel drops as ``gelf_udp_receive_buffer``."""

    kind = "gelf_udp"
    drop_reason = "gelf_udp_receive_buffer"

    def __init__(self, shared: ListenerContext) -> None:
        super().__init__(shared)
        self.setup = GelfSetup.from_config(shared.config)

    def make_protocol(self, loop: asyncio.AbstractEventLoop) -> GelfUdpProtocol:
        return GelfUdpProtocol(self.shared.ctx, self.setup, loop, queue_full=self.shared.pipeline.full)

    def housekeeping(self) -> None:
        if self._protocol is not None:
            self._protocol.assembler.expire(time.monotonic())
        super().housekeeping()
