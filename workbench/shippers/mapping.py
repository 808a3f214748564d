"""What the HEC, Elasticsearch and Loki codecs share: taking the entry's fields out of a
protocol's flat key/value pairs (HEC ``fields``, Loki labels, a flattened Elasticsearch document)
and validating the records of one request.

A pair named ``seq`` whose value is digits (or a non-negative integer) becomes the entry's
``seq``; ``client_id``, ``user_id``/``user.id``, ``session_id``/``session.id`` and
``trace_id``/``trace.id`` fill those fields. A level word that is not one (``verbose``) and a
``seq`` that is not digits stay attributes, so nothing a sender wrote is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from workbench.shippers.base import Decoded, RecordError, attributes_of, level_from_text, validate

KNOWN_FIELDS = {
    "seq": "seq", "client_id": "client_id", "user_id": "user_id", "user.id": "user_id",
    "session_id": "session_id", "session.id": "session_id", "trace_id": "trace_id", "trace.id": "trace_id",
}  # fmt: skip
RAW_BYTES = 512  # what a rejection keeps of its record
SEQ_PAST_MAXIMUM = 1 << 63  # what a seq of more digits than int64 holds stands for


def pop_text(pairs: dict[str, Any], names: Iterable[str]) -> str | None:
    """The first of ``names`` whose value is a non-empty string, taken out of ``pairs``."""
    for name in names:
        value = pairs.get(name)
        if isinstance(value, str) and value:
            del pairs[name]
            return value
    return None


def pop_level(pairs: dict[str, Any], names: Iterable[str]) -> str:
    """The level the first of ``names`` that holds a level word or syslog number gives (taken out
    of ``pairs``); INFO when none does."""
    for name in names:
        if name in pairs:
            level = level_from_text(pairs[name], "")
            if level:
                del pairs[name]
                return level
    return "INFO"


def promote(record: dict[str, Any], pairs: dict[str, Any]) -> None:
    """Move ``seq``, ``client_id`` and the other optional fields from ``pairs`` into the record."""
    for key in [k for k in pairs if k in KNOWN_FIELDS]:
        field = KNOWN_FIELDS[key]
        value = pairs[key]
        if field == "seq":
            if isinstance(value, str) and value.isdigit() and value.isascii():
                # past 19 digits it is past the schema's maximum whatever it is (and int() refuses
                # more than 4,300 digits): the record is rejected as any seq past int64 is
                value = int(value) if len(value) <= 19 else SEQ_PAST_MAXIMUM
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                continue  # not a seq: it stays an attribute
        elif not isinstance(value, str):
            if value is None:
                continue
            value = msgspec.json.encode(value).decode()
        record[field] = value
        del pairs[key]


def finish(record: dict[str, Any], pairs: dict[str, Any]) -> dict[str, Any]:
    """The record with what is left of ``pairs`` as its string attributes."""
    promote(record, pairs)
    if pairs:
        record["attributes"] = attributes_of(pairs)
    return record


def validated(
    records: list[dict[str, Any]],
    indexes: Sequence[int],
    raws: Callable[[int], bytes],
    errors: list[RecordError],
) -> Decoded:
    """Records validated into entries (``indexes``: each record's index in the request; ``raws``:
    the raw bytes of the record at a position of ``records``), with the errors found before."""
    decoded = validate(records, raws, indexes=indexes)
    if errors:
        decoded.errors.extend(errors)
        decoded.errors.sort(key=lambda err: err.index)
    return decoded


def short(raw: bytes) -> bytes:
    return raw[:RAW_BYTES]


def json_raw(value: Any) -> bytes:
    """A parsed value back as short JSON bytes, for a rejection's sample."""
    return short(msgspec.json.encode(value, enc_hook=str))
