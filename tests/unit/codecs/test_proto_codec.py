"""Protobuf ``LogBatch``: round trip of any valid entry, and broken frames of every kind.

Invariant: ``decode(encode(batch)).entries == batch``; proto3 strings, int64 and
``optional`` carry every field exactly, so the strategy is not narrowed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from codec_strategies import PROPERTY, batches, make_entry, reasons, sample_batch
from hypothesis import given

from workbench._generated import log_pb2
from workbench.codecs.base import ENCODING, INVALID, MALFORMED
from workbench.codecs.proto import ProtoCodec

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

CODEC = ProtoCodec()


def entry_bytes(**fields: object) -> bytes:
    base: dict[str, object] = {
        "timestamp": 1_751_320_763_123_000,
        "level": 5,
        "service": "api",
        "message": "m",
        "host": "h",
    }
    base.update(fields)
    return log_pb2.LogEntry(**base).SerializeToString()


def batch_of(*entries: bytes) -> bytes:
    """A LogBatch from serialized entries (field 1, length-delimited), built by hand."""
    out = b""
    for e in entries:
        assert len(e) < 128
        out += b"\x0a" + bytes([len(e)]) + e
    return out


@PROPERTY
@given(batches())
def test_round_trip(batch: list) -> None:
    decoded = CODEC.decode(CODEC.encode(batch))
    assert decoded.errors == []
    assert decoded.entries == batch


def test_round_trip_sample_and_empty_batch() -> None:
    batch = sample_batch()
    assert CODEC.decode(CODEC.encode(batch)).entries == batch
    empty = CODEC.decode(CODEC.encode([]))
    assert (empty.entries, empty.errors) == ([], [])


def test_golden_entry() -> None:
    (entry,) = CODEC.decode(batch_of(entry_bytes(user_id="42", seq=7, attributes={"a": "b"}))).entries
    assert entry == make_entry(service="api", message="m", host="h", attributes={"a": "b"})
    assert entry.timestamp == dt.datetime(2025, 6, 30, 21, 59, 23, 123_000, tzinfo=dt.UTC)


def test_invalid_entries_are_rejected_and_their_neighbours_kept() -> None:
    good = entry_bytes()
    bad = [
        entry_bytes(level=0),  # LEVEL_UNSPECIFIED
        entry_bytes(level=99),  # a number no enum value has
        entry_bytes(timestamp=2**63 - 1),  # after the year 9999
        entry_bytes(service=""),  # minLength 1
        entry_bytes(seq=-1),
    ]
    payload = batch_of(good, *[x for b in bad for x in (b, good)])
    decoded = CODEC.decode(payload)
    assert len(decoded.entries) == len(bad) + 1
    assert [(e.index, e.reason) for e in decoded.errors] == [(2 * i + 1, INVALID) for i in range(len(bad))]
    assert "9999" in decoded.errors[2].detail


def test_bad_utf8_in_one_entry_keeps_the_others() -> None:
    good = entry_bytes()
    bad = entry_bytes(message="xyz").replace(b"xyz", b"x\xffz")
    decoded = CODEC.decode(batch_of(good, bad, good))
    assert len(decoded.entries) == 2
    assert [(e.index, e.reason) for e in decoded.errors] == [(1, ENCODING)]
    assert decoded.errors[0].raw == bad


def test_truncated_frame_keeps_the_complete_entries() -> None:
    payload = CODEC.encode(sample_batch())
    decoded = CODEC.decode(payload[:-3])
    assert decoded.entries == sample_batch()[:-1]
    assert [(e.index, e.reason) for e in decoded.errors] == [(len(sample_batch()) - 1, MALFORMED)]


def test_lying_lengths_and_garbage_are_malformed() -> None:
    good = entry_bytes()
    cases = {
        "length past the end": batch_of(good) + b"\x0a\x7f" + good,
        "huge varint length": b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f" + good,
        "overlong varint": b"\x0a" + b"\xff" * 12,
        "bad wire type": batch_of(good) + b"\x0f\x01",
        "entry with a lying inner length": b"\x0a\x05" + b"\x22\x7fabc",
    }
    for name, payload in cases.items():
        decoded = CODEC.decode(payload)
        assert reasons(decoded) and set(reasons(decoded)) == {MALFORMED}, name
    assert len(CODEC.decode(cases["length past the end"]).entries) == 1
    assert len(CODEC.decode(cases["bad wire type"]).entries) == 1


def test_unknown_fields_are_ignored() -> None:
    """Forward compatibility: a newer writer's extra fields do not break the batch."""
    good = entry_bytes()
    extra = good + b"\xa0\x06\x01"  # field 100, varint 1
    decoded = CODEC.decode(batch_of(extra) + b"\x10\x05")  # and an unknown varint field 2 in the batch
    assert len(decoded.entries) == 1 and decoded.errors == []
