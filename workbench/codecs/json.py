"""JSON lines: one log entry per line, names exactly as in ``schemas/log_entry.schema.json``.

A payload of many lines is decoded and validated by msgspec in one C call; only when that
fails are lines decoded one by one to say which record is bad and why.

``stored(payload, end)`` is the ingestor's shortcut: a compiled transcoder
(``workbench/speedups/_json.pyx``) validates every line against the schema and writes its stored
form in one pass, without building entries and encoding them again. It declines any payload with
a line it is not sure of (None: the ingestor then runs ``decode`` and ``normalise``), and runs
only while the loaded schema is the one its checks enforce (``STORE_DIRECT``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from workbench import model
from workbench.codecs.base import (
    ENCODING,
    INVALID,
    MALFORMED,
    STORE_DIRECT,
    UNKNOWN_SCHEMA,
    CodecBase,
    Decoded,
    RecordError,
    decode_text,
    extras_to_attributes,
    split_lines,
    validate,
)

_transcode: Callable[[bytes, bytes], tuple[bytes, int] | None] | None
try:
    from workbench.speedups._json import transcode as _transcode
except ImportError:  # not compiled (no C compiler): decode and normalise do it all
    _transcode = None

_decoder = msgspec.json.Decoder(model.LogEntry)
_encoder = msgspec.json.Encoder()


def _storable(entry: Any) -> bool:
    """Whether the entry's time can be stored in UTC: msgspec keeps an offset, and one at the
    calendar's edge (``0001-01-01T00:00:00+00:01``) is outside Python's years once in UTC."""
    if not entry.timestamp.utcoffset():
        return True
    try:
        entry.timestamp.astimezone(model.UTC)
    except OverflowError:
        return False
    return True


class JsonCodec(CodecBase):
    name = "json"
    binary = False
    pool_seq_pad = b" "  # JSON numbers may be padded with spaces, not zeros

    def __init__(self, fast: bool = True, schemas: Any = None) -> None:
        """``schemas``: the ingestor's ``SchemaSet``, for payloads of registered JSON schema ids."""
        self.fast = fast and _transcode is not None
        self.schemas = schemas

    @classmethod
    def for_ingestor(cls, schemas: Any, default_service: str) -> JsonCodec:
        return cls(schemas=schemas)

    def decode_chunk(self, chunk: bytes, schema_id: int | None = None) -> Decoded:
        if schema_id in (None, 0):
            return self.decode(chunk)
        dec = self.schemas.json_decoder(schema_id) if self.schemas is not None else None
        if dec is None:
            detail = f"JSON schema id {schema_id} is not known to this ingestor"
            return Decoded(
                errors=[RecordError(i, UNKNOWN_SCHEMA, detail, b"") for i in range(len(split_lines(chunk)))]
            )
        try:
            return to_bundled(dec.decode_lines(chunk))
        except (msgspec.ValidationError, msgspec.DecodeError):
            return self._per_line(split_lines(chunk), dec)

    def _per_line(self, lines: list[bytes], dec: Any) -> Decoded:
        """Lines of another schema version one by one, to say which failed (after the batch did)."""
        out = Decoded()
        for i, line in enumerate(lines):
            try:
                part = to_bundled([dec.decode(line)])
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                out.errors.append(RecordError(i, INVALID, str(exc), line))
                continue
            out.extend(part, i)
        return out

    def encode(self, entries: Sequence[Any]) -> bytes:
        return _encoder.encode_lines(entries)

    def stored(self, payload: bytes, end: bytes) -> tuple[bytes, int] | None:
        """The payload's stored lines, each ending with ``end`` instead of ``}\\n``, and how many,
        written and checked against the schema in C (``STORE_DIRECT``). None when the transcoder
        declines a line or is not in use: then ``decode`` (and ``normalise``)."""
        if not (self.fast and STORE_DIRECT):
            return None
        assert _transcode is not None
        return _transcode(payload, end)

    def decode(self, payload: bytes) -> Decoded:
        try:
            entries = _decoder.decode_lines(payload)
            if all(map(_storable, entries)):
                return Decoded(entries)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            pass
        return self.decode_lines(split_lines(payload))

    def decode_lines(self, lines: Sequence[bytes]) -> Decoded:
        out = Decoded()
        for i, line in enumerate(lines):
            try:
                entry = _decoder.decode(line)
                if not _storable(entry):
                    detail = f"timestamp {entry.timestamp.isoformat()} is outside years 1-9999 in UTC"
                    out.errors.append(RecordError(i, INVALID, detail, line))
                    continue
                out.entries.append(entry)
            except msgspec.ValidationError as exc:
                out.errors.append(RecordError(i, INVALID, str(exc), line))
            # msgspec raises UnicodeDecodeError itself for bad UTF-8 inside a string
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                reason = ENCODING if decode_text(line) is None else MALFORMED
                out.errors.append(RecordError(i, reason, str(exc), line))
        return out


CODEC = JsonCodec()


def to_bundled(entries: list[Any]) -> Decoded:
    """Entries of another schema version to the bundled LogEntry: added fields become attributes."""
    records = extras_to_attributes(msgspec.to_builtins(entries, builtin_types=(model.dt.datetime,)))
    return validate(records, lambda i: _encoder.encode(records[i]))
