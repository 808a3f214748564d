"""journald: the Journal Export Format and ``journalctl -o json`` lines.

Mapping: ``__REALTIME_TIMESTAMP`` (or ``_SOURCE_REALTIME_TIMESTAMP``, preferred when present)
to timestamp, ``PRIORITY`` to level (0-2 FATAL, 3 ERROR, 4 WARN, 5-6 INFO, 7 DEBUG; a ``LEVEL``
field naming one of our levels wins, which is how TRACE travels), ``SYSLOG_IDENTIFIER`` (else
``_COMM``, else ``_SYSTEMD_UNIT``) to service, ``_HOSTNAME`` to host, ``MESSAGE`` to message,
``USER_ID``/``SESSION_ID``/``TRACE_ID``/``CLIENT_ID``/``SEQ`` to our own fields, ``ATTRIBUTES``
(a JSON object, how we write attributes) plus every other field except the journal's cursor,
monotonic time and sequence numbers to attributes, under the field's name.

Export format (systemd's ``journal-export-format``): one ``NAME=value`` line per field, or for
values with newlines or binary data ``NAME``, newline, a little-endian uint64 length, the data,
newline; an empty line ends an entry. ``decode`` takes either variant (JSON when the payload
starts with ``{``); ``encode`` writes the export format (``json_lines=True`` for the JSON one).
"""

from __future__ import annotations

import datetime as dt
import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from workbench import model
from workbench.codecs.base import (
    ENCODING,
    MALFORMED,
    CodecBase,
    Decoded,
    RecordError,
    merge_errors,
    split_lines,
    validate,
)

LEVEL_BY_PRIORITY = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")
PRIORITY_BY_LEVEL = {"TRACE": 7, "DEBUG": 7, "INFO": 6, "WARN": 4, "ERROR": 3, "FATAL": 2}
_OWN = {f.upper(): f for f in (*model.OPTIONAL_STRINGS, "seq")}
_SKIP = frozenset(
    {"__CURSOR", "__MONOTONIC_TIMESTAMP", "__SEQNUM", "__SEQNUM_ID", "__REALTIME_TIMESTAMP",
     "_SOURCE_REALTIME_TIMESTAMP", "PRIORITY", "LEVEL", "SYSLOG_IDENTIFIER", "_HOSTNAME", "MESSAGE",
     "ATTRIBUTES", *_OWN}
)  # fmt: skip
_U64 = struct.Struct("<Q")


class JournaldError(ValueError):
    pass


_PRIORITIES = frozenset("01234567")


def _digits(text: str) -> bool:
    """ASCII digits that make an int of at most 20 digits (``str.isdigit`` also takes ``²``)."""
    return text.isascii() and text.isdigit() and len(text) <= 20


def _text(value: Any) -> str:
    """A journal JSON value as text: strings as they are, byte arrays decoded, repeats joined."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if all(isinstance(b, int) for b in value):
            return bytes(value).decode("utf-8", errors="replace")
        return "\n".join(_text(v) for v in value)
    return str(value)


def to_record(fields: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Journal fields (name to value) to a log entry dict, to be validated."""
    stamp = fields.get("_SOURCE_REALTIME_TIMESTAMP") or fields.get("__REALTIME_TIMESTAMP")
    stamp_text = _text(stamp)
    ts = model.utc_from_micros(int(stamp_text)) if _digits(stamp_text) else now
    level = _text(fields.get("LEVEL"))
    if level not in model.LEVELS:
        priority = _text(fields.get("PRIORITY"))
        level = LEVEL_BY_PRIORITY[int(priority)] if priority in _PRIORITIES else "INFO"
    service = next(
        (t for k in ("SYSLOG_IDENTIFIER", "_COMM", "_SYSTEMD_UNIT") if (t := _text(fields.get(k)))),
        "unknown",
    )
    rec: dict[str, Any] = {
        "timestamp": ts,
        "level": level,
        "service": service,
        "message": _text(fields.get("MESSAGE")),
        "host": _text(fields.get("_HOSTNAME")),
    }
    for name, field in _OWN.items():
        if name in fields:
            value = _text(fields[name])
            rec[field] = (int(value) if _digits(value) else value) if field == "seq" else value
    attrs: dict[str, str] = {k: _text(v) for k, v in fields.items() if k not in _SKIP}
    if "ATTRIBUTES" in fields:
        own = json.loads(_text(fields["ATTRIBUTES"]))
        if not isinstance(own, dict):
            raise JournaldError("ATTRIBUTES is not a JSON object")
        attrs.update(own)
    rec["attributes"] = attrs
    return rec


