"""Syslog: RFC 5424 round trip, golden RFC 5424 / RFC 3164 / loghub lines, and bad messages.

Invariant: ``decode(encode(batch)).entries == batch`` for entries the format can carry. The
strategy is narrowed where RFC 5424 cannot carry a value exactly:

* ``host`` and ``service`` are header fields: printable US-ASCII without spaces (``!``-``~``),
  at most 255 / 48 characters, and not ``-`` (the NILVALUE; an empty host is fine, it is
  written as ``-``).
* attribute names are SD-PARAM names: 1-32 printable US-ASCII characters without ``=``, ``]``,
  ``"`` (and so without spaces). ``syslog.procid`` / ``syslog.msgid`` / ``syslog.facility`` are
  drawn too, with any value: the header carries the ones it can, SD the rest.
* the message does not end with CR or LF: senders such as rsyslog end each octet-counted
  message with a newline, which decoding strips. In newline framing (``octet_counting=False``)
  no field may contain LF at all, as the line ends there.

Everything else (values, optional fields, message) is any Unicode text.
"""

from __future__ import annotations

import datetime as dt

import pytest
from codec_strategies import (
    ANY_CHAR,
    MAX_SHORT,
    PRINTABLE_ASCII,
    PROPERTY,
    batches,
    entries,
    make_entry,
    reasons,
    sample_batch,
)
from hypothesis import given
from hypothesis import strategies as st

from workbench.codecs.base import ENCODING, INVALID, MALFORMED
from workbench.codecs.syslog import SyslogCodec

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

CODEC = SyslogCodec()
LINES = SyslogCodec(octet_counting=False)
NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
UTC = dt.UTC

HOST = st.just("") | st.text(PRINTABLE_ASCII, min_size=1, max_size=40).filter(lambda t: t != "-")
SERVICE = st.text(PRINTABLE_ASCII, min_size=1, max_size=48).filter(lambda t: t != "-") | st.just("s" * 48)
SD_NAME = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='=]"'), min_size=1, max_size=32
)

ATTR_KEY = SD_NAME | st.sampled_from(["syslog.procid", "syslog.msgid", "syslog.facility"])
TEXT = st.text(ANY_CHAR, max_size=40)
ATTR_VALUE = TEXT | st.sampled_from(["0", "4", "23", "24", "1", "07", "-", "8710", "ID47"])
NO_TRAILING_NEWLINE = TEXT.filter(lambda m: m == m.rstrip("\r\n"))
LINE_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=40)
LINE_ATTR_VALUE = LINE_TEXT | st.sampled_from(["0", "4", "23", "24", "1", "07", "-", "8710", "ID47"])


@PROPERTY
@given(
    batches(
        entries(
            host=HOST, service=SERVICE, attr_key=ATTR_KEY, attr_value=ATTR_VALUE, message=NO_TRAILING_NEWLINE
        )
    )
)
def test_round_trip_octet_counted(batch: list) -> None:
    decoded = CODEC.decode(CODEC.encode(batch))
    assert decoded.errors == []
    assert decoded.entries == batch


@PROPERTY
@given(
    batches(
        entries(
            text=LINE_TEXT,
            host=HOST,
            service=SERVICE,
            attr_key=ATTR_KEY,
            attr_value=LINE_ATTR_VALUE,
            message=LINE_TEXT.filter(lambda m: not m.endswith("\r")),
        )
    )
)
def test_round_trip_lines(batch: list) -> None:
    decoded = LINES.decode(LINES.encode(batch))
    assert decoded.errors == []
    assert decoded.entries == batch


def test_round_trip_sample_and_empty_batch() -> None:
    batch = [make_entry(host="web-1", **{"service": e.service}) for e in sample_batch()] + sample_batch()
    assert CODEC.decode(CODEC.encode(batch)).entries == batch
    assert LINES.decode(LINES.encode(batch)).entries == batch
    assert CODEC.encode([]) == b""
    empty = CODEC.decode(b"")
    assert (empty.entries, empty.errors) == ([], [])


def test_encoding_layout() -> None:
    entry = make_entry(
        level="TRACE", attributes={"syslog.procid": "8710", "syslog.facility": "16", "k": 'a"]\\'}
    )
    (line,) = LINES.encode([entry]).splitlines()
    assert line == (
        b'<135>1 2025-06-30T21:59:23.123000Z web-1 payment-api 8710 - [log@32473 level="TRACE" user_id="42" '
        b'seq="7"][attr@32473 k="a\\"\\]\\\\"] charge failed'
    )
    assert CODEC.encode([entry]) == b"%d %s" % (len(line), line)


