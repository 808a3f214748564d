"""The compiled RFC 5424 transcoder against the Python parser: same entries, same rejections.

``SyslogCodec(fast=True)`` (the default) runs ``workbench.speedups._syslog`` and falls back to the
Python parser for a batch it does not handle; ``fast=False`` is the parser alone. Every property
here decodes the same records both ways. The golden cases also check that the fast path really
took them (``jsonl`` set), so a transcoder that declined everything could not pass.
"""

from __future__ import annotations

import datetime as dt
import itertools

import msgspec
import pytest
from codec_strategies import ANY_CHAR, PROPERTY, batches, entries
from hypothesis import given
from hypothesis import strategies as st

from workbench import model, speedups, wire
from workbench.codecs.syslog import SyslogCodec, split_octet_counted
from workbench.errors import FramingError
from workbench.ingestor.decoding import normalise
from workbench.speedups import _syslog

FAST = SyslogCodec(fast=True)
SLOW = SyslogCodec(fast=False)
NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
LINES = msgspec.json.Decoder(model.LogEntry)


# how the ingestor ends each stored line (``decoding.stored_suffix``)
END = b',"received_at":"2025-07-01T12:00:00Z","format":"syslog","transport":"tls","peer":"127.0.0.1:9"}\n'


def both(records: list[bytes]) -> tuple[object, object]:
    fast, slow = FAST.decode_records(records, NOW), SLOW.decode_records(records, NOW)
    assert fast.entries == slow.entries
    assert [(e.index, e.reason) for e in fast.errors] == [(e.index, e.reason) for e in slow.errors]
    if fast.jsonl is not None:  # what is stored: byte for byte what normalise writes
        assert fast.jsonl == normalise(slow.entries)
    stored_both_ways(records)
    return fast, slow


def python_stored(records: list[bytes]) -> bytes | None:
    """What the ingestor stores of these messages through the parser; None when it rejects one."""
    slow = SLOW.decode_records(records, NOW)
    return None if slow.errors else normalise(slow.entries).replace(b"}\n", END)


def stored_both_ways(records: list[bytes]) -> None:
    """The ingestor's direct paths (no msgspec after them) store only what the parser would store,
    byte for byte: newline-separated, and octet-counted up to the first declined frame."""
    if not any(b"\n" in r.rstrip(b"\r\n") for r in records):
        got = _syslog.stored_lines(b"".join(r.rstrip(b"\r\n") + b"\n" for r in records), END)
        if got is not None:
            assert got == (python_stored(records), len(records))
    frames = [b"%d %s" % (len(r), r) for r in records]
    lines, count, pos = _syslog.stored_octet(b"".join(frames), 1 << 20, END)
    assert pos == sum(len(f) for f in frames[:count])
    assert lines == (python_stored(records[:count]) if count else b"")


def test_the_transcoders_are_compiled() -> None:
    """`make venv` compiles them (Cython, gcc); without them the Python paths run several times
    slower, so CI must have them."""
    assert speedups.available() == dict.fromkeys(speedups.MODULES, True)
    assert FAST.fast


