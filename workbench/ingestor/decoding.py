"""From received bytes to stored JSONL: detection, framing, decoding, validation, normalisation.

``Session`` holds one TCP connection's state (its header, detected or declared, and its
splitter); ``decode_payloads`` turns complete payloads into a ``Batch`` of normalised JSONL plus
the rejections, which ``Rejects`` counts and samples to ``rejected/``.

Normalised JSONL is msgspec's encoding of the validated entries, timestamps in UTC, with the
batch's ``received_at``, ``format``, ``transport`` and ``peer`` spliced into every line by one
``bytes.replace`` (JSON strings cannot hold a raw newline, so ``}\\n`` only ends a record).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from workbench import formats, model, wire
from workbench.codecs import detect
from workbench.codecs.base import MALFORMED, STORE_DIRECT, CodecBase, Decoded, RecordError
from workbench.codecs.timeparse import format_iso
from workbench.ingestor.metrics import WorkerMetrics
from workbench.ingestor.pipeline import Batch

_encoder = msgspec.json.Encoder()
log = logging.getLogger("workbench.ingestor")


def normalise(entries: list[Any]) -> bytes:
    """JSONL of entries with every timestamp in UTC."""
    data = _encoder.encode_lines(entries)
    # msgspec writes a UTC time with a "Z"; timestamp and level are the first two fields and a
    # quote inside a JSON string is escaped, so this count is exact and runs at memchr speed
    if data.count(b'Z","level":"') != len(entries):
        entries = [
            e
            if not e.timestamp.utcoffset()
            else msgspec.structs.replace(e, timestamp=e.timestamp.astimezone(model.UTC))
            for e in entries
        ]
        data = _encoder.encode_lines(entries)
    return data


def stored_suffix(received_at: float, fmt: str, transport: str, peer: str) -> bytes:
    stamp = format_iso(model.utc_from_micros(int(received_at * 1e6)))
    extra = _encoder.encode({"received_at": stamp, "format": fmt, "transport": transport, "peer": peer})
    return b"," + extra[1:] + b"\n"


@dataclass
class SchemaSet:
    """Schemas the worker validates against: bundled, or fetched from the registry, by id."""

    source: str = "bundled"
    avro: dict[int, dict[str, Any]] = field(default_factory=dict)
    json: dict[int, dict[str, Any]] = field(default_factory=dict)
    proto_ids: set[int] = field(default_factory=set)
    _json_decoders: dict[int, msgspec.json.Decoder[Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "avro": list(self.avro.items()), "json": list(self.json.items()),
                "proto_ids": sorted(self.proto_ids)}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SchemaSet:
        return cls(
            data["source"],
            dict(map(tuple, data["avro"])),
            dict(map(tuple, data["json"])),
            set(data["proto_ids"]),
        )

    def json_decoder(self, schema_id: int) -> msgspec.json.Decoder[Any] | None:
        dec = self._json_decoders.get(schema_id)
        if dec is None and schema_id in self.json:
            entry_type = model.compile_entry_type(self.json[schema_id], f"LogEntryV{schema_id}")
            dec = self._json_decoders[schema_id] = msgspec.json.Decoder(entry_type)
        return dec


class Codecs:
    """The codec of every format (``workbench.formats``), as one worker configures them, once."""

    def __init__(self, schemas: SchemaSet, default_service: str = "raw") -> None:
        self.schemas = schemas
        self.default_service = default_service
        # built on first use: a worker that never sees Avro or protobuf never imports fastavro or
        # the protobuf runtime (issue 18: lean workers)
        self.by_format: dict[str, CodecBase] = {}

    def __getitem__(self, fmt: str) -> CodecBase:
        codec = self.by_format.get(fmt)
        if codec is None:
            codec = self.by_format[fmt] = formats.codec_class(fmt).for_ingestor(
                self.schemas, self.default_service
            )
        return codec

    def decode_lines_chunk(self, fmt: str, chunk: bytes, detected: bool, schema_id: int | None) -> Decoded:
        out = self[fmt].decode_chunk(chunk, schema_id)
        if detected and out.errors and any(e.reason == MALFORMED for e in out.errors):
            out = self._redetect(out)
        return out

    def _redetect(self, out: Decoded) -> Decoded:
        """A detected connection that mixes formats: malformed lines get a second look, per line."""
        keep: list[RecordError] = []
        for err in out.errors:
            fmt = detect.detect_line(err.raw) if err.reason == MALFORMED else None
            if fmt is None:
                keep.append(err)
                continue
            again = self.decode_lines_chunk(fmt, err.raw + b"\n", detected=False, schema_id=None)
            if again.entries:
                out.entries.extend(again.entries)
            else:
                keep.append(err)
        out.errors = keep
        return out

    def stored(self, header: wire.Header, payload: bytes, end: bytes) -> tuple[bytes, int] | None:
        """A payload's stored lines, each ending with ``end``, written and checked against the
        schema by a compiled transcoder (``STORE_DIRECT``): (lines, count). None when it declines
        any record (or is not compiled): decode the payload."""
        if header.schema_id not in (None, 0):
            return None
        return self[header.format].stored(payload, end)

    def decode_frame(self, header: wire.Header, payload: bytes) -> Decoded:
        return self[header.format].decode_frame(payload, header.schema_id)

    def decode_records(self, fmt: str, records: list[bytes]) -> Decoded:
        return self[fmt].decode_records(records)


class Rejects:
    """Counts rejected records by reason and writes a bounded sample of them to ``rejected/``."""

    def __init__(self, directory: Path, worker: int, metrics: WorkerMetrics, per_second: int = 10,
                 max_file_bytes: int = 10_000_000) -> None:  # fmt: skip
        self.path = directory / "rejected" / f"rejected_{worker}.jsonl"
        self.metrics = metrics
        self.per_second = per_second
        self.max_file_bytes = max_file_bytes
        self._window = 0
        self._budget: dict[str, int] = {}
        self._write_failed = False

    def record(self, errors: list[RecordError], fmt: str, transport: str, peer: str) -> None:
        if not errors:
            return
        for err in errors:
            self.metrics.add("rejected", 1, err.reason, fmt)
        if self.per_second <= 0:
            return
        now = int(time.time())
        if now != self._window:
            self._window, self._budget = now, {}
        lines = []
        for err in errors:
            used = self._budget.get(err.reason, 0)
            if used >= self.per_second:
                continue
            self._budget[err.reason] = used + 1
            rec: dict[str, Any] = {
                "time": format_iso(model.now_utc()), "reason": err.reason, "detail": err.detail[:2000],
                "format": fmt, "transport": transport, "peer": peer, "index": err.index,
            }  # fmt: skip
            try:
                rec["raw"] = err.raw.decode("utf-8")
            except UnicodeDecodeError:
                rec["raw_base64"] = base64.b64encode(err.raw).decode()
            lines.append(_encoder.encode(rec) + b"\n")
        if lines:
            self._write(b"".join(lines))

    def _write(self, data: bytes) -> None:
        """Samples are best effort (the rejections are counted already): a full disk skips them."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                if self.path.stat().st_size > self.max_file_bytes:
                    self.path.replace(self.path.with_suffix(".jsonl.1"))
            except FileNotFoundError:
                pass
            with open(self.path, "ab") as fh:
                fh.write(data)
        except OSError as exc:
            if not self._write_failed:
                log.warning("rejected samples not written to %s: %s", self.path, exc)
            self._write_failed = True
        else:
            self._write_failed = False


