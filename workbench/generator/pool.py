"""Pre-encoded payload pools: batches encoded once before the clock starts, then replayed.

Every record of the pool is encoded once by the format's own codec with sentinel values in the
three fields that change on replay: ``timestamp``, ``client_id`` and ``seq``. The sentinels are
then found in the bytes and widened to a fixed width, so that a record's length never depends
on the values written into it later:

* text formats: the timestamp is RFC 3339 with microseconds (27 bytes; journald: 16 digits of
  microseconds), ``seq`` is 12 decimal digits: zero-padded in raw, syslog and journald (their
  decoders read ``007`` as 7), space-padded in JSON (``"seq":          7`` is valid JSON);
* protobuf: ``timestamp`` and ``seq`` are re-emitted as over-long varints of 8 and 6 bytes
  (any protobuf parser reads non-minimal varints); each entry's length prefix is then fixed;
* avro: the same with zigzag varints (fastavro and the Java reader take over-long ones);
* ``client_id`` has the same length for every client of a run, so it is patched in place.

Fixed widths keep octet counts, protobuf lengths and frame lengths valid, so a whole chunk of
batches is rendered by a handful of numpy assignments (``render``): no per-log Python call.
One timestamp is written per render (the chunk's send time). Limits: ``seq`` < 10**12.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import fastavro
import msgspec
import numpy as np

from workbench import formats, model
from workbench.codecs import avro as avro_codec
from workbench.codecs import proto
from workbench.codecs.proto import varint
from workbench.errors import ConfigError
from workbench.wire import LENGTH

SENTINEL_TS = dt.datetime(2033, 3, 3, 3, 3, 3, 30303, tzinfo=dt.UTC)
SENTINEL_US = model.micros_from_utc(SENTINEL_TS)
SENTINEL_SEQ = 987654321012
SEQ_DIGITS = 12
MAX_SEQ = 10**SEQ_DIGITS - 1
TS_VARINT_BYTES = 8
SEQ_VARINT_BYTES = 6
ISO_BYTES = 27
MICROS_DIGITS = 16
# 4-digit groups: rows 0-9999 zero-padded, 10000-19999 space-padded, 20000 blank
_GROUPS = np.frombuffer(
    b"".join([b"%04d" % i for i in range(10_000)] + [b"%4d" % i for i in range(10_000)] + [b"    "]),
    dtype=np.uint8,
).reshape(-1, 4)
_SPACE, _BLANK = 10_000, 20_000
_SHIFT_TS = np.arange(0, 7 * TS_VARINT_BYTES, 7, dtype=np.int64)
_SHIFT_SEQ = np.arange(0, 7 * SEQ_VARINT_BYTES, 7, dtype=np.int64)
_CONT_SEQ = np.array([0x80] * (SEQ_VARINT_BYTES - 1) + [0], dtype=np.int64)


def padded_varint(value: int, width: int) -> bytes:
    """A varint of exactly ``width`` bytes (continuation bits on the zero groups)."""
    if value >> (7 * width):
        raise ValueError(f"{value} does not fit a {width}-byte varint")
    return bytes(((value >> (7 * i)) & 0x7F) | (0x80 if i < width - 1 else 0) for i in range(width))


def zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def iso_bytes(micros: int) -> bytes:
    from workbench.codecs.timeparse import format_iso

    return format_iso(model.utc_from_micros(micros)).encode("ascii")


@dataclass(slots=True)
class _Record:
    data: bytes
    ts: int  # offset of the timestamp slot
    seq: int
    cid: int


@dataclass(slots=True)
class ClientBuffer:
    """One client's copy of the pool (its client id written in) and the timestamp text last
    written into each batch, so a render rewrites only the bytes of the time that changed."""

    data: np.ndarray
    last_ts: list[bytes]


@dataclass(frozen=True, slots=True)
class Layout:
    """How the replayed fields are written in a format: the kinds of the three slots."""

    ts_kind: str  # iso | micros | varint | zigzag; protocol pools: fixed64-ns | nanos | epoch-us | eventtime
    #                | proto-timestamp (``ts_slot``)
    seq_kind: str  # digits-space | digits-zero | varint | zigzag


class Pool:
    """The encoded batches of one format, with the byte offsets of every replayed field."""

    def __init__(
        self,
        fmt: str,
        entries: Sequence[Any],
        batch_size: int,
        client_id_width: int,
        *,
        length_framed: bool,
        syslog_octets: bool = True,
        avro_schema: dict[str, Any] | None = None,
        avro_schema_id: int = 0,
        lines_only: bool = False,
    ) -> None:
        if not entries:
            raise ConfigError("the payload pool is empty (no valid log records to send)")
        self.fmt = fmt
        self.batch_size = batch_size
        self.cid_width = client_id_width
        self.length_framed = length_framed
        self.sentinel_cid = "~" * client_id_width
        self._avro_id = avro_schema_id
        self._avro_schema = fastavro.parse_schema(avro_schema or avro_codec.schemas.avro_schema())
        encode_one, self.layout = self._encoder(fmt, syslog_octets and not lines_only)
        n_batches = max(1, len(entries) // batch_size)
        records: list[_Record] = []
        frames: list[bytes] = []
        rec_offsets = [0]
        byte_offsets = [0]
        base = 0
        for b in range(n_batches):
            chunk = [entries[(b * batch_size + i) % len(entries)] for i in range(batch_size)]
            recs = [encode_one(self._with_sentinels(e)) for e in chunk]
            head = self._batch_head(len(recs))
            tail = b"\x00" if fmt == "avro" else b""
            body_len = len(head) + sum(len(r.data) for r in recs) + len(tail)
            prefix = LENGTH.pack(body_len) if length_framed else b""
            pos = base + len(prefix) + len(head)
            for r in recs:
                records.append(_Record(r.data, pos + r.ts, pos + r.seq, pos + r.cid))
                pos += len(r.data)
            frame = prefix + head + b"".join(r.data for r in recs) + tail
            frames.append(frame)
            base += len(frame)
            rec_offsets.append(len(records))
            byte_offsets.append(base)
        self.template = np.frombuffer(b"".join(frames), dtype=np.uint8).copy()
        self.record_sizes = np.array([len(r.data) for r in records], dtype=np.int64)
        self.batch_records = np.array(rec_offsets, dtype=np.int64)
        self.batch_bytes = np.array(byte_offsets, dtype=np.int64)
        self.n_batches = n_batches
        ts_w = {"iso": ISO_BYTES, "micros": MICROS_DIGITS}.get(self.layout.ts_kind, TS_VARINT_BYTES)
        seq_w = SEQ_DIGITS if self.layout.seq_kind.startswith("digits") else SEQ_VARINT_BYTES
        self._ts_idx = np.array([r.ts for r in records], dtype=np.int64)[:, None] + np.arange(ts_w)
        self._seq_idx = np.array([r.seq for r in records], dtype=np.int64)[:, None] + np.arange(seq_w)
        self._cid_idx = np.array([r.cid for r in records], dtype=np.int64)[:, None] + np.arange(
            client_id_width
        )

    # --- building ----------------------------------------------------------------------------
    def _with_sentinels(self, e: Any) -> Any:
        return msgspec.structs.replace(
            e, timestamp=SENTINEL_TS, seq=SENTINEL_SEQ, client_id=self.sentinel_cid
        )

    def _batch_head(self, n: int) -> bytes:
        if self.fmt == "avro":
            return bytes([avro_codec.MAGIC]) + self._avro_id.to_bytes(4, "big") + varint(zigzag(n))
        return b""

    def _encoder(self, fmt: str, octets: bool) -> tuple[Callable[[Any], _Record], Layout]:
        cid = self.sentinel_cid.encode()
        if not formats.SPECS[fmt].binary:  # text: the codec's own encoding, fields found in it
            codec = formats.codec_class(fmt).for_generator(octet_counting=octets)
            pad, ts_kind = codec.pool_seq_pad, codec.pool_timestamp
            ts_text = str(SENTINEL_US).encode() if ts_kind == "micros" else iso_bytes(SENTINEL_US)
            seq_text = str(SENTINEL_SEQ).encode()

            def encode_text(e: Any) -> _Record:
                data = codec.encode([e])
                return _Record(data, _find_one(data, ts_text, "timestamp"), _find_one(data, seq_text, "seq"),
                               _find_one(data, cid, "client_id"))  # fmt: skip

            kind = "digits-space" if pad == b" " else "digits-zero"
            return encode_text, Layout(ts_kind, kind)
        if fmt == "proto":
            ts_canon = b"\x08" + varint(SENTINEL_US)
            seq_canon = b"\x58" + varint(SENTINEL_SEQ)
            ts_fixed = b"\x08" + padded_varint(SENTINEL_US, TS_VARINT_BYTES)
            seq_fixed = b"\x58" + padded_varint(SENTINEL_SEQ, SEQ_VARINT_BYTES)
            enc = proto.ProtoCodec()

            def encode_proto(e: Any) -> _Record:
                batch = enc.encode([e])
                body = _entry_body(batch)
                body = _replace_one(body, ts_canon, ts_fixed, "timestamp")
                body = _replace_one(body, seq_canon, seq_fixed, "seq")
                head = b"\x0a" + varint(len(body))
                data = head + body
                return _Record(data, _find_one(data, ts_fixed, "timestamp") + 1,
                               _find_one(data, seq_fixed, "seq") + 1, _find_one(data, cid, "client_id"))  # fmt: skip

            return encode_proto, Layout("varint", "varint")
        if fmt == "avro":
            ts_canon = varint(zigzag(SENTINEL_US))
            seq_canon = b"\x02" + varint(zigzag(SENTINEL_SEQ))
            ts_fixed = padded_varint(zigzag(SENTINEL_US), TS_VARINT_BYTES)
            seq_fixed = b"\x02" + padded_varint(zigzag(SENTINEL_SEQ), SEQ_VARINT_BYTES)
            schema = self._avro_schema

            def encode_avro(e: Any) -> _Record:
                buf = io.BytesIO()
                fastavro.schemaless_writer(buf, schema, _avro_record(e))
                data = buf.getvalue()
                if not data.startswith(ts_canon):
                    raise ConfigError("avro pool: the schema does not start with the timestamp field")
                data = ts_fixed + data[len(ts_canon) :]
                data = _replace_one(data, seq_canon, seq_fixed, "seq")
                return _Record(
                    data, 0, _find_one(data, seq_fixed, "seq") + 1, _find_one(data, cid, "client_id")
                )

            return encode_avro, Layout("zigzag", "zigzag")
        raise ConfigError(f"no payload pool for the format {fmt!r}")

    # --- replay --------------------------------------------------------------------------------
    def client_buffer(self, client_id: str) -> ClientBuffer:
        """A copy of the pool with one client's id written in (done once per client)."""
        cid = client_id.encode("ascii")
        if len(cid) != self.cid_width:
            raise ValueError(f"client id {client_id!r} is not {self.cid_width} bytes long")
        buf = self.template.copy()
        buf[self._cid_idx] = np.frombuffer(cid, dtype=np.uint8)
        return ClientBuffer(buf, [b""] * self.n_batches)

    def render(self, cbuf: ClientBuffer, first_batch: int, n_batches: int, seq0: int, ts_us: int) -> bytes:
        """Batches ``first_batch`` .. ``+n_batches`` (no wrap-around) with seqs from ``seq0``."""
        buf = cbuf.data
        r0 = int(self.batch_records[first_batch])
        r1 = int(self.batch_records[first_batch + n_batches])
        if seq0 + (r1 - r0) > MAX_SEQ:
            raise ConfigError(f"seq would pass {MAX_SEQ}: start a new client id")
        seqs = np.arange(seq0, seq0 + (r1 - r0), dtype=np.int64)
        buf[self._seq_idx[r0:r1]] = self._seq_bytes(seqs)
        ts = self._ts_bytes(ts_us)
        # only the bytes of the time that differ from what these batches hold already
        text = ts.tobytes()
        same = len(text)
        for old in cbuf.last_ts[first_batch : first_batch + n_batches]:
            if old != text:
                same = min(same, _common_prefix(old, text))
        if same < len(text):
            buf[self._ts_idx[r0:r1, same:]] = ts[same:]
            cbuf.last_ts[first_batch : first_batch + n_batches] = [text] * n_batches
        return buf[
            int(self.batch_bytes[first_batch]) : int(self.batch_bytes[first_batch + n_batches])
        ].tobytes()

    def cut_batch(self, rendered: bytes, batch: int, n: int, first_seq: int = 0) -> bytes:
        """A rendered batch reduced to its first ``n`` records (frame header and avro count rebuilt;
        ``first_seq``, its first record's seq, is for pools that encode the batch again)."""
        sizes = self.record_sizes_of(batch)
        prefix = LENGTH.size if self.length_framed else 0
        head = len(self._batch_head(len(sizes)))
        body = rendered[prefix + head : prefix + head + int(sizes[:n].sum())]
        payload = self._batch_head(n) + body + (b"\x00" if self.fmt == "avro" else b"")
        return LENGTH.pack(len(payload)) + payload if self.length_framed else payload

    def datagrams(self, batch: int, max_bytes: int) -> tuple[list[tuple[int, int]], int]:
        """Datagram (start, end) spans of a line batch, cut at record boundaries, none over
        ``max_bytes``; records larger than that alone are left out (second value: how many)."""
        spans: list[tuple[int, int]] = []
        oversize = 0
        pos = start = 0
        for size in self.record_sizes_of(batch).tolist():
            if size > max_bytes:
                if pos > start:
                    spans.append((start, pos))
                oversize += 1
                pos += size
                start = pos
                continue
            if pos + size - start > max_bytes:
                spans.append((start, pos))
                start = pos
            pos += size
        if pos > start:
            spans.append((start, pos))
        return spans, oversize

    def logs_in(self, first_batch: int, n_batches: int) -> int:
        return int(self.batch_records[first_batch + n_batches] - self.batch_records[first_batch])

    def frame_sizes(self, first_batch: int, n_batches: int) -> list[int]:
        b = self.batch_bytes[first_batch : first_batch + n_batches + 1]
        return [int(x) for x in np.diff(b)]

    def record_sizes_of(self, batch: int) -> np.ndarray:
        return self.record_sizes[int(self.batch_records[batch]) : int(self.batch_records[batch + 1])]

    def _seq_bytes(self, seqs: np.ndarray) -> np.ndarray:
        kind = self.layout.seq_kind
        if kind.startswith("digits"):
            hi, rest = np.divmod(seqs, 100_000_000)
            mid, lo = np.divmod(rest, 10_000)
            if kind == "digits-space":
                has_hi = hi > 0
                has_mid = has_hi | (mid > 0)
                hi = np.where(has_hi, hi + _SPACE, _BLANK)
                mid = np.where(has_hi, mid, np.where(has_mid, mid + _SPACE, _BLANK))
                lo = np.where(has_mid, lo, lo + _SPACE)
            return _GROUPS[np.stack((hi, mid, lo), axis=1)].reshape(len(seqs), SEQ_DIGITS)
        v = seqs if kind == "varint" else seqs << 1
        return (((v[:, None] >> _SHIFT_SEQ) & 0x7F) | _CONT_SEQ).astype(np.uint8)

    def _ts_bytes(self, ts_us: int) -> np.ndarray:
        return np.frombuffer(ts_slot(self.layout.ts_kind, ts_us), dtype=np.uint8)


