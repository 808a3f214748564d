"""The raw codec's Python parser on inputs that made it raise: it decodes them, and what it
decodes can be stored.

(The compiled transcoder's tests join this module; these cases are what its differential tests
found in the parser.)
"""

from __future__ import annotations

import datetime as dt

import pytest

from workbench.codecs.raw import RawCodec
from workbench.ingestor.decoding import normalise

SLOW = RawCodec()
NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
TS = b"2025-06-30T21:59:23.123456Z"


@pytest.mark.parametrize(
    "line", [b"0001-01-01T00:00:00+01:00 INFO s: m", b"9999-12-31T23:59:59-01:00 INFO s: m"]
)
def test_a_stamp_out_of_range_once_in_utc_is_a_foreign_line_not_an_exception(line: bytes) -> None:
    """``datetime.astimezone`` raises OverflowError there; like any stamp that is no real time,
    the line is then a foreign one, at the receive time."""
    (entry,) = SLOW.decode(line, NOW).entries
    assert (entry.timestamp, entry.service, entry.message) == (NOW, "raw", line.decode())


@pytest.mark.parametrize(
    "line",
    [
        TS + b' INFO s: "\\ud800 lone high" host=a',
        TS + b' INFO s: m host="\\udc00"',
        TS + b' INFO s: m attr."\\ud83d"=v',
        TS + b' INFO "\\ud800": m',
    ],
)
def test_a_lone_surrogate_escape_in_json_quoted_text_is_not_stored_as_a_string(line: bytes) -> None:
    """A JSON string may escape a lone surrogate; no UTF-8 can carry it, so ``normalise`` raised.
    The text is then no JSON string to the parser: it stays as written."""
    decoded = SLOW.decode(line + b"\n", NOW)
    assert decoded.errors == [] and len(decoded.entries) == 1
    assert b"\\\\ud8" in normalise(decoded.entries) or b"\\\\udc00" in normalise(decoded.entries)