def test_a_message_that_starts_with_a_bom_keeps_it() -> None:
    entry = make_entry(message="\ufeffbom first")
    assert CODEC.decode(CODEC.encode([entry])).entries == [entry]


def test_header_fields_that_cannot_travel_are_replaced() -> None:
    """Documented loss: host and service are sanitised to printable ASCII (spaces become ``_``)."""
    (entry,) = CODEC.decode(CODEC.encode([make_entry(host="web 1", service="päyment api")])).entries
    assert (entry.host, entry.service) == ("web_1", "p_yment_api")
    assert (
        MAX_SHORT > 48
        and len(CODEC.decode(CODEC.encode([make_entry(service="s" * 60)])).entries[0].service) == 48
    )


# RFC 5424 section 6.5, examples 1-4 (BOM as the UTF-8 bytes EF BB BF)
BOM = "\ufeff".encode()
RFC5424_EXAMPLES = [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
    + BOM
    + b"'su root' failed for lonvick on /dev/pts/8",
    b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
    b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
    b'eventSource="Application" eventID="1011"] ' + BOM + b"An application event log entry...",
    b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
    b'eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
]


def test_golden_rfc5424_examples() -> None:
    decoded = LINES.decode(b"\n".join(RFC5424_EXAMPLES), NOW)
    assert decoded.errors == []
    one, two, three, four = decoded.entries
    assert one.timestamp == dt.datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC)
    assert (one.level, one.host, one.service) == ("FATAL", "mymachine.example.com", "su")
    assert one.message == "'su root' failed for lonvick on /dev/pts/8"
    assert one.attributes == {"syslog.msgid": "ID47", "syslog.facility": "4"}
    assert two.timestamp == dt.datetime(2003, 8, 24, 12, 14, 15, 3, tzinfo=UTC)
    assert (two.level, two.host, two.service, two.message) == (
        "INFO",
        "192.0.2.1",
        "myproc",
        "%% It's time to make the do-nuts.",
    )
    assert two.attributes == {"syslog.procid": "8710", "syslog.facility": "20"}
    sd = {
        "exampleSDID@32473.iut": "3",
        "exampleSDID@32473.eventSource": "Application",
        "exampleSDID@32473.eventID": "1011",
    }
    assert three.attributes == {**sd, "syslog.msgid": "ID47", "syslog.facility": "20"}
    assert three.message == "An application event log entry..."
    assert four.attributes == {
        **sd,
        "examplePriority@32473.class": "high",
        "syslog.msgid": "ID47",
        "syslog.facility": "20",
    }
    assert four.message == ""
    # the same messages octet-counted, as RFC 5425 / 6587 senders write them
    octet = b"".join(b"%d %s\n" % (len(m), m) for m in RFC5424_EXAMPLES)
    assert CODEC.decode(octet, NOW).entries == decoded.entries


def test_golden_rfc5424_with_our_own_structured_data() -> None:
    line = (
        b'<15>1 2025-06-30T21:59:23.5Z web-1 payment-api - - [log@32473 level="TRACE" user_id="u \\"7\\"" '
        b'session_id="s" trace_id="t" client_id="c" seq="9"][attr@32473 region="eu"][x@1 a="\\]"] hi'
    )
    (entry,) = LINES.decode(line, NOW).entries
    assert (entry.level, entry.user_id, entry.session_id, entry.trace_id, entry.client_id, entry.seq) == (
        "TRACE", 'u "7"', "s", "t", "c", 9,
    )  # fmt: skip
    assert entry.attributes == {"region": "eu", "x@1.a": "]"}
    assert entry.message == "hi"


