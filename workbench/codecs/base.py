"""What every codec shares: the decode result, per-record errors and batch validation.

A codec turns a batch of ``LogEntry`` objects into the bytes of one payload and back. Decoding
never raises for bad input: each record that cannot be decoded becomes a ``RecordError`` with
its index in the payload, a short machine reason, a human detail and its raw bytes, and the
records around it are still returned.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import msgspec

from workbench import model, speedups
from workbench.schemas import json_schema

# machine reasons of rejected records, also the label values of ingest_rejected_total{reason}
MALFORMED = "malformed"  # the bytes do not parse as the format at all
INVALID = "invalid"  # they parse, but the record breaks the log entry schema
ENCODING = "encoding"  # not valid UTF-8 where text is required
TOO_LARGE = "too_large"  # over a size limit
UNKNOWN_SCHEMA = "unknown_schema"  # a schema id the receiver does not know
FRAMING = "framing"  # a stream broken beyond repair (the connection is closed)


@dataclass(slots=True)
class RecordError:
    index: int
    reason: str
    detail: str
    raw: bytes = b""

    def __str__(self) -> str:
        return f"record {self.index}: {self.reason}: {self.detail}"


@dataclass(slots=True)
class Decoded:
    entries: list[Any] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    # the entries already as stored JSON lines, when a fast path wrote them (else None: normalise)
    jsonl: bytes | None = None
    # how many lines ``jsonl`` holds when a transcoder wrote them without building ``entries``
    # (the OTLP codec's); such a result is stored as it is, never extended
    lines: int = 0
    # how each line of ``jsonl`` ends: ``}\n``, or already with the stored fields of its batch
    # (``decoding.stored_suffix``) when the transcoder was given them
    end: bytes = b"}\n"

    @property
    def count(self) -> int:
        """The records decoded (entries, or a transcoder's lines)."""
        return len(self.entries) or self.lines

    def extend(self, other: Decoded, index_offset: int = 0) -> None:
        if self.lines or other.lines:
            raise ValueError("a transcoder's lines without entries cannot be extended")
        if other.entries:
            both = other.jsonl is not None and (self.jsonl is not None or not self.entries)
            self.jsonl = (self.jsonl or b"") + other.jsonl if both else None  # type: ignore[operator]
        self.entries.extend(other.entries)
        for err in other.errors:
            err.index += index_offset
            self.errors.append(err)


class Codec(Protocol):
    """One wire format. ``encode`` makes one payload of a batch; ``decode`` reads one back."""

    name: str
    binary: bool  # framed with a length prefix on a stream (else newline-separated text)

    def encode(self, entries: Sequence[Any]) -> bytes: ...

    def decode(self, payload: bytes) -> Decoded: ...


class CodecBase:
    """What a codec class offers the ingestor and the generator (``workbench.formats`` names the
    class of each format); a codec overrides what its format does differently.

    The ingestor builds one per worker with ``for_ingestor`` and calls ``decode_chunk`` for a chunk
    of complete lines (``lines`` framing), ``decode_frame`` for one frame (``length`` or
    ``export``), ``decode_records`` for separate records (``octet`` framing, a datagram), and
    ``stored`` for its compiled shortcut. The generator builds one with ``for_generator`` and
    finds a record's timestamp and seq in its text by ``pool_timestamp`` and ``pool_seq_pad``.
    """

    name: str
    binary: bool
    pool_timestamp = "iso"  # how a text record writes its timestamp: "iso" or "micros" (digits)
    pool_seq_pad = b"0"  # what pads a seq to a fixed width in the generator's templates

    def decode(self, payload: bytes) -> Decoded:
        raise NotImplementedError

    @classmethod
    def for_ingestor(cls, schemas: Any, default_service: str) -> Self:
        """The codec an ingestor worker decodes with (``schemas``: its ``SchemaSet``)."""
        return cls()

    @classmethod
    def for_generator(cls, octet_counting: bool) -> Self:
        """The codec the generator encodes its templates with (``octet_counting``: a syslog stream)."""
        return cls()

    def decode_chunk(self, chunk: bytes, schema_id: int | None = None) -> Decoded:
        """Complete newline-terminated lines (``schema_id``: a registry id the header named)."""
        return self.decode(chunk)

    def decode_frame(self, payload: bytes, schema_id: int | None = None) -> Decoded:
        """One frame: a binary batch, or a text payload's lines."""
        if self.binary:
            return self.decode(payload)
        return self.decode_chunk(payload if payload.endswith(b"\n") else payload + b"\n", schema_id)

    def decode_records(self, records: Sequence[bytes]) -> Decoded:
        """Separate records (no newline between them)."""
        return self.decode_chunk(b"".join(r.rstrip(b"\r\n") + b"\n" for r in records))

    def stored(self, payload: bytes, end: bytes) -> tuple[bytes, int] | None:
        """Stored lines written by a compiled transcoder, or None (none, or it declined): decode."""
        return None


def validate(
    records: list[dict[str, Any]],
    raws: Sequence[bytes] | Callable[[int], bytes],
    index_base: int = 0,
    indexes: Sequence[int] | None = None,
) -> Decoded:
    """Validate parsed records into entries: one C call for the batch, per record only on failure.

    ``raws`` gives each record's original bytes for the error (a sequence or a lookup).
    ``indexes`` gives each record's index in the payload when some records of the payload were
    already rejected before validation (else a record's index is ``index_base`` plus its position).
    """
    try:
        return Decoded(model.to_entries(records))
    except msgspec.ValidationError:
        pass
    out = Decoded()
    for i, rec in enumerate(records):
        try:
            out.entries.append(model.to_entry(rec))
        except msgspec.ValidationError as exc:
            raw = raws(i) if callable(raws) else raws[i]
            index = indexes[i] if indexes is not None else index_base + i
            out.errors.append(RecordError(index, INVALID, str(exc), raw))
    return out


_ENTRY_LINES = msgspec.json.Decoder(model.LogEntry)

# The compiled transcoders check every line against the schema as they write it (see
# ``workbench.speedups``); their lines are stored without a second validation while the loaded
# schema is the one those checks enforce. Codecs' ``stored(payload, end)`` methods use this.
STORE_DIRECT = speedups.checks_enforce(json_schema())


def validated_lines(jsonl: bytes | None) -> Decoded | None:
    """The JSON lines a compiled transcoder wrote (``workbench.speedups``), validated against the
    schema in one C call: the entries, with the lines kept as what is stored. None when any line
    fails (or the transcoder declined): the codec's own decoder then says which record and why."""
    if jsonl is None:
        return None
    try:
        return Decoded(_ENTRY_LINES.decode_lines(jsonl), jsonl=jsonl)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None


def merge_errors(decoded: Decoded, earlier: list[RecordError]) -> Decoded:
    """Add errors found before validation, keeping all errors in payload order."""
    if earlier:
        decoded.errors.extend(earlier)
        decoded.errors.sort(key=lambda err: err.index)
    return decoded


def split_lines(payload: bytes) -> list[bytes]:
    """Non-empty lines of a payload, a trailing CR stripped (so CRLF senders work)."""
    lines = payload.split(b"\n")
    if b"\r" in payload:
        lines = [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]
    return [ln for ln in lines if ln.strip()]


def decode_text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def optional_fields(entry: Any) -> Mapping[str, Any]:
    """The optional string fields and ``seq`` of an entry that are set."""
    out = {f: getattr(entry, f) for f in model.OPTIONAL_STRINGS if getattr(entry, f) is not None}
    if entry.seq is not None:
        out["seq"] = entry.seq
    return out


def extras_to_attributes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records of a newer schema version to the bundled fields: added fields become attributes
    (strings as they are, anything else as JSON), so a compatible evolution loses nothing."""
    for rec in records:
        extra = [k for k in rec if k not in model.FIELDS]
        if not extra:
            continue
        attrs = dict(rec.get("attributes") or {})
        for k in extra:
            v = rec.pop(k)
            if v is not None:
                attrs[k] = v if isinstance(v, str) else json.dumps(v, default=str)
        rec["attributes"] = attrs
    return records
