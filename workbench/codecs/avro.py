"""Avro: a batch as one Avro array of ``LogEntry`` records behind a schema id.

Payload layout (the Confluent wire format, with an array as the datum): one magic byte 0, the
writer's schema id as a big-endian uint32, then the Avro binary encoding of
``{"type": "array", "items": <LogEntry record>}``. Schema id 0 names the bundled
``schemas/log_entry.avsc``; other ids come from the schema registry. Decoding resolves the
writer's schema to the reader's (the bundled one by default); a newer compatible writer schema
that adds fields is read with its own schema instead, its added fields kept as attributes (the
same normalisation as JSON with a newer schema id). A writer of exactly the bundled record goes
through a compiled transcoder straight to stored JSON lines, checked against the schema in C
(``workbench/speedups/_binary.pyx``; ``decode`` also validates them with msgspec, ``stored``
keeps them for the ingestor); a payload it declines goes to fastavro, which gives the
same entries and says what is wrong.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import fastavro
from fastavro.types import Schema

from workbench import schemas
from workbench.codecs.base import (
    ENCODING,
    MALFORMED,
    STORE_DIRECT,
    UNKNOWN_SCHEMA,
    CodecBase,
    Decoded,
    RecordError,
    extras_to_attributes,
    validate,
    validated_lines,
)

_transcode: Callable[[bytes, int, bytes], tuple[bytes, int] | None] | None
try:
    from workbench.speedups._binary import avro_transcode as _transcode
except ImportError:  # not compiled: fastavro does it all
    _transcode = None

MAGIC = 0
BUNDLED_SCHEMA_ID = 0
_HEADER = struct.Struct(">BI")


def array_schema(record_schema: Mapping[str, Any]) -> Schema:
    return fastavro.parse_schema({"type": "array", "items": dict(record_schema)})


class AvroCodec(CodecBase):
    name = "avro"
    binary = True

    @classmethod
    def for_ingestor(cls, schemas: Any, default_service: str) -> AvroCodec:
        return cls(writer_schemas=schemas.avro)

    def __init__(
        self,
        writer_schemas: Mapping[int, Mapping[str, Any]] | None = None,
        schema_id: int = BUNDLED_SCHEMA_ID,
        reader_schema: Mapping[str, Any] | None = None,
        fast: bool = True,
    ) -> None:
        """``writer_schemas``: record schemas by id this codec can read (the bundled one as 0);
        ``schema_id``: the id ``encode`` writes with; ``reader_schema``: what records resolve to."""
        bundled = schemas.avro_schema()
        known = {BUNDLED_SCHEMA_ID: bundled, **(writer_schemas or {})}
        self._writers = {sid: array_schema(s) for sid, s in known.items()}
        self._reader = array_schema(reader_schema or bundled)
        # a writer that adds fields is read with its own schema and its added fields kept as
        # attributes (Avro resolution to the bundled reader would drop them)
        fields = {f["name"] for f in bundled["fields"]}
        self._adds_fields = {
            sid for sid, s in known.items() if {f["name"] for f in s.get("fields", [])} - fields
        }
        # writers of exactly the bundled record, read as the bundled record: the compiled transcoder
        self._plain = (
            {sid for sid, s in known.items() if s == bundled}
            if fast and _transcode is not None and (reader_schema is None or reader_schema == bundled)
            else set()
        )
        self.schema_id = schema_id
        if schema_id not in self._writers:
            raise ValueError(f"avro codec: no schema for the write id {schema_id}")

    def encode(self, entries: Sequence[Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(_HEADER.pack(MAGIC, self.schema_id))
        records = [
            {
                "timestamp": e.timestamp,
                "level": e.level,
                "service": e.service,
                "message": e.message,
                "host": e.host,
                "user_id": e.user_id,
                "session_id": e.session_id,
                "trace_id": e.trace_id,
                "attributes": e.attributes,
                "client_id": e.client_id,
                "seq": e.seq,
            }
            for e in entries
        ]
        fastavro.schemaless_writer(buf, self._writers[self.schema_id], records)
        return buf.getvalue()

    def stored(self, payload: bytes, end: bytes) -> tuple[bytes, int] | None:
        """The array's stored lines, each ending with ``end``, written and checked against the
        schema in C (``base.STORE_DIRECT``) for the bundled record: (lines, count); None when any
        record is declined or another schema wrote it."""
        if not STORE_DIRECT or len(payload) < _HEADER.size or payload[0] != MAGIC:
            return None
        if _HEADER.unpack_from(payload)[1] not in self._plain:
            return None
        assert _transcode is not None
        return _transcode(payload, _HEADER.size, end)

    def decode(self, payload: bytes) -> Decoded:
        if len(payload) < _HEADER.size or payload[0] != MAGIC:
            detail = "payload does not start with the magic byte 0 and a 4-byte schema id"
            return Decoded(errors=[RecordError(0, MALFORMED, detail, payload[:4096])])
        _, schema_id = _HEADER.unpack_from(payload)
        writer = self._writers.get(schema_id)
        if writer is None:
            detail = f"schema id {schema_id} is not known to this receiver"
            return Decoded(errors=[RecordError(0, UNKNOWN_SCHEMA, detail, payload[:4096])])
        if schema_id in self._plain:
            assert _transcode is not None
            lines = _transcode(payload, _HEADER.size, b"}\n")
            done = validated_lines(lines[0] if lines else None)
            if done is not None:
                return done
        body = io.BytesIO(payload)
        body.seek(_HEADER.size)
        try:
            own = schema_id in self._adds_fields
            records = fastavro.schemaless_reader(body, writer, None if own else self._reader)
        except Exception as exc:  # fastavro raises many types (EOFError, ValueError, IndexError...)
            detail = f"cannot decode the avro array: {type(exc).__name__}: {exc}"
            reason = ENCODING if isinstance(exc, UnicodeDecodeError) else MALFORMED
            return Decoded(errors=[RecordError(0, reason, detail, payload[:4096])])
        if body.tell() != len(payload):
            detail = f"{len(payload) - body.tell()} trailing bytes after the avro array"
            return Decoded(errors=[RecordError(0, MALFORMED, detail, payload[:4096])])
        if not isinstance(records, list):
            return Decoded(errors=[RecordError(0, MALFORMED, "datum is not an array", payload[:4096])])
        if own:
            extras_to_attributes(records)
        return validate(records, lambda i: repr(records[i]).encode()[:4096])


CODEC = AvroCodec()