def split_export(payload: bytes, final: bool = True) -> tuple[list[bytes], int]:
    """Entries of an export-format buffer, and how many bytes they used.

    With ``final=False`` an incomplete last entry is left for the next call (streams), and a
    broken binary field raises ``JournaldError``. With ``final=True`` the bytes from the broken
    entry on become one last entry, which ``parse_export_entry`` then rejects: the entries before
    it are kept.
    """
    entries, used, error = _split_export(payload, final)
    if error is None:
        return entries, used
    if not final:
        raise JournaldError(error)
    return [*entries, payload[used:]], len(payload)


def split_export_stream(buffer: bytes) -> tuple[list[bytes], int, str | None]:
    """For streams: the complete entries of a buffer, the bytes they use, and why the stream is
    broken (a binary field with an impossible length) or None. Entries before a break are kept."""
    return _split_export(buffer, final=False)


def _split_export(payload: bytes, final: bool) -> tuple[list[bytes], int, str | None]:
    """(entries, bytes used, None), or at a broken binary field (entries before it, its start, why)."""
    entries: list[bytes] = []
    pos = start = 0
    end = len(payload)
    while pos < end:
        nl = payload.find(b"\n", pos)
        if nl < 0:
            break
        if nl == pos:  # empty line: end of entry
            if pos > start:
                entries.append(payload[start:pos])
            pos = start = nl + 1
            continue
        line = payload[pos:nl]
        if b"=" in line:
            pos = nl + 1
            continue
        # binary field: NAME \n le64 length, data, \n
        if nl + 9 > end:
            break
        (length,) = _U64.unpack_from(payload, nl + 1)
        data_end = nl + 9 + length
        if data_end + 1 > end:
            if length > (1 << 31):
                return entries, start, f"binary field {line[:64]!r} claims {length} bytes"
            break
        if payload[data_end : data_end + 1] != b"\n":
            return entries, start, f"binary field {line[:64]!r} is not followed by a newline"
        pos = data_end + 1
    if final and start < end and payload[start:].strip():
        entries.append(payload[start:])
        start = end
    return entries, end if final else start, None


