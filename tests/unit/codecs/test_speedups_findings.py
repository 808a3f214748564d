"""Regression tests for what fuzzing the compiled transcoders found (issue 16), in the normal build.

The same reproducers run under AddressSanitizer and UBSan in ``tests/reliability/test_sanitizers.py``
(there a write past the buffer or a signed overflow is reported, which this build cannot see)
and over TLS into a running ingestor in ``tests/reliability/test_speedups_findings_live.py``.
Here: each gives the answer of the Python path, and every entry point refuses ``None``.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import msgspec
import pytest

from workbench import model
from workbench.codecs.avro import AvroCodec
from workbench.codecs.base import MALFORMED
from workbench.codecs.syslog import SyslogCodec
from workbench.ingestor.decoding import normalise
from workbench.speedups import _binary, _json, _raw, _syslog

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))
from seeds import FINDINGS

SLOW = SyslogCodec(fast=False)
NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
LINES = msgspec.json.Decoder(model.LogEntry)


def _payload(hex_seed: str) -> bytes:
    return bytes.fromhex(hex_seed)[1:]  # the seed's first byte is the fuzz target's selector


@pytest.mark.parametrize("seed", FINDINGS["syslog_octet"])
def test_a_frame_whose_line_fills_the_buffer_before_msgid_is_stored_as_the_parser_stores_it(
    seed: str,
) -> None:
    frame = _payload(seed)
    lines, count, pos = _syslog.stored_octet(frame, 1 << 20, b"}\n")
    assert (count, pos) == (1, len(frame))
    record = frame[frame.index(b" ") + 1 :]
    expected = normalise(SLOW.decode_records([record], NOW).entries)
    assert lines == expected
    assert b'"syslog.msgid":"M' in lines
    # the same message through the other two entry points
    assert _syslog.stored_lines(record + b"\n", b"}\n") == (expected, 1)
    assert _syslog.transcode([record]) == expected


@pytest.mark.parametrize("seed", FINDINGS["avro"])
def test_avro_block_counts_at_the_int64_limits_are_declined_and_left_to_the_library(seed: str) -> None:
    """The transcoder declines them (no negation of -2^63, no n + 2^63 - 1); fastavro then says
    what they are (the first is an empty array to it, the others are malformed)."""
    payload = _payload(seed)
    assert _binary.avro_transcode(payload, 5) is None
    fast, slow = AvroCodec().decode(payload), AvroCodec(fast=False).decode(payload)
    assert not fast.entries and not slow.entries
    assert [e.reason for e in fast.errors] == [e.reason for e in slow.errors]
    assert {e.reason for e in fast.errors} <= {MALFORMED}


def test_avro_start_outside_the_payload_is_an_error_not_a_read() -> None:
    with pytest.raises(ValueError, match="outside the payload"):
        _binary.avro_transcode(b"\x00" * 8, 9)
    with pytest.raises(ValueError, match="outside the payload"):
        _binary.avro_transcode(b"\x00" * 8, -1)
    assert _binary.avro_transcode(b"\x00" * 6, 5) == (b"", 0)  # start at an empty array: fine


CALLS = [
    ("json transcode chunk", lambda: _json.transcode(None, b"}\n")),  # type: ignore[arg-type]
    ("json transcode end", lambda: _json.transcode(b"", None)),  # type: ignore[arg-type]
    ("raw transcode chunk", lambda: _raw.transcode(None, b"}\n")),  # type: ignore[arg-type]
    ("raw transcode end", lambda: _raw.transcode(b"", None)),  # type: ignore[arg-type]
    ("syslog stored_lines chunk", lambda: _syslog.stored_lines(None, b"}\n")),  # type: ignore[arg-type]
    ("syslog stored_lines end", lambda: _syslog.stored_lines(b"", None)),  # type: ignore[arg-type]
    ("syslog stored_octet buf", lambda: _syslog.stored_octet(None, 10, b"}\n")),  # type: ignore[arg-type]
    ("syslog stored_octet end", lambda: _syslog.stored_octet(b"", 10, None)),  # type: ignore[arg-type]
    ("syslog octet_frames", lambda: _syslog.octet_frames(None, 10)),  # type: ignore[arg-type]
    ("syslog transcode list", lambda: _syslog.transcode(None)),  # type: ignore[arg-type]
    ("syslog transcode item", lambda: _syslog.transcode([b"<14>1 - - - - - -", None])),  # type: ignore[list-item]
    ("proto_transcode payload", lambda: _binary.proto_transcode(None)),  # type: ignore[arg-type]
    ("proto_transcode end", lambda: _binary.proto_transcode(b"", None)),  # type: ignore[arg-type]
    ("proto_count", lambda: _binary.proto_count(None)),  # type: ignore[arg-type]
    ("avro_transcode payload", lambda: _binary.avro_transcode(None, 0)),  # type: ignore[arg-type]
    ("avro_transcode end", lambda: _binary.avro_transcode(b"\x00", 0, None)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "call"), CALLS, ids=[c[0] for c in CALLS])
def test_every_entry_point_refuses_none_where_it_takes_bytes(name: str, call) -> None:
    with pytest.raises(TypeError):
        call()
