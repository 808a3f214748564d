"""Every decoder on random and mutated bytes: it never raises and never hangs.

Invariant: for any bytes, ``decode`` (and ``decode_records`` of the text codecs) returns a
``Decoded`` whose entries are valid ``LogEntry`` objects and whose errors carry a known reason,
an index and a detail. Mutated payloads (a valid batch truncated, with bytes flipped or
inserted) reach deeper into each parser than random bytes do.
"""

from __future__ import annotations

import datetime as dt

import pytest
from codec_strategies import FUZZ, sample_batch
from hypothesis import given
from hypothesis import strategies as st

from workbench import model
from workbench.codecs import FORMATS, get
from workbench.codecs.base import ENCODING, INVALID, MALFORMED, TOO_LARGE, UNKNOWN_SCHEMA, Decoded
from workbench.codecs.journald import JournaldCodec
from workbench.codecs.syslog import SyslogCodec

REASONS = {MALFORMED, INVALID, ENCODING, TOO_LARGE, UNKNOWN_SCHEMA}
NOW = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
CODECS = {name: get(name) for name in FORMATS}
ENCODERS = {
    **CODECS,
    "syslog-lines": SyslogCodec(octet_counting=False),
    "journald-json": JournaldCodec(json_lines=True),
}
VALID = {name: codec.encode(sample_batch()) for name, codec in ENCODERS.items()}
# bytes each format's parser cares about, so random input reaches past the first check
SYNTAX = st.sampled_from(
    [b"<", b">", b"1 ", b"<13>1 ", b"[", b"]", b'="', b"\\", b'"', b"{", b"}", b"\n", b"\r\n", b"=", b"\x00",
     b"\xff", b"\x0a\x7f", b"MESSAGE\n", b"\x01\x00\x00\x00\x00\x00\x00\x00", b"2025-06-30T21:59:23Z ",
     b"Jun 14 15:16:01 ", b" host=", b" seq=", b"\xc2\xb2", b"9" * 30]
)  # fmt: skip
SYNTAX_BYTES = st.lists(SYNTAX | st.binary(max_size=8), max_size=30).map(b"".join)


def check(decoded: Decoded) -> None:
    assert isinstance(decoded, Decoded)
    assert all(isinstance(e, model.LogEntry) for e in decoded.entries)
    for err in decoded.errors:
        assert err.reason in REASONS and err.index >= 0 and err.detail


def decode_everything(payload: bytes) -> None:
    for name, codec in CODECS.items():
        if name in ("raw", "syslog", "journald"):
            check(codec.decode(payload, NOW))  # type: ignore[call-arg]
            check(codec.decode_records(payload.split(b"\n"), NOW))  # type: ignore[attr-defined]
        else:
            check(codec.decode(payload))
    check(CODECS["journald"].decode_json_lines(payload.split(b"\n"), NOW))  # type: ignore[attr-defined]


@pytest.mark.timeout(120)
@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_never_raise(payload: bytes) -> None:
    decode_everything(payload)


@pytest.mark.timeout(120)
@FUZZ
@given(SYNTAX_BYTES)
def test_bytes_made_of_format_syntax_never_raise(payload: bytes) -> None:
    decode_everything(payload)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(VALID)))
    data = bytearray(VALID[name])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(SYNTAX | st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return name, bytes(data)


@pytest.mark.timeout(120)
@FUZZ
@given(mutated())
def test_mutated_valid_payloads_never_raise(case: tuple[str, bytes]) -> None:
    name, payload = case
    codec = ENCODERS[name]
    if name in ("proto", "avro", "json"):
        check(codec.decode(payload))
    else:
        check(codec.decode(payload, NOW))  # type: ignore[call-arg]


def test_every_codec_decodes_its_own_sample() -> None:
    for name, payload in VALID.items():
        codec = ENCODERS[name]
        decoded = codec.decode(payload)
        assert decoded.errors == [], name
        assert decoded.entries == sample_batch(), name
