"""Wire protocol: the format header, stream detection and the four splitters.

Invariants: a header survives ``encode`` / ``parse_header``; ``detect_stream`` returns None
until it has enough bytes and then the same answer as with the whole stream; every splitter
gives the same records whether a stream comes at once, byte by byte or in random chunks;
oversize records are skipped and counted while the next record still arrives; a stream that
cannot be trusted (lying length, garbage where a count belongs) raises ``FramingError``.
"""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench import wire
from workbench.codecs import FORMATS, get
from workbench.codecs.base import TOO_LARGE, split_lines
from workbench.codecs.journald import JournaldCodec, split_export
from workbench.codecs.syslog import SyslogCodec
from workbench.errors import FramingError

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_LINE = b'{"timestamp":"2025-06-30T21:59:23Z","level":"INFO","service":"a","message":"m","host":"h"}\n'
SYSLOG_LINE = b"<13>1 2025-06-30T21:59:23Z host app - - - hello\n"


# --- header ---------------------------------------------------------------------------------


@PROPERTY
@given(
    fmt=st.sampled_from(FORMATS),
    schema_id=st.none() | st.integers(0, 2**31),
    ack=st.booleans(),
    client=st.none()
    | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30),
)
def test_header_round_trip(fmt: str, schema_id: int | None, ack: bool, client: str | None) -> None:
    framing = "length" if ack or fmt in ("proto", "avro") else None
    header = wire.make_header(fmt, framing=framing, schema_id=schema_id, ack=ack, client=client)
    line = header.encode()
    assert line.startswith(wire.MAGIC) and line.endswith(b"\n") and line.count(b"\n") == 1
    assert wire.parse_header(line) == header
    assert wire.detect_stream(line + b"more bytes") == header
    assert wire.header_length(line + b"more") == len(line)


def test_header_defaults_and_extra_options() -> None:
    header = wire.parse_header(b"LOGWB/1 format=proto ack=true client=gen-7 zone=eu\r\n")
    assert (header.format, header.framing, header.ack, header.client) == ("proto", "length", True, "gen-7")
    assert header.extra == {"zone": "eu"}
    assert wire.parse_header(header.encode()) == header
    assert wire.parse_header(b"LOGWB/1 format=journald").framing == "export"
    assert wire.parse_header(b"LOGWB/1 format=syslog framing=octet").framing == "octet"
    assert wire.header_length(b"no header\n") == 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"LOGWB/1 format=xml\n", "unknown format 'xml'"),
        (b"LOGWB/1 format=json framing=carrier-pigeon\n", "unknown framing 'carrier-pigeon'"),
        (b"LOGWB/1 format=json FRAMING=lines\n", "bad header option 'FRAMING=lines'"),
        (b"LOGWB/1 format=json lonely\n", "bad header option 'lonely'"),
        (b"LOGWB/1 format=avro schema_id=three\n", "schema_id must be a number"),
        (b"LOGWB/1 format=proto ack=2\n", "ack must be 0 or 1"),
        (b"LOGWB/1 format=json ack=1\n", "ack=1 needs framing=length"),
        (b"LOGWB/1 format=proto framing=lines\n", "format proto needs framing=length"),
        (b"LOGWB/1 format=avro framing=octet\n", "format avro needs framing=length"),
        (b"LOGWB/1 client=x\n", "names no format"),
        (b"LOGWB/1 format=json client=\xc3\xa9\n", "not ASCII"),
        (b"LOGWB/2 format=json\n", "expected it to start with 'LOGWB/1 '"),
    ],
)
def test_header_errors(line: bytes, message: str) -> None:
    with pytest.raises(FramingError, match=message):
        wire.parse_header(line)
    if line.startswith(wire.MAGIC):
        with pytest.raises(FramingError, match=message):
            wire.detect_stream(line)


def test_make_header_checks_too() -> None:
    with pytest.raises(FramingError, match="unknown format"):
        wire.make_header("xml")
    with pytest.raises(FramingError, match="ack=1 needs framing=length"):
        wire.make_header("json", ack=True)
    with pytest.raises(FramingError, match="needs framing=length"):
        wire.make_header("avro", framing="lines")


def test_a_header_that_never_ends() -> None:
    long_line = wire.MAGIC + b"format=json " + b"x" * wire.MAX_HEADER_BYTES
    with pytest.raises(FramingError, match="not ended by a newline within 512 bytes"):
        wire.detect_stream(long_line)
    assert wire.detect_stream(wire.MAGIC + b"format=json") is None  # more may come
    with pytest.raises(FramingError, match="not ended by a newline"):
        wire.detect_stream(wire.MAGIC + b"format=json", eof=True)


# --- stream detection -----------------------------------------------------------------------