def parse_export_entry(entry: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    pos, end = 0, len(entry)
    while pos < end:
        nl = entry.find(b"\n", pos)
        if nl < 0:
            nl = end
        line = entry[pos:nl]
        eq = line.find(b"=")
        if eq >= 0:
            fields[line[:eq].decode("ascii")] = line[eq + 1 :].decode("utf-8")
            pos = nl + 1
            continue
        if nl + 9 > end:
            raise JournaldError(f"field {line[:64]!r} has neither '=' nor a binary length")
        (length,) = _U64.unpack_from(entry, nl + 1)
        data = entry[nl + 9 : nl + 9 + length]
        if len(data) != length:
            raise JournaldError(f"binary field {line[:64]!r} claims {length} bytes, {len(data)} follow")
        if entry[nl + 9 + length : nl + 10 + length] not in (b"\n", b""):
            raise JournaldError(f"binary field {line[:64]!r} is not followed by a newline (a lying length?)")
        fields[line.decode("ascii")] = data.decode("utf-8")
        pos = nl + 9 + length + 1
    return fields


def _export_field(name: str, value: str) -> bytes:
    data = value.encode("utf-8")
    if b"\n" in data:
        return name.encode() + b"\n" + _U64.pack(len(data)) + data + b"\n"
    return name.encode() + b"=" + data + b"\n"


class JournaldCodec(CodecBase):
    name = "journald"
    binary = False
    pool_timestamp = "micros"  # __REALTIME_TIMESTAMP: microseconds since the epoch

    def decode_chunk(self, chunk: bytes, schema_id: int | None = None) -> Decoded:
        return self.decode_json_lines(split_lines(chunk))  # journald's JSON form, one entry per line

    def decode_frame(self, payload: bytes, schema_id: int | None = None) -> Decoded:
        return self.decode(payload)  # the export format (or its JSON form)

    def __init__(self, json_lines: bool = False) -> None:
        self.json_lines = json_lines

    def fields_of(self, e: Any) -> dict[str, str]:
        fields = {
            "__REALTIME_TIMESTAMP": str(model.micros_from_utc(e.timestamp)),
            "PRIORITY": str(PRIORITY_BY_LEVEL[e.level]),
            "SYSLOG_IDENTIFIER": e.service,
            "_HOSTNAME": e.host,
            "MESSAGE": e.message,
        }
        if LEVEL_BY_PRIORITY[PRIORITY_BY_LEVEL[e.level]] != e.level:
            fields["LEVEL"] = e.level
        for name, field in _OWN.items():
            if (v := getattr(e, field)) is not None:
                fields[name] = str(v)
        if e.attributes:
            fields["ATTRIBUTES"] = json.dumps(e.attributes, ensure_ascii=False, separators=(",", ":"))
        return fields

    def encode(self, entries: Sequence[Any]) -> bytes:
        if self.json_lines:
            return b"".join(
                json.dumps(self.fields_of(e), ensure_ascii=False).encode() + b"\n" for e in entries
            )
        out = bytearray()
        for e in entries:
            for name, value in self.fields_of(e).items():
                out += _export_field(name, value)
            out += b"\n"
        return bytes(out)

    def decode(self, payload: bytes, now: dt.datetime | None = None) -> Decoded:
        if payload.lstrip()[:1] == b"{":
            return self.decode_json_lines(split_lines(payload), now)
        try:
            entries, _ = split_export(payload)
        except JournaldError as exc:
            return Decoded(errors=[RecordError(0, MALFORMED, str(exc), payload[:4096])])
        return self.decode_export_entries(entries, now)

    def _finish(
        self, fields_list: list[tuple[int, bytes, Any]], errors: list[RecordError], now: dt.datetime | None
    ) -> Decoded:
        now = now or model.now_utc()
        records: list[dict[str, Any]] = []
        raws: list[bytes] = []
        indexes: list[int] = []
        for i, raw, fields in fields_list:
            try:
                records.append(to_record(fields, now))
            except (ValueError, RecursionError) as exc:  # JournaldError, utc_from_micros, deep JSON
                errors.append(RecordError(i, MALFORMED, str(exc), raw))
                continue
            raws.append(raw)
            indexes.append(i)
        return merge_errors(validate(records, raws, indexes=indexes), errors)

    def decode_export_entries(self, entries: Sequence[bytes], now: dt.datetime | None = None) -> Decoded:
        ok: list[tuple[int, bytes, Any]] = []
        errors: list[RecordError] = []
        for i, raw in enumerate(entries):
            try:
                ok.append((i, raw, parse_export_entry(raw)))
            except UnicodeDecodeError as exc:
                errors.append(RecordError(i, ENCODING, f"not UTF-8: {exc}", raw))
            except JournaldError as exc:
                errors.append(RecordError(i, MALFORMED, str(exc), raw))
        return self._finish(ok, errors, now)

    def decode_json_lines(self, lines: Sequence[bytes], now: dt.datetime | None = None) -> Decoded:
        ok: list[tuple[int, bytes, Any]] = []
        errors: list[RecordError] = []
        for i, raw in enumerate(lines):
            try:
                fields = json.loads(raw)
            except UnicodeDecodeError as exc:
                errors.append(RecordError(i, ENCODING, f"not UTF-8: {exc}", raw))
                continue
            except (ValueError, RecursionError) as exc:
                errors.append(RecordError(i, MALFORMED, f"not JSON: {exc}", raw))
                continue
            if not isinstance(fields, dict):
                errors.append(RecordError(i, MALFORMED, "not a JSON object", raw))
                continue
            ok.append((i, raw, fields))
        return self._finish(ok, errors, now)

    def decode_records(self, records: Sequence[bytes], now: dt.datetime | None = None) -> Decoded:
        return self.decode_export_entries(records, now)


CODEC = JournaldCodec()