def test_golden_rfc3164_lines() -> None:
    lines = [
        b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
        b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
        b"<30>Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0",
        b"Dec 31 23:59:59 host cron[1]: year before",  # no PRI: user.notice
        b"<13>2025-06-30T21:59:23Z host app: ISO stamp in a BSD message",
    ]
    decoded = LINES.decode(b"\r\n".join(lines) + b"\r\n", NOW)
    assert decoded.errors == []
    su, bfg, sshd, cron, iso = decoded.entries
    assert (su.timestamp, su.level, su.host, su.service) == (
        dt.datetime(2025, 10, 11, 22, 14, 15, tzinfo=UTC) - dt.timedelta(days=365),
        "FATAL",
        "mymachine",
        "su",
    )
    assert su.message == "'su root' failed for lonvick on /dev/pts/8"
    assert (bfg.host, bfg.service, bfg.message, bfg.level) == ("10.0.0.99", "Use", "Use the BFG!", "INFO")
    assert bfg.timestamp == dt.datetime(2025, 2, 5, 17, 32, 18, tzinfo=UTC)
    assert (sshd.service, sshd.attributes) == (
        "sshd(pam_unix)",
        {"syslog.procid": "19939", "syslog.facility": "3"},
    )
    assert (cron.timestamp.year, cron.level, cron.attributes) == (2024, "INFO", {"syslog.procid": "1"})
    assert (iso.timestamp, iso.service, iso.message) == (
        dt.datetime(2025, 6, 30, 21, 59, 23, tzinfo=UTC),
        "app",
        "ISO stamp in a BSD message",
    )


def test_loghub_linux_and_openssh_decode_completely(loghub_dir) -> None:
    for name, first_service in (("Linux_2k.log", "sshd(pam_unix)"), ("OpenSSH_2k.log", "sshd")):
        decoded = CODEC.decode((loghub_dir / name).read_bytes(), NOW)
        assert decoded.errors == [], (name, decoded.errors[:3])
        assert len(decoded.entries) == 2000, name
        first = decoded.entries[0]
        assert first.service == first_service and first.host in ("combo", "LabSZ")
        assert all(e.service and e.host for e in decoded.entries), name


def test_bad_messages_are_rejected_with_their_reason_and_the_good_ones_kept() -> None:
    good = b"<13>1 2025-06-30T21:59:23Z host app - - - fine"
    bad = {
        b"<999>1 2025-06-30T21:59:23Z host app - - - PRI over 191": MALFORMED,
        b"<192>Oct 11 22:14:15 host app: PRI over 191": MALFORMED,
        b"<34>garbage after a PRI": MALFORMED,
        b"no PRI and no stamp": MALFORMED,
        b"<13>1 2025-13-45T99:00:00Z host app - - - bad stamp": MALFORMED,
        b"<13>1 2025-06-30T21:59:23Z host app - - - bad \xff utf-8": ENCODING,
        b'<13>1 2025-06-30T21:59:23Z host app - - [log@32473 seq="abc"] seq not a number': INVALID,
        '<13>1 2025-06-30T21:59:23Z host app - - [log@32473 seq="²"] not an int() digit'.encode(): INVALID,
        b'<13>1 2025-06-30T21:59:23Z host app - - [log@32473 seq="' + b"9" * 5000 + b'"] huge': INVALID,
        b'<13>1 2025-06-30T21:59:23Z host app - - [log@32473 level="LOUD"] bad level': INVALID,
        b"<13>1 2025-06-30T21:59:23Z host " + b"a" * 300 + b" - - - app name over 256": INVALID,
    }
    lines = [good]
    for line in bad:
        lines += [line, good]
    decoded = LINES.decode(b"\n".join(lines), NOW)
    assert len(decoded.entries) == len(bad) + 1
    assert [(e.index, e.reason) for e in decoded.errors] == [
        (2 * i + 1, r) for i, r in enumerate(bad.values())
    ]
    assert "191" in decoded.errors[0].detail


def test_broken_octet_counting_keeps_the_messages_before_it() -> None:
    good = b"<13>1 2025-06-30T21:59:23Z host app - - - fine"
    frame = b"%d %s" % (len(good), good)
    for tail in (b"999 " + good, b"12x " + good, b"abc"):
        decoded = CODEC.decode(frame + frame + tail, NOW)
        assert len(decoded.entries) == 2
        assert reasons(decoded) == [MALFORMED]
        assert decoded.errors[0].index == 2


def test_a_line_payload_that_opens_with_a_digit_is_not_taken_for_octet_counting() -> None:
    decoded = LINES.decode(b"2025-06-30T21:59:23Z host app: BSD message with an ISO stamp\n", NOW)
    assert decoded.errors == [] and decoded.entries[0].service == "app"


def test_a_facility_attribute_that_pri_cannot_carry_stays_an_attribute() -> None:
    for value in ("1", "24", "07", "x", "²", ""):
        entry = make_entry(
            attributes={"syslog.facility": value, "syslog.procid": "has space", "syslog.msgid": "-"}
        )
        (line,) = LINES.encode([entry]).splitlines()
        assert line.startswith(b"<11>1 ") and b" - - [" in line, line
        assert LINES.decode(line).entries == [entry]