def first_bytes() -> dict[str, tuple[bytes, str, str]]:
    """The first bytes of a stream of each kind: (bytes, format, framing)."""
    avro_payload = get("avro").encode([])
    proto_payload = b"\x0a\x02\x1a\x00"
    journald_export = JournaldCodec().encode(get("json").decode(JSON_LINE).entries)
    return {
        "header": (wire.make_header("json").encode() + JSON_LINE, "json", "lines"),
        "avro frame": (wire.frame(avro_payload), "avro", "length"),
        "proto frame": (wire.frame(proto_payload), "proto", "length"),
        "octet syslog": (wire.octet_frame(SYSLOG_LINE[:-1]), "syslog", "octet"),
        "syslog lines": (SYSLOG_LINE, "syslog", "lines"),
        "bsd syslog lines": (b"Jun 14 15:16:01 combo sshd[1]: hi\n", "syslog", "lines"),
        "json lines": (JSON_LINE, "json", "lines"),
        "broken json": (b'{"a":\n', "json", "lines"),
        "journald json": (b'{"__REALTIME_TIMESTAMP":"1","MESSAGE":"m"}\n', "journald", "lines"),
        "journald export": (journald_export, "journald", "export"),
        "raw": (b"2025-06-30T21:59:23.123Z ERROR payment-api: charge failed user_id=42\n", "raw", "lines"),
        "apache": (b"[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok\n", "raw", "lines"),
        "hdfs": (b"081109 203615 148 INFO dfs.DataNode$PacketResponder: done\n", "raw", "lines"),
    }


@pytest.mark.parametrize("kind", list(first_bytes()))
def test_detect_stream_on_every_format_and_on_every_prefix(kind: str) -> None:
    data, fmt, framing = first_bytes()[kind]
    header = wire.detect_stream(data)
    assert header is not None
    assert (header.format, header.framing) == (fmt, framing), kind
    assert header.detected == (kind != "header")
    # a prefix gives None (more bytes needed) or already the final answer, never a wrong one
    for cut in range(len(data)):
        early = wire.detect_stream(data[:cut])
        assert early is None or early == header, (kind, cut, early)
    assert wire.detect_stream(b"") is None


def test_detect_stream_decides_octet_counting_without_a_newline() -> None:
    message = wire.octet_frame(SYSLOG_LINE[:-1])
    for cut, expected in ((1, None), (3, None), (4, None), (5, None), (len(message), "octet")):
        header = wire.detect_stream(message[:cut])
        assert (header.framing if header else None) == expected, cut


def test_detect_stream_at_eof_decides_on_what_it_has() -> None:
    assert wire.detect_stream(b"", eof=True) == wire.Header("raw", "lines", detected=True)
    assert wire.detect_stream(b"\x00\x00", eof=True).framing == "length"  # type: ignore[union-attr]
    assert wire.detect_stream(b"<13>1 no newline yet", eof=True).format == "syslog"  # type: ignore[union-attr]
    assert wire.detect_stream(b"<13>1 no newline yet") is None
    assert wire.detect_stream(b"12", eof=True).format == "raw"  # type: ignore[union-attr]


def test_detect_stream_of_the_loghub_files(loghub_dir) -> None:
    expected = {
        "Apache_2k.log": "raw",
        "HDFS_2k.log": "raw",
        "Linux_2k.log": "syslog",
        "OpenSSH_2k.log": "syslog",
    }
    for name, fmt in expected.items():
        head = (loghub_dir / name).read_bytes()[:4096]
        header = wire.detect_stream(head)
        assert header is not None and (header.format, header.framing) == (fmt, "lines"), name


# --- splitters ------------------------------------------------------------------------------


def feed_in_chunks(splitter: wire.Splitter, data: bytes, cuts: list[int]) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        out += splitter.feed(data[pos:cut])
        pos = cut
    out += splitter.feed(data[pos:])
    return out + splitter.finish()


def lines_of(payloads: list[bytes]) -> list[bytes]:
    return [ln for p in payloads for ln in p.split(b"\n") if ln]


LIMIT = 24
LINE = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b""))
CUTS = st.lists(st.integers(0, 10_000), max_size=30)


def too_large(splitter: wire.Splitter) -> int:
    assert all(e.reason == TOO_LARGE for e in splitter.errors)
    return len(splitter.errors)


@PROPERTY
@given(st.lists(LINE, max_size=12), CUTS, st.booleans())
def test_line_splitter_is_independent_of_chunking(lines: list[bytes], cuts: list[int], crlf: bool) -> None:
    data = b"".join(ln + (b"\r\n" if crlf else b"\n") for ln in lines)
    whole, chunked, single = (wire.LineSplitter(max_line_bytes=LIMIT) for _ in range(3))
    expected = lines_of(whole.feed(data) + whole.finish())
    assert lines_of(feed_in_chunks(chunked, data, cuts)) == expected
    assert lines_of(feed_in_chunks(single, data, list(range(len(data))))) == expected
    assert too_large(whole) == too_large(chunked) == too_large(single)
    # the splitter passes CRs on (codecs strip them); a line over the limit counts its CR too
    kept = [ln + b"\r" * crlf for ln in lines if len(ln) + crlf <= LIMIT]
    assert expected == [ln for ln in kept if ln]
    assert too_large(whole) == len(lines) - len(kept)


