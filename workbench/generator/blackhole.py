"""Blackhole receiver: accepts every format on TLS/TCP and UDP, counts, acks, and throws away.

It measures the generator's own ceiling, and it is the receiver of the generator's tests. A
connection is read like the ingestor reads it (``wire.detect_stream``: format header or
detection), but records are only counted, cheaply, never decoded:

* ``lines`` framing: newlines (one ``bytes.count`` per read); ``export`` (journald): empty lines;
* ``octet``: the octet counts are walked (``wire.OctetSplitter``);
* ``length`` frames: protobuf ``LogBatch`` is parsed as ``repeated bytes`` (upb parses only the
  top level, entries stay unparsed), avro's first array block count is read (the whole array
  when the writer wrote one block, as fastavro and our generator do), text payloads by their
  lines / octet counts.

With ``ack=1`` it answers ``ACK <n>`` (cumulative frames of the connection) after each read.
``drop_after_frames`` closes every connection after that many frames (records, for unframed
streams), acking exactly those first, which makes the sender's retry and resend testable;
``drop_connections`` limits how many connections are dropped. ``verify=True`` decodes every
payload with the codecs and records each ``(client_id, seq)``, so tests can count loss,
duplicates and reordering exactly (``report()``); it is slow and meant for tests.

Metrics (``totals``): ``received_logs_total``, ``received_bytes_total``, ``received_frames_total``,
``connections_total``, ``dropped_connections_total``, ``datagrams_total``, ``errors_total``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from pydantic import BaseModel, ConfigDict, Field

from workbench import codecs, tls, wire
from workbench.codecs.syslog import split_octet_counted
from workbench.errors import FramingError

log = logging.getLogger(__name__)


def _count_message() -> Any:
    fdp = descriptor_pb2.FileDescriptorProto(name="workbench_blackhole_count.proto", package="wbcount")
    msg = fdp.message_type.add(name="CountBatch")
    msg.field.add(name="entries", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("wbcount.CountBatch"))


_CountBatch = _count_message()
_proto_count: Callable[[bytes], int] | None
try:  # the compiled counter walks the fields without building an object per entry
    from workbench.speedups._binary import proto_count as _proto_count
except ImportError:
    _proto_count = None


def count_payload(fmt: str, payload: bytes) -> int:
    """Records in one length-framed payload, without decoding them."""
    if fmt == "proto":
        if _proto_count is not None:
            return max(_proto_count(payload), 0)
        try:
            return len(_CountBatch.FromString(payload).entries)
        except DecodeError:
            return 0
    if fmt == "avro":
        n, shift, pos = 0, 0, 5
        while pos < len(payload):
            byte = payload[pos]
            n |= (byte & 0x7F) << shift
            pos += 1
            shift += 7
            if not byte & 0x80:
                break
        return abs((n >> 1) ^ -(n & 1))
    if fmt == "journald":
        return payload.count(b"\n\n") or (1 if payload.strip() else 0)
    if fmt == "syslog" and payload[:1].isdigit():
        return len(split_octet_counted(payload)[0])
    return payload.count(b"\n") + (0 if payload.endswith(b"\n") or not payload else 1)


class BlackholeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str = "127.0.0.1"
    tcp_port: int | None = Field(3001, ge=0, le=65535)  # None: no TCP listener
    udp_port: int | None = Field(None, ge=0, le=65535)
    tls: bool = True
    tls_dir: Path = Path(".workbench/tls")
    cert_file: Path | None = None
    key_file: Path | None = None
    drop_after_frames: int | None = Field(None, ge=1)
    drop_connections: int | None = Field(None, ge=0)
    verify: bool = False


@dataclass(slots=True)
class BlackholeTotals:
    received_logs_total: int = 0
    received_bytes_total: int = 0
    received_frames_total: int = 0
    connections_total: int = 0
    dropped_connections_total: int = 0
    datagrams_total: int = 0
    errors_total: int = 0


@dataclass(slots=True)
class Seqs:
    """Every seq received from one client (verify mode)."""

    seqs: list[int] = field(default_factory=list)

    def report(self) -> dict[str, int]:
        s = self.seqs
        distinct = set(s)
        top = max(distinct) if distinct else -1
        reordered = sum(1 for a, b in itertools.pairwise(s) if b < a)
        return {
            "received": len(s),
            "distinct": len(distinct),
            "duplicates": len(s) - len(distinct),
            "missing": top + 1 - len(distinct),
            "max_seq": top,
            "reordered": reordered,
        }


class _Conn(asyncio.Protocol):
    def __init__(self, hole: Blackhole) -> None:
        self.hole = hole
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.header: wire.Header | None = None
        self.splitter: wire.Splitter | None = None
        self.frames = 0  # frames (or records) processed on this connection
        self.tail = b""  # journald export: the last byte of the previous read
        self.dropping = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.hole.totals.connections_total += 1
        self.hole.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.hole.conns.discard(self)
        if self.splitter is not None and not self.dropping and self.header is not None:
            with contextlib.suppress(FramingError):
                self._payloads(self.splitter.finish())

    def eof_received(self) -> bool:
        return False

    def data_received(self, data: bytes) -> None:
        if self.dropping:
            return
        hole = self.hole
        hole.totals.received_bytes_total += len(data)
        if self.header is None:
            self.head += data
            try:
                header = wire.detect_stream(self.head)
            except FramingError as exc:
                self._fail(exc)
                return
            if header is None:
                return
            self.header = header
            data = self.head[wire.header_length(self.head) :]
            self.head = b""
            if header.framing not in ("lines", "export") or hole.config.verify:
                self.splitter = wire.splitter_for(header)
        try:
            self._consume(data)
        except FramingError as exc:
            self._fail(exc)

    def _consume(self, data: bytes) -> None:
        header = self.header
        assert header is not None
        hole = self.hole
        if self.splitter is None:  # counted lines (journald export is counted by empty lines)
            if header.framing == "export":
                n = (self.tail + data).count(b"\n\n")
                self.tail = data[-1:]
            else:
                n = data.count(b"\n")
            hole.totals.received_logs_total += n
            self.frames += n
            self._maybe_drop(0)
            return
        payloads = self.splitter.feed(data)
        limit = hole.drop_limit()
        if limit is not None and header.framing == "length" and self.frames + len(payloads) >= limit:
            payloads = payloads[: max(0, limit - self.frames)]
            self._payloads(payloads)
            self._maybe_drop(0, force=True)
            return
        self._payloads(payloads)
        self._maybe_drop(0)

    def _payloads(self, payloads: list[bytes]) -> None:
        header = self.header
        assert header is not None
        hole = self.hole
        if not payloads:
            return
        if header.framing == "length":
            self.frames += len(payloads)
            hole.totals.received_frames_total += len(payloads)
        if hole.config.verify:
            hole.verify(header.format, payloads)
        else:
            if header.framing == "length":
                n = sum(count_payload(header.format, p) for p in payloads)
            elif header.framing == "octet":
                n = len(payloads)
            else:
                n = sum(count_payload(header.format, p) for p in payloads)
            hole.totals.received_logs_total += n
            if header.framing != "length":
                self.frames += n
        if header.ack and self.transport is not None:
            self.transport.write(wire.ack_line(self.frames))

    def _maybe_drop(self, _: int, force: bool = False) -> None:
        limit = self.hole.drop_limit()
        if limit is None or (not force and self.frames < limit):
            return
        self.dropping = True
        self.hole.dropped += 1
        self.hole.totals.dropped_connections_total += 1
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        log.warning("blackhole: %s; closing the connection", exc)
        self.hole.totals.errors_total += 1
        self.dropping = True
        if self.transport is not None:
            self.transport.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, hole: Blackhole) -> None:
        self.hole = hole

    def datagram_received(self, data: bytes, addr: Any) -> None:
        t = self.hole.totals
        t.datagrams_total += 1
        t.received_bytes_total += len(data)
        if self.hole.config.verify:
            fmt = codecs.detect.detect_line(data.split(b"\n", 1)[0])
            self.hole.verify(fmt, [data])
        else:
            t.received_logs_total += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


class Blackhole:
    """``await start()``; ports in ``tcp_port``/``udp_port``; ``await stop()``."""

    def __init__(self, config: BlackholeConfig | None = None) -> None:
        self.config = config or BlackholeConfig()
        self.totals = BlackholeTotals()
        self.conns: set[_Conn] = set()
        self.dropped = 0
        self.seqs: dict[str, Seqs] = collections.defaultdict(Seqs)
        self.invalid = 0
        self.tcp_port: int | None = None
        self.udp_port: int | None = None
        self.cert_file: Path | None = None
        self._server: asyncio.base_events.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._codecs: dict[str, Any] = {}

    def drop_limit(self) -> int | None:
        cfg = self.config
        if cfg.drop_after_frames is None:
            return None
        if cfg.drop_connections is not None and self.dropped >= cfg.drop_connections:
            return None
        return cfg.drop_after_frames

    def _ssl(self) -> ssl.SSLContext | None:
        cfg = self.config
        if not cfg.tls:
            return None
        if cfg.cert_file is not None and cfg.key_file is not None:
            cert, key = cfg.cert_file, cfg.key_file
        else:
            cert, key, _ = tls.ensure_self_signed(cfg.tls_dir)
        self.cert_file = cert
        return tls.server_context(cert, key)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        if cfg.tcp_port is not None:
            self._server = await loop.create_server(
                lambda: _Conn(self),
                cfg.address,
                cfg.tcp_port,
                ssl=self._ssl(),
                reuse_address=True,
                backlog=1024,
            )
            self.tcp_port = self._server.sockets[0].getsockname()[1]
        if cfg.udp_port is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(cfg.address, cfg.udp_port)
            )
            sock = transport.get_extra_info("socket")
            with contextlib.suppress(OSError):
                import socket

                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            self._udp = transport
            self.udp_port = transport.get_extra_info("sockname")[1]

    async def stop(self, timeout_seconds: float = 5.0) -> None:
        if self._server is not None:
            self._server.close()
            for c in list(self.conns):
                if c.transport is not None:
                    c.transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout_seconds)
            self._server = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    async def __aenter__(self) -> Blackhole:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- verify mode -----------------------------------------------------------------------------
    def verify(self, fmt: str, payloads: list[bytes]) -> None:
        codec = self._codecs.get(fmt)
        if codec is None:
            codec = self._codecs[fmt] = codecs.get(fmt)
        for p in payloads:
            decoded = codec.decode(p)
            self.invalid += len(decoded.errors)
            self.totals.received_logs_total += len(decoded.entries)
            for e in decoded.entries:
                self.seqs[e.client_id or ""].seqs.append(e.seq if e.seq is not None else -1)

    def report(self) -> dict[str, Any]:
        return {
            "totals": {k: getattr(self.totals, k) for k in self.totals.__dataclass_fields__},
            "invalid": self.invalid,
            "clients": {cid: s.report() for cid, s in sorted(self.seqs.items())},
        }
