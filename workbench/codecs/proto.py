"""Protobuf: one ``LogBatch`` message (``schemas/log.proto``) per payload.

A payload in the plain case goes through a compiled transcoder straight to stored JSON lines,
checked against the schema in C (``workbench/speedups/_binary.pyx``; ``decode`` also validates
them with msgspec, ``stored`` keeps them for the ingestor); any other one through protobuf's
decoder and the loop below, which give the same entries and say which entry is bad.

On a stream each payload is a length-prefixed frame (see ``workbench.wire``). Timestamps travel
as int64 microseconds since the epoch (UTC); the level as the ``Level`` enum, whose zero value
``LEVEL_UNSPECIFIED`` is rejected by validation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from google.protobuf.message import DecodeError as ProtoDecodeError

from workbench import model
from workbench._generated import log_pb2
from workbench.codecs.base import (
    ENCODING,
    INVALID,
    MALFORMED,
    STORE_DIRECT,
    UNKNOWN_SCHEMA,
    CodecBase,
    Decoded,
    RecordError,
    merge_errors,
    validate,
    validated_lines,
)

_transcode: Callable[[bytes, bytes], tuple[bytes, int] | None] | None
try:
    from workbench.speedups._binary import proto_transcode as _transcode
except ImportError:  # not compiled: protobuf's decoder and the Python loop below do it all
    _transcode = None

LogBatch = log_pb2.LogBatch
_LEVEL_NAMES: tuple[str, ...] = tuple(log_pb2.Level.Name(i) for i in range(len(log_pb2.Level.keys())))
_LEVEL_NUMBERS: dict[str, int] = {name: log_pb2.Level.Value(name) for name in model.LEVELS}
_OPTIONAL = (*model.OPTIONAL_STRINGS, "seq")


class ProtoCodec(CodecBase):
    name = "proto"
    binary = True

    def encode(self, entries: Sequence[Any]) -> bytes:
        batch = LogBatch()
        add = batch.entries.add
        for e in entries:
            msg = add(
                timestamp=model.micros_from_utc(e.timestamp),
                level=_LEVEL_NUMBERS[e.level],
                service=e.service,
                message=e.message,
                host=e.host,
                attributes=e.attributes,
            )
            for f in _OPTIONAL:
                value = getattr(e, f)
                if value is not None:
                    setattr(msg, f, value)
        return batch.SerializeToString()

    def __init__(self, fast: bool = True, known_ids: set[int] | None = None) -> None:
        """``known_ids``: registry schema ids a header may name (None: any, as the bundled schema)."""
        self.fast = fast and _transcode is not None
        self.known_ids = known_ids

    @classmethod
    def for_ingestor(cls, schemas: Any, default_service: str) -> ProtoCodec:
        return cls(known_ids=schemas.proto_ids)

    def decode_frame(self, payload: bytes, schema_id: int | None = None) -> Decoded:
        if schema_id not in (None, 0) and self.known_ids is not None and schema_id not in self.known_ids:
            detail = f"protobuf schema id {schema_id} is not known to this ingestor"
            return Decoded(errors=[RecordError(0, UNKNOWN_SCHEMA, detail, payload[:256])])
        return self.decode(payload)

    def stored(self, payload: bytes, end: bytes) -> tuple[bytes, int] | None:
        """The batch's stored lines, each ending with ``end``, written and checked against the
        schema in C (``base.STORE_DIRECT``): (lines, count); None when any entry is declined."""
        if not (self.fast and STORE_DIRECT):
            return None
        assert _transcode is not None
        return _transcode(payload, end)

    def decode(self, payload: bytes) -> Decoded:
        if self.fast:
            assert _transcode is not None
            done = validated_lines(lines[0] if (lines := _transcode(payload, b"}\n")) else None)
            if done is not None:
                return done
        try:
            messages: Sequence[Any] = LogBatch.FromString(payload).entries
        except ProtoDecodeError:
            return self._decode_one_by_one(payload)
        return self._validate(list(enumerate(messages)))

    def _validate(self, messages: list[tuple[int, Any]], errors: list[RecordError] | None = None) -> Decoded:
        """Messages (with their index in the batch) to entries; a timestamp out of range is invalid."""
        errors = errors if errors is not None else []
        records: list[dict[str, Any]] = []
        kept: list[tuple[int, Any]] = []
        levels = _LEVEL_NAMES
        for i, m in messages:
            try:
                ts = model.utc_from_micros(m.timestamp)
            except ValueError as exc:
                errors.append(RecordError(i, INVALID, str(exc), m.SerializeToString()[:4096]))
                continue
            rec: dict[str, Any] = {
                "timestamp": ts,
                "level": levels[m.level] if 0 <= m.level < len(levels) else str(m.level),
                "service": m.service,
                "message": m.message,
                "host": m.host,
                # dict() of a protobuf map goes through collections.abc (~4 µs); most maps are empty
                "attributes": {k: v for k, v in m.attributes.items()} if m.attributes else {},
            }
            for f in _OPTIONAL:
                if m.HasField(f):
                    rec[f] = getattr(m, f)
            records.append(rec)
            kept.append((i, m))
        out = validate(records, lambda j: kept[j][1].SerializeToString()[:4096], indexes=[i for i, _ in kept])
        return merge_errors(out, errors)

    def _decode_one_by_one(self, payload: bytes) -> Decoded:
        """A batch that does not parse as a whole: parse its entries one by one, to keep the good ones.

        Walks the top-level fields of ``LogBatch``; when that walk breaks (a lying length, a
        truncated frame), the rest of the payload is one ``malformed`` error.
        """
        messages: list[tuple[int, Any]] = []
        errors: list[RecordError] = []
        index = 0
        try:
            for chunk in _batch_entries(payload):
                try:
                    messages.append((index, log_pb2.LogEntry.FromString(chunk)))
                except ProtoDecodeError as exc:
                    reason = ENCODING if "UTF-8" in str(exc) else MALFORMED
                    errors.append(RecordError(index, reason, f"not a LogEntry: {exc}", chunk[:4096]))
                index += 1
        except ValueError as exc:
            errors.append(RecordError(index, MALFORMED, f"not a LogBatch: {exc}", payload[:4096]))
        return self._validate(messages, errors)


def varint(value: int) -> bytes:
    """A non-negative integer as a protobuf varint (the generator's pools and OTLP's answers)."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError(f"truncated or overlong varint at byte {pos}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _batch_entries(payload: bytes) -> Iterator[bytes]:
    """The bytes of each ``entries`` field (1) of a serialized ``LogBatch``; ``ValueError`` when broken."""
    pos, end = 0, len(payload)
    while pos < end:
        key, pos = _varint(payload, pos)
        field_number, wire_type = key >> 3, key & 7
        if wire_type == 2:
            length, pos = _varint(payload, pos)
            if pos + length > end:
                raise ValueError(f"field {field_number} claims {length} bytes, {end - pos} are left")
            if field_number == 1:
                yield payload[pos : pos + length]
            pos += length
        elif wire_type == 0:
            _, pos = _varint(payload, pos)
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
            if pos > end:
                raise ValueError("truncated fixed-width field")
        else:
            raise ValueError(f"wire type {wire_type} of field {field_number} is not valid in a LogBatch")


CODEC = ProtoCodec()
