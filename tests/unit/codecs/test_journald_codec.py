"""journald: export format and ``journalctl -o json`` round trips, golden entries, bad input.

Invariant: ``decode(encode(batch)).entries == batch`` in both variants. Our layout writes
attributes as one ``ATTRIBUTES`` JSON field and values with a newline as binary fields, so
any text travels; the one narrowing is the timestamp: ``__REALTIME_TIMESTAMP`` is an
unsigned count of microseconds, so entries start at the epoch (1970-01-01) at the earliest.
"""

from __future__ import annotations

import datetime as dt
import json
import struct

import pytest
from codec_strategies import EPOCH, PROPERTY, batches, entries, make_entry, reasons, sample_batch, timestamps
from hypothesis import given

from workbench.codecs.base import ENCODING, INVALID, MALFORMED
from workbench.codecs.journald import JournaldCodec

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

CODEC = JournaldCodec()
JSON = JournaldCodec(json_lines=True)
NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
SINCE_EPOCH = batches(entries(ts=timestamps(min_value=EPOCH)))


def binary_field(name: bytes, data: bytes, length: int | None = None) -> bytes:
    return name + b"\n" + struct.pack("<Q", len(data) if length is None else length) + data + b"\n"


EXPORT_ENTRY = (
    b"__CURSOR=s=6f1c;i=1a2b\n"
    b"__REALTIME_TIMESTAMP=1751320763123000\n"
    b"__MONOTONIC_TIMESTAMP=4242\n"
    b"_BOOT_ID=0f4e1f7c9a2b4c1d\n"
    b"PRIORITY=3\n"
    b"SYSLOG_IDENTIFIER=payment-api\n"
    b"_HOSTNAME=web-1\n"
    b"_PID=4242\n" + binary_field(b"MESSAGE", b"charge failed\ncard declined") + b"\n"
)


@PROPERTY
@given(SINCE_EPOCH)
def test_round_trip_export(batch: list) -> None:
    decoded = CODEC.decode(CODEC.encode(batch))
    assert decoded.errors == []
    assert decoded.entries == batch


@PROPERTY
@given(SINCE_EPOCH)
def test_round_trip_json_lines(batch: list) -> None:
    decoded = JSON.decode(JSON.encode(batch))
    assert decoded.errors == []
    assert decoded.entries == batch


def test_round_trip_sample_and_empty_batch() -> None:
    for codec in (CODEC, JSON):
        assert codec.decode(codec.encode(sample_batch())).entries == sample_batch()
        assert codec.encode([]) == b""
        empty = codec.decode(b"")
        assert (empty.entries, empty.errors) == ([], [])


def test_encoding_layout() -> None:
    entry = make_entry(level="TRACE", message="two\nlines", attributes={"k": "v"})
    assert CODEC.encode([entry]) == (
        b"__REALTIME_TIMESTAMP=1751320763123000\nPRIORITY=7\nSYSLOG_IDENTIFIER=payment-api\n_HOSTNAME=web-1\n"
        + binary_field(b"MESSAGE", b"two\nlines")
        + b'LEVEL=TRACE\nUSER_ID=42\nSEQ=7\nATTRIBUTES={"k":"v"}\n\n'
    )


def test_golden_export_entry_with_a_binary_field() -> None:
    decoded = CODEC.decode(EXPORT_ENTRY + EXPORT_ENTRY.replace(b"PRIORITY=3", b"PRIORITY=6"), NOW)
    assert decoded.errors == []
    first, second = decoded.entries
    assert first.timestamp == dt.datetime(2025, 6, 30, 21, 59, 23, 123_000, tzinfo=dt.UTC)
    assert (first.level, first.service, first.host) == ("ERROR", "payment-api", "web-1")
    assert first.message == "charge failed\ncard declined"
    assert first.attributes == {"_BOOT_ID": "0f4e1f7c9a2b4c1d", "_PID": "4242"}
    assert second.level == "INFO"