def ts_slot(kind: str, micros: int) -> bytes:
    """A timestamp slot of ``kind`` holding ``micros``: the same width whatever the time."""
    if kind == "iso":
        return iso_bytes(micros)
    if kind == "micros":  # journald
        return b"%016d" % micros
    if kind == "fixed64-ns":  # OTLP time_unix_nano
        return (micros * 1000).to_bytes(8, "little")
    if kind == "nanos":  # OTLP/JSON, Loki JSON: 19 digits of nanoseconds
        return b"%019d" % (micros * 1000)
    if kind == "epoch-us":  # HEC, GELF: epoch seconds with 6 decimals
        return b"%d.%06d" % divmod(micros, 1_000_000)
    seconds, us = divmod(micros, 1_000_000)
    if kind == "eventtime":  # Fluent's EventTime (ext 0): uint32 seconds, uint32 nanoseconds, big endian
        return seconds.to_bytes(4, "big") + (us * 1000).to_bytes(4, "big")
    if kind == "proto-timestamp":  # google.protobuf.Timestamp's fields, both varints over-long
        return b"\x08" + padded_varint(seconds, 5) + b"\x10" + padded_varint(us * 1000, 5)
    return padded_varint(micros if kind == "varint" else zigzag(micros), TS_VARINT_BYTES)