GOLDEN = [
    # our generator's shape
    b'<14>1 2025-06-30T21:00:00.001013Z web-4 inventory - - [log@32473 user_id="2928" client_id="gen-1" '
    b'seq="0"][attr@32473 k0="42" k1="v2.3.1"] charge failed for order 44592: card declined',
    # loggen's: +00:00, PROCID, no SD, a BOM before MSG, facility 4
    b"<38>1 2026-11-27T00:47:10+00:00 localhost prg00000 1234 - - \xef\xbb\xbfseq: 0000000000, thread: 0001, "
    b"runid: 1795740430, stamp: 2026-11-27T00:47:10 PADDPADD",
    # RFC 5424's own examples (section 6.5), the ones with a UTC stamp
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8",
    b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
    b'eventSource="Application" eventID="1011"] \xef\xbb\xbfAn application event log entry...',
    b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
    b'eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
    # TRACE travels as a level param; quotes, backslashes, tabs and other controls in MSG; no MSG at all
    b'<15>1 2025-06-30T21:00:00Z h s - - [log@32473 level="TRACE" seq="9"] say "hi" \\ there\tnow\x01\x7f',
    b"<13>1 2025-06-30T21:00:00.500Z - s - - -",
    b"<13>1 2025-06-30T21:00:00.500Z - s - - - ",
    # unicode in MSG and values, an empty value, unknown params of log@32473 become attributes
    b'<191>1 2025-06-30T21:00:00-00:00 h s p m [log@32473 session_id="" extra="x"][x@1 a="\xc3\xa9]"] caf\xc3\xa9 \xf0\x9f\x98\x80',
    # our generator pads seq to a fixed width (patched in place): the padding is not part of it
    b'<14>1 2025-06-30T21:00:00Z h s - - [log@32473 client_id="c" seq="000000000042"] padded',
    b'<14>1 2025-06-30T21:00:00Z h s - - [log@32473 seq="00000000000000000000"] twenty zeros',
    # CRLF and LF endings are not part of the message
    b"<14>1 2025-06-30T21:00:00Z h s - - - ends with crlf\r\n",
]


@pytest.mark.parametrize("record", GOLDEN, ids=range(len(GOLDEN)))
def test_golden_messages_take_the_fast_path_and_match_the_parser(record: bytes) -> None:
    fast, _ = both([record])
    assert fast.jsonl is not None and fast.errors == [], record  # type: ignore[attr-defined]


def test_golden_messages_are_stored_directly_in_one_c_call() -> None:
    payload = b"".join(r.rstrip(b"\r\n") + b"\n" for r in GOLDEN)
    assert _syslog.stored_lines(payload, END) == (python_stored(GOLDEN), len(GOLDEN))
    stream = b"".join(b"%d %s\r\n" % (len(r), r) for r in GOLDEN)  # a trailer after each frame, too
    assert _syslog.stored_octet(stream, 1 << 20, END) == (python_stored(GOLDEN), len(GOLDEN), len(stream) - 2)


def test_the_codec_stores_directly_only_while_the_checks_enforce_the_schema(monkeypatch) -> None:
    payload = b"".join(b"%d %s" % (len(r), r) for r in GOLDEN[:3])
    assert FAST.stored(payload, END) == (python_stored(GOLDEN[:3]), 3)
    assert SLOW.stored(payload, END) is None
    monkeypatch.setattr("workbench.codecs.syslog.STORE_DIRECT", False)
    assert FAST.stored(payload, END) is None


OFFSETS = [  # taken: written in UTC, as the parser does
    b"<14>1 2025-06-30T21:00:00+02:00 h s - - - an offset other than UTC",
    b"<14>1 2025-01-01T01:30:00.5+05:30 h s - - - half an hour, one fractional digit",
    b"<14>1 2025-06-30T21:00:00.1234Z h s - - - four fractional digits",
    b"<14>1 2025-06-30T21:00:00.000Z h s - - - a zero fraction is not written",
]


@pytest.mark.parametrize("record", OFFSETS, ids=range(len(OFFSETS)))
def test_any_rfc3339_offset_is_taken_and_stored_in_utc(record: bytes) -> None:
    fast, _ = both([record])
    assert fast.jsonl is not None  # type: ignore[attr-defined]
    assert b'00Z"' in fast.jsonl or b'0Z"' in fast.jsonl  # type: ignore[attr-defined]


DECLINED = [
    b"<14>1 - h s - - - no timestamp (the receiver's time)",
    b"<14>1 2025-06-30T21:00:00.1234567Z h s - - - seven fractional digits",
    b"<14>1 2025-06-30t21:00:00z h s - - - lower-case t and z",
    b'<14>1 2025-06-30T21:00:00Z h s - - [a@1 k="esc\\"aped"] an escape in SD',
    b'<14>1 2025-06-30T21:00:00Z h s - - [log@32473 seq="0000000000000000000123"] seq over 20 digits',
    b'<14>1 2025-06-30T21:00:00Z h s - - [log@32473 user_id="a" user_id="b"] a field twice',
    b"<14>1 2025-06-30T21:00:00Z h\xc3\xa9 s - - - non-ASCII in the header",
]


