"""Raw lines: our own layout round-trips exactly; foreign lines (Apache, HDFS) are still taken.

Invariant: ``decode(encode(batch)).entries == batch``. The layout quotes whatever could be
misread (JSON strings), so the strategy is not narrowed; a second property draws text from
the layout's own syntax (``key=``, quotes, ``attr.``, backslashes) to attack the quoting rules.
"""

from __future__ import annotations

import datetime as dt

import pytest
from codec_strategies import PROPERTY, batches, entries, make_entry, reasons, sample_batch
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.codecs.base import ENCODING, INVALID
from workbench.codecs.raw import RawCodec

CODEC = RawCodec()
NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
SYNTAX = st.lists(
    st.sampled_from(
        [
            " ",
            '"',
            "=",
            "host",
            "seq",
            "attr.",
            "x",
            "\\",
            ":",
            "\t",
            "1",
            "user_id",
            "\n",
            "]",
            '="',
            ' attr."',
            "é",
        ]
    ),
    max_size=12,
).map("".join)

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@PROPERTY
@given(batches())
def test_round_trip(batch: list) -> None:
    decoded = CODEC.decode(CODEC.encode(batch))
    assert decoded.errors == []
    assert decoded.entries == batch


@settings(PROPERTY, max_examples=100)
@given(batches(entries(text=SYNTAX, service=SYNTAX.filter(bool))))
def test_round_trip_of_text_made_of_the_layouts_own_syntax(batch: list) -> None:
    decoded = CODEC.decode(CODEC.encode(batch))
    assert decoded.errors == []
    assert decoded.entries == batch


def test_round_trip_sample_and_empty_batch() -> None:
    assert CODEC.decode(CODEC.encode(sample_batch())).entries == sample_batch()
    assert CODEC.encode([]) == b""
    empty = CODEC.decode(b"")
    assert (empty.entries, empty.errors) == ([], [])


def test_golden_own_layout() -> None:
    line = b"2025-06-30T21:59:23.123Z ERROR payment-api: charge failed user_id=42"
    (entry,) = CODEC.decode(line, NOW).entries
    assert entry == make_entry(host="", attributes={}, seq=None)
    assert (
        CODEC.encode([entry]) == b"2025-06-30T21:59:23.123000Z ERROR payment-api: charge failed user_id=42\n"
    )


def test_golden_own_layout_with_every_field() -> None:
    line = (
        '2025-06-30T23:59:23.5+02:00 TRACE "svc: one": "quoted \\"message\\"" host=web-1 '
        'session_id="a b" trace_id=abc client_id=c-1 seq=7 attr.region=eu attr."two words"="x y"'
    )
    (entry,) = CODEC.decode(line.encode(), NOW).entries
    assert entry.timestamp == dt.datetime(2025, 6, 30, 21, 59, 23, 500_000, tzinfo=dt.UTC)
    assert (entry.level, entry.service, entry.message) == ("TRACE", "svc: one", 'quoted "message"')
    assert (entry.host, entry.session_id, entry.trace_id, entry.client_id, entry.seq) == (
        "web-1",
        "a b",
        "abc",
        "c-1",
        7,
    )
    assert entry.attributes == {"region": "eu", "two words": "x y"}


def test_message_that_looks_like_fields_is_quoted() -> None:
    entry = make_entry(message="retry host=db-2", user_id=None, attributes={})
    line = CODEC.encode([entry])
    assert b'"retry host=db-2"' in line
    assert CODEC.decode(line).entries == [entry]


def test_golden_apache_lines() -> None:
    lines = [
        b"[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
        b"[Sun Dec 04 04:52:15 2005] [error] mod_jk child workerEnv in error state 6",
        b"[Mon Dec 05 03:21:00 2005] [warn] child process 5 still did not exit",
    ]
    decoded = CODEC.decode(b"\r\n".join(lines) + b"\r\n", NOW)
    assert decoded.errors == []
    assert [e.level for e in decoded.entries] == ["INFO", "ERROR", "WARN"]
    assert decoded.entries[0].timestamp == dt.datetime(2005, 12, 4, 4, 47, 44, tzinfo=dt.UTC)
    assert [e.message.encode() for e in decoded.entries] == lines
    assert {e.service for e in decoded.entries} == {"raw"}


def test_foreign_line_without_a_stamp_takes_the_receive_time_and_default_names() -> None:
    codec = RawCodec(default_service="legacy", default_host="box-1")
    (entry,) = codec.decode(b"something happened, FATAL in module x", NOW).entries
    assert (entry.timestamp, entry.level, entry.service, entry.host) == (NOW, "FATAL", "legacy", "box-1")
    (entry,) = codec.decode(b"nothing to see", NOW).entries
    assert entry.level == "INFO"


def test_loghub_apache_and_hdfs_decode_completely(loghub_dir) -> None:
    for name, levels in (("Apache_2k.log", {"INFO", "ERROR"}), ("HDFS_2k.log", {"INFO", "WARN"})):
        payload = (loghub_dir / name).read_bytes()
        decoded = CODEC.decode(payload, NOW)
        assert decoded.errors == [], (name, decoded.errors[:3])
        assert len(decoded.entries) == 2000, name
        assert all(e.timestamp != NOW for e in decoded.entries), f"{name}: a line's stamp was not parsed"
        assert {e.level for e in decoded.entries} >= levels, name
    hdfs_first = CODEC.decode((loghub_dir / "HDFS_2k.log").read_bytes()[:200], NOW).entries[0]
    assert hdfs_first.timestamp == dt.datetime(2008, 11, 9, 20, 36, 15, tzinfo=dt.UTC)


def test_bad_lines_are_rejected_with_their_reason_and_the_good_ones_kept() -> None:
    good = b"2025-06-30T21:59:23.123Z ERROR payment-api: charge failed user_id=42"
    bad = {
        b"2025-06-30T21:59:23Z INFO api: broken \xff\xfe utf-8": ENCODING,
        good + b" seq=abc": INVALID,
        good + b" seq=99999999999999999999": INVALID,  # over 2**63-1
        good + b" seq=" + b"9" * 5000: INVALID,  # no int() digit-limit error
        good + " seq=²".encode(): INVALID,  # a digit to str.isdigit, not to int()
        b"2025-06-30T21:59:23Z INFO " + b"s" * 300 + b": service over 256": INVALID,
        b"x" * 70_000: INVALID,  # a foreign line over the message limit
    }
    lines = [good]
    for line in bad:
        lines += [line, good]
    decoded = CODEC.decode(b"\n".join(lines), NOW)
    assert len(decoded.entries) == len(bad) + 1
    assert [(e.index, e.reason) for e in decoded.errors] == [
        (2 * i + 1, r) for i, r in enumerate(bad.values())
    ]


def test_broken_json_quoting_falls_back_to_a_foreign_line() -> None:
    for line in (
        b'2025-06-30T21:59:23Z INFO "bad \\q escape": message',
        b'2025-06-30T21:59:23Z INFO api: m attr."\\q"=1',
        b'2025-06-30T21:59:23Z INFO api: "unterminated message',
        b'2025-06-30T21:59:23Z INFO api: "quoted" then text host=x',
    ):
        decoded = CODEC.decode(line, NOW)
        assert decoded.errors == [], line
        assert decoded.entries[0].message.encode() in line
    (entry,) = CODEC.decode(b'2025-06-30T21:59:23Z INFO api: "quoted" then text host=x', NOW).entries
    assert entry.message == '"quoted" then text host=x'  # nothing dropped
    assert reasons(CODEC.decode(b"\xff", NOW)) == [ENCODING]