@PROPERTY
@given(st.lists(st.binary(max_size=40), max_size=12), CUTS)
def test_octet_splitter_is_independent_of_chunking(messages: list[bytes], cuts: list[int]) -> None:
    data = b"".join(wire.octet_frame(m) for m in messages)
    expected = [m for m in messages if len(m) <= LIMIT]
    for splitter_cuts in ([], cuts, list(range(len(data)))):
        splitter = wire.OctetSplitter(max_line_bytes=LIMIT)
        assert feed_in_chunks(splitter, data, splitter_cuts) == expected
        assert too_large(splitter) == len(messages) - len(expected)


@PROPERTY
@given(st.lists(st.binary(max_size=60), max_size=10), CUTS)
def test_length_splitter_is_independent_of_chunking(payloads: list[bytes], cuts: list[int]) -> None:
    data = b"".join(wire.frame(p) for p in payloads)
    expected = [p for p in payloads if p]  # an empty frame carries nothing
    for splitter_cuts in ([], cuts, list(range(len(data)))):
        assert feed_in_chunks(wire.LengthSplitter(), data, splitter_cuts) == expected


EXPORT_VALUE = st.text(max_size=20)


@PROPERTY
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["MESSAGE", "A", "_PID"]), EXPORT_VALUE, min_size=1), max_size=6
    ),
    CUTS,
)
def test_export_splitter_is_independent_of_chunking(entries: list[dict[str, str]], cuts: list[int]) -> None:
    data = b""
    for fields in entries:
        for name, value in fields.items():
            raw = value.encode()
            if b"\n" in raw or name == "_PID":  # binary fields too
                data += name.encode() + b"\n" + struct.pack("<Q", len(raw)) + raw + b"\n"
            else:
                data += name.encode() + b"=" + raw + b"\n"
        data += b"\n"
    expected, _ = split_export(data)
    for splitter_cuts in ([], cuts, list(range(len(data)))):
        payloads = feed_in_chunks(wire.ExportSplitter(), data, splitter_cuts)
        assert [e for p in payloads for e in split_export(p)[0]] == expected


def test_oversize_line_is_counted_and_the_next_one_delivered() -> None:
    data = b"ok\r\n" + b"x" * 100 + b"\r\nnext\r\n" + b"y" * 50  # and an oversize line cut by the end
    for cuts in ([], list(range(len(data)))):
        splitter = wire.LineSplitter(max_line_bytes=LIMIT)
        payloads = feed_in_chunks(splitter, data, cuts)
        assert [ln for p in payloads for ln in split_lines(p)] == [b"ok", b"next"]
        assert [e.reason for e in splitter.errors] == [TOO_LARGE, TOO_LARGE]
        assert "101 bytes" in splitter.errors[0].detail  # the CR counts
        assert splitter.errors[0].raw.startswith(b"xxx")


def test_last_line_without_a_newline_is_delivered_at_the_end() -> None:
    splitter = wire.LineSplitter()
    assert splitter.feed(b"a\nb") == [b"a\n"]
    assert splitter.finish() == [b"b\n"]
    assert wire.LineSplitter().finish() == []


def test_oversize_octet_message_is_skipped_by_its_count() -> None:
    data = wire.octet_frame(b"hello") + b"\n" + wire.octet_frame(b"z" * 100) + wire.octet_frame(b"next")
    for cuts in ([], list(range(len(data)))):
        splitter = wire.OctetSplitter(max_line_bytes=LIMIT)
        assert feed_in_chunks(splitter, data, cuts) == [b"hello", b"next"]
        assert [e.reason for e in splitter.errors] == [TOO_LARGE]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"5 hello12x hello", "octet count expected"),
        (b"abc", "octet count expected"),
        (b"12345678901 x", "octet count expected"),
        (b"99999999 " + b"x" * 10, "over the frame limit"),  # a lying count
        (b"4 hellohello", "octet count expected"),  # a count shorter than the message
    ],
)
def test_octet_garbage_and_lying_counts_raise(data: bytes, message: str) -> None:
    for cuts in ([], list(range(len(data)))):
        splitter = wire.OctetSplitter(max_frame_bytes=1 << 20)
        with pytest.raises(FramingError, match=message):
            feed_in_chunks(splitter, data, cuts)