@pytest.mark.parametrize("record", DECLINED, ids=range(len(DECLINED)))
def test_shapes_the_transcoder_declines_still_decode_through_the_parser(record: bytes) -> None:
    fast, slow = both([GOLDEN[0], record])
    assert fast.jsonl is None and fast.entries == slow.entries  # type: ignore[attr-defined]


REJECTED = [  # the checks decline them (the parser then rejects them, as the schema does)
    b"<14>1 2025-13-30T21:00:00Z h s - - - month 13",
    b"<14>1 2025-02-29T21:00:00Z h s - - - February 29 of a common year",
    b"<14>1 2025-06-30T24:00:00Z h s - - - hour 24",
    b"<14>1 2025-06-30T21:00:60Z h s - - - second 60",
    b"<14>1 0001-01-01T00:30:00+01:00 h s - - - before year 1 in UTC",
    b"<14>1 2025-06-30T21:00:00Z h s - - - overlong UTF-8 \xc0\xaf",
    b"<14>1 2025-06-30T21:00:00Z h s - - - a surrogate \xed\xa0\x80",
    b"<14>1 2025-06-30T21:00:00Z h s - - - " + b"x" * 65537,
    b'<14>1 2025-06-30T21:00:00Z h s - - [log@32473 user_id="' + b"u" * 257 + b'"] user_id too long',
    b'<14>1 2025-06-30T21:00:00Z h s - - [a@1 k="' + b"v" * 8193 + b'"] attribute too long',
    b"<14>1 2025-06-30T21:00:00Z h s 1 2 ["
    + b"".join(b'a@1 k%d="v"' % i if not i else b' k%d="v"' % i for i in range(127))
    + b"] 127 attributes, procid, msgid: 129",
    b'<14>1 2025-06-30T21:00:00Z h s - - [log@32473 level="LOUD"] a level that is not one',
    b"<14>1 2025-06-30T21:00:00Z h s - - - invalid UTF-8 \xff\xfe",
    b"<192>1 2025-06-30T21:00:00Z h s - - - PRI over 191",
    b"<14>1 2025-06-30T21:00:00Z h s - - -x no space after SD",
    b"<14>2 2025-06-30T21:00:00Z h s - - - version 2",
    b"not syslog at all",
    b'<14>1 2025-06-30T21:00:00Z h s - - [log@32473 seq="99999999999999999999"] seq over int64',
]


@pytest.mark.parametrize("record", REJECTED, ids=range(len(REJECTED)))
def test_bad_records_are_rejected_exactly_as_the_parser_rejects_them(record: bytes) -> None:
    fast, _ = both([GOLDEN[0], record, GOLDEN[1]])
    assert len(fast.entries) == 2 and [e.index for e in fast.errors] == [1]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "sd",
    [
        b'[attr@32473 k="1" k="2"]',
        b'[x@1 k="1"][x@1 k="2"]',
        b'[attr@32473 syslog.procid="2"]',
        b'[syslog procid="2"]',
    ],
)
def test_a_repeated_attribute_name_goes_to_the_parser_and_is_stored_once(sd: bytes) -> None:
    fast, _ = both([b"<14>1 2025-06-30T21:00:00Z h s 1 - " + sd + b" twice"])
    assert fast.jsonl is None  # type: ignore[attr-defined]  # the parser ran (and gave the same entry)
    assert set(fast.entries[0].attributes) <= {"k", "x@1.k", "syslog.procid"}  # type: ignore[attr-defined]