def _common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _find_one(data: bytes, needle: bytes, what: str) -> int:
    pos = data.find(needle)
    if pos < 0 or data.find(needle, pos + 1) >= 0:
        raise ConfigError(f"payload pool: the {what} placeholder is not found exactly once in a record")
    return pos


def _replace_one(data: bytes, old: bytes, new: bytes, what: str) -> bytes:
    pos = _find_one(data, old, what)
    return data[:pos] + new + data[pos + len(old) :]


def _entry_body(batch: bytes) -> bytes:
    """The body of the one LogEntry in a one-entry LogBatch (``0x0a LEN BODY``)."""
    if batch[:1] != b"\x0a":
        raise ConfigError("proto pool: unexpected LogBatch encoding")
    pos, length, shift = 1, 0, 0
    while True:
        byte = batch[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            break
    return batch[pos : pos + length]


def _avro_record(e: Any) -> dict[str, Any]:
    return {f: getattr(e, f) for f in model.FIELDS}


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rendered bytes of one or more consecutive batches (one write), and where each batch is.

    ``frames``: per batch (start, end, logs, first_seq) within ``data``."""

    data: bytes
    frames: tuple[tuple[int, int, int, int], ...]
    logs: int
    first_seq: int
    batch: int  # pool index of the first batch (UDP uses it for precomputed datagram splits)


def render_chunk(pool: Pool, buf: ClientBuffer, first_batch: int, n_batches: int, seq0: int, ts_us: int,
                 last_logs: int | None = None) -> Chunk:  # fmt: skip
    """Render ``n_batches`` batches; with ``last_logs`` the last one is cut to that many records."""
    data = pool.render(buf, first_batch, n_batches, seq0, ts_us)
    frames: list[tuple[int, int, int, int]] = []
    base = int(pool.batch_bytes[first_batch])
    seq = seq0
    for b in range(first_batch, first_batch + n_batches):
        start, end = int(pool.batch_bytes[b]) - base, int(pool.batch_bytes[b + 1]) - base
        n = int(pool.batch_records[b + 1] - pool.batch_records[b])
        frames.append((start, end, n, seq))
        seq += n
    if last_logs is not None and last_logs < frames[-1][2]:
        start, end, n, fseq = frames.pop()
        cut = pool.cut_batch(data[start:end], first_batch + n_batches - 1, last_logs, fseq)
        data = data[:start] + cut
        frames.append((start, start + len(cut), last_logs, fseq))
    logs = sum(f[2] for f in frames)
    return Chunk(data, tuple(frames), logs, seq0, first_batch)