def test_golden_journalctl_json_lines() -> None:
    lines = [
        # journalctl writes a MESSAGE with control characters or bad UTF-8 as an array of bytes
        {"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "1751320763123000", "PRIORITY": "4", "_COMM": "sshd",
         "_HOSTNAME": "h", "MESSAGE": list(b"hi \x1b[1mthere\x1b[0m")},
        # a field repeated in one entry becomes an array of strings; the source stamp wins
        {"__REALTIME_TIMESTAMP": "1751320763123000", "_SOURCE_REALTIME_TIMESTAMP": "1751320700000000",
         "SYSLOG_IDENTIFIER": "app", "MESSAGE": "m", "PRIORITY": "6", "TAG": ["a", "b"], "LEVEL": "TRACE"},
        {"MESSAGE": "no stamp, no priority, no identifier", "_SYSTEMD_UNIT": "cron.service"},
    ]  # fmt: skip
    payload = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    decoded = CODEC.decode(payload, NOW)
    assert decoded.errors == []
    ansi, repeated, bare = decoded.entries
    assert (ansi.message, ansi.service, ansi.level, ansi.host) == (
        "hi \x1b[1mthere\x1b[0m",
        "sshd",
        "WARN",
        "h",
    )
    assert ansi.attributes == {"_COMM": "sshd"}
    assert repeated.timestamp == dt.datetime(2025, 6, 30, 21, 58, 20, tzinfo=dt.UTC)
    assert (repeated.level, repeated.attributes) == ("TRACE", {"TAG": "a\nb"})
    assert (bare.timestamp, bare.level, bare.service) == (NOW, "INFO", "cron.service")


def test_bad_export_entries_are_rejected_and_the_good_ones_kept() -> None:
    good = b"__REALTIME_TIMESTAMP=1751320763123000\nSYSLOG_IDENTIFIER=a\nMESSAGE=fine\n\n"
    bad = {
        b"SYSLOG_IDENTIFIER=a\nMESSAGE=bad \xff utf-8\n\n": ENCODING,
        b"SYSLOG_IDENTIFIER=a\nN\xffME=x\n\n": ENCODING,
        b"SYSLOG_IDENTIFIER=a\n" + binary_field(b"MESSAGE", b"\xff\xfe") + b"\n": ENCODING,
        b"SYSLOG_IDENTIFIER=a\nSEQ=abc\n\n": INVALID,
        b"SYSLOG_IDENTIFIER=a\nATTRIBUTES=[1]\n\n": MALFORMED,
        b'SYSLOG_IDENTIFIER=a\nATTRIBUTES={"k": 1}\n\n': INVALID,
        b"SYSLOG_IDENTIFIER=a\n__REALTIME_TIMESTAMP=99999999999999999999\n\n": MALFORMED,  # after year 9999
    }
    payload = good + b"".join(b + good for b in bad)
    decoded = CODEC.decode(payload, NOW)
    assert len(decoded.entries) == len(bad) + 1
    assert [(e.index, e.reason) for e in decoded.errors] == [
        (2 * i + 1, r) for i, r in enumerate(bad.values())
    ]


@pytest.mark.parametrize(
    "broken",
    [
        binary_field(b"MESSAGE", b"short", length=4096),  # lying length, runs past the end
        binary_field(b"MESSAGE", b"short", length=2),  # lying length, not followed by a newline
        binary_field(b"MESSAGE", b"x", length=2**40),  # absurd length
        b"MESSAGE\n\x05\x00",  # a length cut off
    ],
)
def test_a_binary_field_with_a_lying_length_keeps_the_entries_before_it(broken: bytes) -> None:
    good = b"SYSLOG_IDENTIFIER=a\nMESSAGE=fine\n\n"
    decoded = CODEC.decode(good + good + b"SYSLOG_IDENTIFIER=a\n" + broken + b"\n" + good, NOW)
    assert len(decoded.entries) == 2
    assert [(e.index, e.reason) for e in decoded.errors] == [(2, MALFORMED)]


def test_bad_json_lines_are_rejected_and_the_good_ones_kept() -> None:
    good = b'{"MESSAGE": "fine", "SYSLOG_IDENTIFIER": "a", "PRIORITY": "6"}'
    bad = {
        b'{"MESSAGE": "truncated': MALFORMED,
        b'{"MESSAGE": "bad \xff utf-8"}': ENCODING,
        b"[1, 2, 3]": MALFORMED,
        b'{"MESSAGE": [104, 300]}': MALFORMED,  # not a byte
        b'{"MESSAGE": "m", "SEQ": "-1"}': INVALID,
        b'{"MESSAGE": "m", "SEQ": "\xc2\xb2"}': INVALID,  # superscript two: str.isdigit, not int()
        b'{"MESSAGE": ' + b"[" * 100_000 + b"]" * 100_000 + b"}": MALFORMED,  # too deep for json
        b'{"MESSAGE": ' + b"[" * 900 + b"]" * 900 + b"}": MALFORMED,  # deep but parses: not text
    }
    payload = b"\n".join([good, *[x for b in bad for x in (b, good)]])
    decoded = CODEC.decode(payload, NOW)
    assert len(decoded.entries) == len(bad) + 1
    assert [(e.index, e.reason) for e in decoded.errors] == [
        (2 * i + 1, r) for i, r in enumerate(bad.values())
    ]
    assert reasons(JSON.decode(b'{"MESSAGE": 1, "ATTRIBUTES": "{"}')) == [MALFORMED]
