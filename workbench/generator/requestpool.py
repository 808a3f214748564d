"""Pre-encoded request pools for the shippers' protocols: whole requests built before the clock.

A ``RequestPool`` is a ``pool.Pool`` whose batches are complete requests of one protocol
(``protocols.SPECS``): for HTTP/1.1 the request head (route, ``Content-Length``, token) and its
body, for gRPC the 5-byte message prefix and the ``ExportLogsServiceRequest``. Each batch's body
is encoded once with the sentinel timestamp, seq and client id in every record; the sentinels
are then found in the bytes (exactly one of each per record, else the pool refuses to build), and
since every slot has a fixed width (see ``protocols``) the lengths in the head, the prefix and
every nested protobuf length stay valid whatever is patched in. ``Pool.render`` then writes a
chunk of requests with a few numpy assignments: no per-log Python call while sending.

The stream protocols (``protocols.STREAM_SPECS``: Forward, GELF) use the same pool with no head:
a batch is one Forward message, or a batch's GELF messages.

A compressed body cannot be patched, so a protocol whose body is compressed (Loki's protobuf is
snappy, any HTTP protocol with ``compression: gzip``) keeps only the bodies in its pool, and each
request is compressed and given its head per send (``finisher``: one C call per request, not per
record).

A run's last request may be cut to fewer records (``count`` not a multiple of ``batch_size``):
that one request is encoded again with its first records, and their slots are filled from the
rendered request (``cut_batch``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import cramjam
import msgspec
import numpy as np

from workbench.codecs.proto import varint
from workbench.errors import ConfigError
from workbench.generator.pool import (
    SENTINEL_SEQ,
    SENTINEL_TS,
    SENTINEL_US,
    SEQ_DIGITS,
    SEQ_VARINT_BYTES,
    Layout,
    Pool,
)
from workbench.generator.protocols import RequestSpec, StreamSpec, spec_of

Head = Callable[[int], bytes]  # body length -> what precedes the body (HTTP head or gRPC prefix)
GZIP_LEVEL = 1  # the generator must outrun the ingestor; inflating costs the receiver the same at any level
# bytes just before a timestamp slot, so that the needle cannot match elsewhere
TS_PREFIX = {"fixed64-ns": b"\x09", "eventtime": b"\xd7\x00"}  # fixed64 field 1; MessagePack fixext 8, type 0


def grpc_prefix(length: int) -> bytes:
    return b"\x00" + length.to_bytes(4, "big")


def no_head(length: int) -> bytes:
    return b""


def http_head(spec: RequestSpec, host: str, port: int, token: str | None,
              content_encoding: str | None = None) -> Head:  # fmt: skip
    """The request head of ``spec`` for a body of a given length (keep-alive, HTTP/1.1)."""
    fixed = (f"{spec.method} {spec.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {spec.content_type}\r\n"
             f"User-Agent: workbench-generator\r\n")  # fmt: skip
    if token:
        fixed += f"Authorization: {spec.auth_scheme} {token}\r\n"
    if content_encoding:
        fixed += f"Content-Encoding: {content_encoding}\r\n"
    start = fixed.encode("latin-1")
    return lambda length: start + b"Content-Length: %d\r\n\r\n" % length


def pooled_whole(spec: RequestSpec, compression: str) -> bool:
    """Whether the pool can hold this protocol's requests as sent (no compression per send)."""
    return spec.encoding is None and compression == "none"


def gzip_bytes(data: bytes) -> bytes:
    return zlib.compress(data, GZIP_LEVEL, wbits=31)