def test_cut_off_frames_raise_at_the_end() -> None:
    octet = wire.OctetSplitter()
    assert octet.feed(b"10 hello") == []
    with pytest.raises(FramingError, match="stream ended inside a frame"):
        octet.finish()
    length = wire.LengthSplitter()
    assert length.feed(wire.frame(b"abc")[:-1]) == []
    with pytest.raises(FramingError, match="stream ended inside a frame"):
        length.finish()
    whitespace_prefix = wire.LengthSplitter()
    assert whitespace_prefix.feed(b"\n\n") == []  # the start of a length whose bytes are 0x0a
    with pytest.raises(FramingError, match="2 bytes left over"):
        whitespace_prefix.finish()


def test_lying_length_prefix_raises() -> None:
    splitter = wire.LengthSplitter(max_frame_bytes=1024)
    assert splitter.feed(wire.frame(b"ok")) == [b"ok"]
    with pytest.raises(FramingError, match=r"frame length 1869[0-9]+ is over the limit of 1024 bytes"):
        splitter.feed(b"om a text sender")
    assert wire.LengthSplitter().feed(wire.frame(b"") + wire.frame(b"x")) == [b"x"]


def test_export_splitter_limits() -> None:
    lying = b"A=1\nMESSAGE\n" + struct.pack("<Q", 2**40) + b"x\n\n"
    with pytest.raises(FramingError, match="claims 1099511627776 bytes"):
        wire.ExportSplitter().feed(lying)
    not_newline = b"A=1\nMESSAGE\n" + struct.pack("<Q", 1) + b"xy\n\n"
    with pytest.raises(FramingError, match="not followed by a newline"):
        wire.ExportSplitter().feed(not_newline)
    big = wire.ExportSplitter(max_frame_bytes=64)
    with pytest.raises(FramingError, match="over the limit of 64 bytes"):
        big.feed(b"MESSAGE=" + b"m" * 100)
    tail = wire.ExportSplitter()
    assert tail.feed(b"A=1\n\nB=2\n") == [b"A=1\n\n"]
    assert tail.finish() == [b"B=2\n"]


def test_splitter_for_every_framing_and_the_codecs_on_their_payloads() -> None:
    entries = get("json").decode(JSON_LINE * 3).entries
    streams = {
        "json": JSON_LINE * 3,
        "syslog": SyslogCodec().encode(entries),
        "journald": JournaldCodec().encode(entries),
        "proto": b"".join(wire.frame(get("proto").encode([e])) for e in entries),
        "avro": wire.frame(get("avro").encode(entries)),
    }
    for fmt, data in streams.items():
        header = wire.detect_stream(data)
        assert header is not None and header.format == fmt, fmt
        splitter = wire.splitter_for(header)
        assert type(splitter) is wire.SPLITTERS[header.framing]
        codec = get(fmt)
        payloads = feed_in_chunks(splitter, data, list(range(0, len(data), 7)))
        if header.framing == "octet":
            decoded = [e for p in payloads for e in codec.decode_records([p]).entries]  # type: ignore[attr-defined]
        else:
            decoded = [e for p in payloads for e in codec.decode(p).entries]
        assert decoded == entries, fmt


def test_header_of_a_json_line_names_its_keys_not_its_values() -> None:
    """A JSON value that mentions a journal key is still plain JSON (key match is on quoted names)."""
    line = json.dumps({"timestamp": "x", "message": "__CURSOR"}).encode() + b"\n"
    assert wire.detect_stream(line).format == "json"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("splitter", "good", "broken"),
    [
        (
            wire.LengthSplitter(max_frame_bytes=1024),
            wire.frame(b"a") + wire.frame(b"b"),
            b"\x7f\xff\xff\xff" + b"x",
        ),
        (wire.OctetSplitter(), wire.octet_frame(b"a") + wire.octet_frame(b"b"), b"garbage without a count\n"),
        (
            wire.OctetSplitter(max_frame_bytes=1024),
            wire.octet_frame(b"a") + wire.octet_frame(b"b"),
            b"99999 x",
        ),
        (wire.ExportSplitter(), b"A=a\n\nA=b\n\n", b"MESSAGE\n" + struct.pack("<Q", 2**40) + b"x\n\n"),
    ],
)
def test_a_break_keeps_the_payloads_split_before_it_in_the_same_read(
    splitter: wire.Splitter, good: bytes, broken: bytes
) -> None:
    """The frames that came in the same read as the break are handed over with the error, not lost."""
    with pytest.raises(wire.BrokenStreamError) as info:
        splitter.feed(good + broken)
    assert isinstance(info.value, FramingError)
    payloads = info.value.payloads
    if isinstance(splitter, wire.ExportSplitter):
        assert [e for p in payloads for e in split_export(p)[0]] == [b"A=a\n", b"A=b\n"]
    else:
        assert payloads == [b"a", b"b"]