@dataclass
class WorkerContext:
    """What every session of one ingestor worker process shares: its codecs, rejection counter,
    metrics and where its batches go (``ctx`` in the sessions and listeners)."""

    codecs: Codecs
    rejects: Rejects
    metrics: WorkerMetrics
    submit: Callable[[Batch], bool]
    max_line_bytes: int
    max_frame_bytes: int


def make_batch(ctx: WorkerContext, decoded: Decoded, fmt: str, transport: str, peer: str, host: str, t0: float,
               on_written: Callable[[], None] | None = None) -> Batch | None:  # fmt: skip
    """Normalise decoded entries into a batch and count its rejections."""
    if decoded.errors:
        ctx.rejects.record(decoded.errors, fmt, transport, peer)
    count = decoded.count
    if not count and on_written is None:
        return None
    data = b""
    if count:
        if decoded.jsonl is not None and decoded.end != b"}\n":
            data = decoded.jsonl  # written with the batch's fields already
        else:
            lines = decoded.jsonl if decoded.jsonl is not None else normalise(decoded.entries)
            data = lines.replace(b"}\n", stored_suffix(time.time(), fmt, transport, peer))
        ctx.metrics.sample(fmt, data[data.rfind(b"\n", 0, len(data) - 1) + 1 :].decode("utf-8", "replace"))
    return Batch(data, count, fmt, transport, host, time.perf_counter() - t0, on_written)