HEADER = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
SD_NAME = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='=]" '), min_size=1,
                  max_size=8) | st.sampled_from(["log@32473", "attr@32473", "level", "seq", "user_id", "client_id"])  # fmt: skip
SD_VALUE = st.text(ANY_CHAR, max_size=12) | st.sampled_from(["0", "7", "007", "TRACE", "INFO", "x\\y", "a]b"])
STAMP = st.sampled_from([
    "2025-06-30T21:00:00Z", "2025-06-30T21:00:00.123Z", "2025-06-30T21:00:00.123456Z", "2025-06-30T21:00:00+00:00",
    "2025-06-30T21:00:00-00:00", "2025-06-30T21:00:00+01:00", "2025-06-30T21:00:00.1Z", "-", "2025-02-30T00:00:00Z",
    "2025-06-30t21:00:00z", "2025-06-30T24:00:00Z",
])  # fmt: skip


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """RFC 5424-ish messages: mostly valid, with the corners where the two paths could differ."""
    pri = draw(st.integers(0, 200))
    elements = draw(
        st.lists(st.tuples(SD_NAME, st.lists(st.tuples(SD_NAME, SD_VALUE), max_size=4)), max_size=3)
    )
    sd = (
        "".join(
            f"[{sd_id}" + "".join(f' {k}="{v.replace(chr(34), "")}"' for k, v in params) + "]"
            for sd_id, params in elements
        )
        or "-"
    )
    fields = [f"<{pri}>1", draw(STAMP), draw(HEADER), draw(HEADER), draw(HEADER), draw(HEADER), sd]
    line = " ".join(fields)
    msg = draw(st.none() | st.text(ANY_CHAR, max_size=30))
    if msg is not None:
        line += " " + draw(st.sampled_from(["", "\ufeff"])) + msg
    return line.encode("utf-8") + draw(st.sampled_from([b"", b"\n", b"\r\n"]))


@PROPERTY
@given(st.lists(messages(), min_size=1, max_size=8))
def test_any_message_decodes_the_same_both_ways(records: list[bytes]) -> None:
    both(records)


@PROPERTY
@given(batches(entries()))
def test_any_entry_encoded_by_our_codec_decodes_the_same_both_ways(batch: list) -> None:
    records, error = split_octet_counted(SyslogCodec().encode(batch))
    assert error is None
    both(records)


@st.composite
def octet_streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """Octet-counted streams with CR/LF trailers, over-long and broken frames, cut anywhere."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        body = draw(st.binary(max_size=40))
        kind = draw(st.sampled_from(["ok", "ok", "ok", "crlf", "long", "lying", "garbage"]))
        if kind == "long":
            body = b"x" * 300
        count = len(body) + (7 if kind == "lying" else 0)
        frame = b"%d %s" % (count, body) if kind != "garbage" else b"x1 " + body
        parts.append(frame + (b"\r\n" if kind == "crlf" else b""))
    stream = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    return stream, cuts


def _split(stream: bytes, cuts: list[int]) -> tuple[list[bytes], list[tuple[int, str]], str | None]:
    splitter = wire.OctetSplitter(max_line_bytes=256, max_frame_bytes=4096)
    out: list[bytes] = []
    broken = None
    bounds = [0, *cuts, len(stream)]
    try:
        for a, b in itertools.pairwise(bounds):
            out += splitter.feed(stream[a:b])
        out += splitter.finish()
    except FramingError as exc:  # a broken stream, or one that ends inside a frame
        out += getattr(exc, "payloads", [])
        broken = str(exc)
    return out, [(e.index, e.reason) for e in splitter.errors], broken


@PROPERTY
@given(octet_streams())
def test_octet_frames_split_the_same_in_c_and_in_python(case: tuple) -> None:
    stream, cuts = case
    compiled = wire._octet_frames
    assert compiled is not None
    fast = _split(stream, cuts)
    try:
        wire._octet_frames = None
        slow = _split(stream, cuts)
    finally:
        wire._octet_frames = compiled
    assert fast == slow