def snappy_bytes(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def finisher(spec: RequestSpec, compression: str, host: str, port: int,
             token: str | None) -> Callable[[bytes], bytes] | None:  # fmt: skip
    """How a pooled body becomes the request sent when the pool cannot hold it whole: gzip
    (``compression``; for Loki's protobuf it replaces snappy, as Loki reads it) or the protocol's
    own snappy, then the HTTP head or the gRPC prefix (compressed flag set, ``grpc-encoding``
    sent by the client). None when the pool holds the requests as sent."""
    if pooled_whole(spec, compression):
        return None
    compress = gzip_bytes if compression == "gzip" else snappy_bytes
    if spec.grpc:
        return lambda body: b"\x01" + len(packed := compress(body)).to_bytes(4, "big") + packed
    head = http_head(spec, host, port, token, "gzip" if compression == "gzip" else None)

    def finish(body: bytes) -> bytes:
        packed = compress(body)
        return head(len(packed)) + packed

    return finish


class RequestPool(Pool):
    """Complete requests of one protocol, ``batch_size`` records each, replayed with patched slots
    (``spec``: the protocol's, or another encoding of it such as Forward's with chunk ids)."""

    def __init__(self, protocol: str, entries: Sequence[Any], batch_size: int, client_id_width: int,
                 head: Head, spec: RequestSpec | StreamSpec | None = None) -> None:  # fmt: skip
        if not entries:
            raise ConfigError("the payload pool is empty (no valid log records to send)")
        self.spec = spec or spec_of(protocol)
        self.fmt = protocol
        self.batch_size = batch_size
        self.cid_width = client_id_width
        self.length_framed = False
        self.sentinel_cid = "~" * client_id_width
        self.layout = Layout(self.spec.ts_kind, self.spec.seq_kind)
        self._head = head
        self._ts_needle = TS_PREFIX.get(self.spec.ts_kind, b"") + self.spec.ts_sentinel(SENTINEL_US)
        self._ts_skip = len(self._ts_needle) - len(self.spec.ts_sentinel(SENTINEL_US))
        if self.spec.seq_kind == "varint":
            seq_varint = varint(SENTINEL_SEQ)
            if len(seq_varint) != SEQ_VARINT_BYTES:
                raise ConfigError("request pool: the seq sentinel is not a 6-byte varint")
            self._seq_needle, self._seq_skip = b"\x18" + seq_varint, 1  # AnyValue.int_value (field 3, varint)
        else:
            self._seq_needle, self._seq_skip = b"%012d" % SENTINEL_SEQ, 0
        n_batches = max(1, len(entries) // batch_size)
        self._batches: list[list[Any]] = []
        frames: list[bytes] = []
        ts_slots: list[int] = []
        seq_slots: list[int] = []
        cid_slots: list[int] = []
        rec_offsets, byte_offsets = [0], [0]
        for b in range(n_batches):
            batch = [
                self._with_sentinels(entries[(b * batch_size + i) % len(entries)]) for i in range(batch_size)
            ]
            self._batches.append(batch)
            frame, ts, seq, cid = self._encode(batch)
            base = int(byte_offsets[-1])
            ts_slots += [base + p for p in ts]
            seq_slots += [base + p for p in seq]
            cid_slots += [base + p for p in cid]
            frames.append(frame)
            rec_offsets.append(rec_offsets[-1] + len(batch))
            byte_offsets.append(base + len(frame))
        self.template = np.frombuffer(b"".join(frames), dtype=np.uint8).copy()
        self.batch_records = np.array(rec_offsets, dtype=np.int64)
        self.batch_bytes = np.array(byte_offsets, dtype=np.int64)
        self.record_sizes = np.zeros(rec_offsets[-1], dtype=np.int64)  # records are not separable here
        self.n_batches = n_batches
        self._ts_w = len(self.spec.ts_sentinel(SENTINEL_US))
        self._seq_w = SEQ_VARINT_BYTES if self.spec.seq_kind == "varint" else SEQ_DIGITS
        self._ts_idx = np.array(ts_slots, dtype=np.int64)[:, None] + np.arange(self._ts_w)
        self._seq_idx = np.array(seq_slots, dtype=np.int64)[:, None] + np.arange(self._seq_w)
        self._cid_idx = np.array(cid_slots, dtype=np.int64)[:, None] + np.arange(client_id_width)

    def _with_sentinels(self, e: Any) -> Any:
        return msgspec.structs.replace(
            e, timestamp=SENTINEL_TS, seq=SENTINEL_SEQ, client_id=self.sentinel_cid
        )

    def _encode(self, batch: Sequence[Any]) -> tuple[bytes, list[int], list[int], list[int]]:
        """One request (head + body) and the offsets of its timestamp, seq and client id slots."""
        body = self.spec.body(batch, self.sentinel_cid)
        head = self._head(len(body))
        n = len(batch)
        ts = [p + self._ts_skip for p in _find_all(body, self._ts_needle, n, "timestamp")]
        seq = [p + self._seq_skip for p in _find_all(body, self._seq_needle, n, "seq")]
        cid = _find_all(body, self.sentinel_cid.encode(), n, "client_id")
        off = len(head)
        return head + body, [p + off for p in ts], [p + off for p in seq], [p + off for p in cid]

    def cut_batch(self, rendered: bytes, batch: int, n: int, first_seq: int = 0) -> bytes:
        """Request ``batch`` (rendered) again with its first ``n`` records only."""
        frame, ts, seq, cid = self._encode(self._batches[batch][:n])
        out = np.frombuffer(frame, dtype=np.uint8).copy()
        src = np.frombuffer(rendered, dtype=np.uint8)
        base = int(self.batch_bytes[batch])
        r0 = int(self.batch_records[batch])
        t0 = int(self._ts_idx[r0, 0]) - base
        c0 = int(self._cid_idx[r0, 0]) - base
        out[np.array(ts, dtype=np.int64)[:, None] + np.arange(self._ts_w)] = src[t0 : t0 + self._ts_w]
        out[np.array(cid, dtype=np.int64)[:, None] + np.arange(self.cid_width)] = src[
            c0 : c0 + self.cid_width
        ]
        seqs = np.arange(first_seq, first_seq + n, dtype=np.int64)
        out[np.array(seq, dtype=np.int64)[:, None] + np.arange(self._seq_w)] = self._seq_bytes(seqs)
        return out.tobytes()


def _find_all(data: bytes, needle: bytes, expect: int, what: str) -> list[int]:
    out: list[int] = []
    pos = data.find(needle)
    while pos >= 0 and len(out) <= expect:
        out.append(pos)
        pos = data.find(needle, pos + len(needle))
    if len(out) != expect:
        raise ConfigError(f"request pool: the {what} placeholder is found {len(out)} times in a request "
                          f"of {expect} records (once per record expected)")  # fmt: skip
    return out