class Session:
    """One TCP connection: header (declared or detected), framing, decoding, acks."""

    def __init__(self, ctx: WorkerContext, transport: str, peer: str, host: str,
                 reply: Callable[[bytes], None]) -> None:  # fmt: skip
        self.ctx = ctx
        self.transport = transport
        self.peer = peer
        self.host = host
        self.reply = reply
        self.header: wire.Header | None = None
        self.splitter: wire.Splitter | None = None
        self._head = b""
        self.frames_in = 0
        self._direct = False  # payloads go to the compiled transcoders first (Codecs.stored)

    @property
    def fmt(self) -> str:
        return self.header.format if self.header else "unknown"

    def pending_bytes(self) -> int:
        """Bytes read that are not a complete record yet."""
        return self.splitter.pending_bytes() if self.splitter is not None else len(self._head)

    def feed(self, data: bytes) -> None:
        """Raises ``FramingError`` when the stream is broken beyond repair (close the connection)."""
        if self.splitter is None:
            self._head += data
            header = wire.detect_stream(self._head)
            if header is None:
                return
            data, self._head = self._head[wire.header_length(self._head) :], b""
            self.header = header
            self.splitter = wire.splitter_for(header, self.ctx.max_line_bytes, self.ctx.max_frame_bytes)
            self._direct = STORE_DIRECT and formats.SPECS[header.format].transcoder
        if self._direct and isinstance(self.splitter, wire.OctetSplitter):
            # syslog's own framing: splitting, transcoding and checks in one C call per read
            lines, count, data = self.splitter.take_stored(data, self._end())
            if count:
                self._process([], (lines, count))
        try:
            payloads = self.splitter.feed(data)
        except wire.BrokenStreamError as exc:
            self._process(exc.payloads)  # the good frames read together with the break
            raise
        self._process(payloads)

    def eof(self) -> None:
        if self.splitter is None:
            if not self._head:
                return
            self.header = wire.detect_stream(self._head, eof=True)
            assert self.header is not None
            self.splitter = wire.splitter_for(self.header, self.ctx.max_line_bytes, self.ctx.max_frame_bytes)
            self._process(self.splitter.feed(self._head[wire.header_length(self._head) :]))
            self._head = b""
        self._process(self.splitter.finish())

    def _end(self) -> bytes:
        """How each stored line of this read ends: the batch's fields, then ``}\\n``."""
        return stored_suffix(time.time(), self.fmt, self.transport, self.peer)

    def _process(self, payloads: list[bytes], stored: tuple[bytes, int] | None = None) -> None:
        """Decode payloads (and take lines ``stored`` already) into batches for the writer."""
        splitter, header = self.splitter, self.header
        assert splitter is not None and header is not None
        if splitter.errors:
            self.ctx.rejects.record(splitter.errors, header.format, self.transport, self.peer)
            splitter.errors = []
        if not payloads and stored is None:
            return
        t0 = time.perf_counter()
        ctx = self.ctx
        fmt = header.format
        # runs of consecutive payloads, stored directly or decoded, batched in their order
        runs: list[tuple[bool, list[Any]]] = [(True, [stored])] if stored is not None else []
        end = self._end() if self._direct and payloads and header.framing != "octet" else None
        for payload in payloads:
            got = ctx.codecs.stored(header, payload, end) if end is not None else None
            item = payload if got is None else got
            if runs and runs[-1][0] == (got is not None):
                runs[-1][1].append(item)
            else:
                runs.append((got is not None, [item]))
        batches = []
        for direct, items in runs:
            if direct:
                data = items[0][0] if len(items) == 1 else b"".join(lines for lines, _ in items)
                ctx.metrics.sample(
                    fmt, data[data.rfind(b"\n", 0, len(data) - 1) + 1 :].decode("utf-8", "replace")
                )
                batches.append(Batch(data, sum(n for _, n in items), fmt, self.transport, self.host, 0.0))
            elif batch := make_batch(
                ctx, self._decode(header, items), fmt, self.transport, self.peer, self.host, t0
            ):
                batches.append(batch)
        on_written = None
        if header.ack:
            self.frames_in += len(payloads)
            acked = self.frames_in
            on_written = lambda: self.reply(wire.ack_line(acked))  # noqa: E731
            if not batches:
                batches.append(Batch(b"", 0, fmt, self.transport, self.host, 0.0))
            batches[-1].on_written = on_written
        if batches:
            batches[-1].seconds = time.perf_counter() - t0
        for batch in batches:
            if not ctx.submit(batch) and batch.on_written is not None:
                batch.on_written()  # dropped under --overflow drop: counted; the sender is told it is done

    def _decode(self, header: wire.Header, payloads: list[bytes]) -> Decoded:
        codecs = self.ctx.codecs
        if header.framing == "lines":
            decoded = Decoded()
            for chunk in payloads:
                decoded.extend(
                    codecs.decode_lines_chunk(header.format, chunk, header.detected, header.schema_id)
                )
            return decoded
        if header.framing == "octet":
            return codecs.decode_records(header.format, payloads)
        decoded = Decoded()
        for payload in payloads:
            decoded.extend(codecs.decode_frame(header, payload))
        return decoded


def decode_datagram(codecs: Codecs, data: bytes) -> tuple[str, Decoded]:
    """One UDP datagram: JSON lines (one or more), one syslog message (RFC 5426), or raw lines."""
    head = data.lstrip()[:1]
    if head == b"{":
        fmt = "journald" if detect.detect_line(data.split(b"\n", 1)[0]) == "journald" else "json"
        return fmt, codecs.decode_lines_chunk(fmt, data if data.endswith(b"\n") else data + b"\n", True, None)
    if head == b"<" or detect.detect_line(data) == "syslog":
        return "syslog", codecs.decode_records("syslog", [data.rstrip(b"\r\n")])
    return "raw", codecs["raw"].decode(data)
