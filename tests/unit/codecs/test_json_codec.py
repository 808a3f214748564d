"""JSON lines: round trip of any valid entry, hand-written vectors, and every kind of bad line.

Invariant: ``decode(encode(batch)).entries == batch`` for every valid batch; JSON carries every
field exactly, so the strategy is not narrowed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from codec_strategies import (
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_MESSAGE,
    PROPERTY,
    batches,
    make_entry,
    reasons,
    sample_batch,
)
from hypothesis import given

from workbench.codecs.base import ENCODING, INVALID, MALFORMED
from workbench.codecs.json import JsonCodec
from workbench.ingestor.decoding import normalise

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

CODEC = JsonCodec()
GOOD = b'{"timestamp":"2025-06-30T21:59:23.123Z","level":"ERROR","service":"payment-api","message":"charge failed","host":"web-1"}'


@PROPERTY
@given(batches())
def test_round_trip(batch: list) -> None:
    decoded = CODEC.decode(CODEC.encode(batch))
    assert decoded.errors == []
    assert decoded.entries == batch


def test_round_trip_sample_and_empty_batch() -> None:
    batch = sample_batch()
    assert CODEC.decode(CODEC.encode(batch)).entries == batch
    assert CODEC.encode([]) == b""
    empty = CODEC.decode(b"")
    assert (empty.entries, empty.errors) == ([], [])


def test_golden_line() -> None:
    (entry,) = CODEC.decode(GOOD + b"\n").entries
    assert entry.timestamp == dt.datetime(2025, 6, 30, 21, 59, 23, 123_000, tzinfo=dt.UTC)
    assert (entry.level, entry.service, entry.message, entry.host) == (
        "ERROR",
        "payment-api",
        "charge failed",
        "web-1",
    )
    assert entry.attributes == {} and entry.user_id is None and entry.seq is None


def test_offsets_are_the_same_instant_and_crlf_and_blank_lines_are_fine() -> None:
    line = GOOD.replace(b"21:59:23.123Z", b"23:59:23.123+02:00")
    decoded = CODEC.decode(b"\r\n" + line + b"\r\n\r\n" + GOOD + b"\r\n")
    assert decoded.errors == []
    assert decoded.entries[0] == decoded.entries[1]


def test_maximum_sizes_pass_and_one_more_is_invalid() -> None:
    biggest = make_entry(
        message="m" * MAX_MESSAGE,
        attributes={str(i): "v" * MAX_ATTRIBUTE_VALUE for i in range(MAX_ATTRIBUTES)},
    )
    assert CODEC.decode(CODEC.encode([biggest])).entries == [biggest]
    over = GOOD.replace(b'"charge failed"', b'"' + b"m" * (MAX_MESSAGE + 1) + b'"')
    assert reasons(CODEC.decode(over)) == [INVALID]


def test_bad_lines_are_rejected_with_their_reason_and_the_good_ones_kept() -> None:
    bad = {
        b'{"timestamp":"2025-06-30T21:59:23Z","level":"ERROR"': MALFORMED,  # truncated
        b"not json at all": MALFORMED,
        GOOD.replace(b"charge failed", b"charge \xff\xfe failed"): ENCODING,
        GOOD.replace(b'"ERROR"', b'"LOUD"'): INVALID,  # level outside the enum
        GOOD.replace(b'"web-1"', b"42"): INVALID,  # wrong type
        GOOD.replace(b"Z", b""): INVALID,  # naive timestamp
        GOOD.replace(b'"host":"web-1"', b'"host":"web-1","extra":1'): INVALID,  # unknown field
        GOOD.replace(b',"host":"web-1"', b""): INVALID,  # missing required field
        GOOD[:-1] + b',"seq":-1}': INVALID,
        GOOD[:-1] + b',"seq":9223372036854775808}': INVALID,
        GOOD[:-1] + b',"attributes":{"a":1}}': INVALID,
        b"[1, 2]": INVALID,
        b'{"attributes":' + b"[" * 50_000: INVALID,  # deep nesting: no RecursionError
    }
    lines = [GOOD]
    for line in bad:
        lines += [line, GOOD]
    decoded = CODEC.decode(b"\n".join(lines) + b"\n")
    assert len(decoded.entries) == len(bad) + 1
    assert [(e.index, e.reason) for e in decoded.errors] == [
        (2 * i + 1, r) for i, r in enumerate(bad.values())
    ]
    assert all(e.raw and e.detail for e in decoded.errors)


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
def test_an_offset_that_leaves_the_calendar_in_utc_is_rejected_not_raised(stamp: str) -> None:
    """msgspec keeps the offset; storing converts to UTC, which would raise for these instants."""
    good = b'{"timestamp":"2025-06-30T21:59:23Z","level":"INFO","service":"s","message":"m","host":"h"}'
    bad = good.replace(b"2025-06-30T21:59:23Z", stamp.encode())
    out = JsonCodec().decode(good + b"\n" + bad + b"\n" + good + b"\n")
    assert len(out.entries) == 2 and [(e.index, e.reason) for e in out.errors] == [(1, "invalid")]
    normalise(out.entries)
