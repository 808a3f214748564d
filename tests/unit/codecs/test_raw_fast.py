"""The compiled raw transcoder against the Python parser: the same stored bytes, or a decline.

Invariant (``check``): whenever ``transcode(chunk, b"}\\n")`` returns (lines, n), the Python path
(``RawCodec(fast=False)``) decodes the chunk with no errors into n entries and ``normalise`` of
them is ``lines`` byte for byte; with another ``end`` the result is the same lines with each
``}\\n`` replaced by it. A decline costs only speed, so the properties allow it anywhere; the
golden cases check that the fast path really took them, so a transcoder that declined
everything could not pass.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path

import pytest
from codec_strategies import (
    ANY_CHAR,
    MAX_MESSAGE,
    PROPERTY,
    batches,
    big_text,
    entries,
    full_attributes,
    make_entry,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import model, speedups
from workbench.codecs import raw
from workbench.codecs.raw import RawCodec
from workbench.generator.patterns import LogFactory
from workbench.generator.pool import Pool
from workbench.ingestor.decoding import normalise
from workbench.speedups._raw import transcode

FAST = RawCodec()
SLOW = RawCodec(fast=False)
NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
END = b',"received_at":"2025-07-01T12:00:00.000001Z","format":"raw","transport":"tls","peer":"[::1]:5"}\n'
TS = b"2025-06-30T21:59:23.123456Z"

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def check(chunk: bytes) -> tuple[bytes, int] | None:
    """The invariant of the module docstring for one chunk, and ``decode`` the same both ways;
    the transcoder's result."""
    done = transcode(chunk, b"}\n")
    slow = SLOW.decode(chunk, NOW)
    fast = FAST.decode(chunk, NOW)
    assert fast.entries == slow.entries
    assert [(e.index, e.reason) for e in fast.errors] == [(e.index, e.reason) for e in slow.errors]
    if done is None:
        assert transcode(chunk, END) is None
        return None
    lines, n = done
    assert slow.errors == [] and len(slow.entries) == n
    assert normalise(slow.entries) == lines
    assert fast.jsonl == lines  # msgspec agrees with the transcoder's schema checks
    assert transcode(chunk, END) == (lines.replace(b"}\n", END), n)
    return done


def taken(chunk: bytes) -> bytes:
    done = check(chunk)
    assert done is not None, chunk[:300]
    return done[0]


def test_the_transcoder_is_compiled() -> None:
    """`make venv` compiles it (Cython, gcc); without it the Python parser runs, several times
    slower, so CI must have it."""
    assert speedups.available()["_raw"]
    assert FAST.fast and not SLOW.fast


EVERY_KEY = (
    TS + b" ERROR payment-api: charge failed for order 44592: card declined host=web-1 user_id=42 "
    b"session_id=sess_ce55 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 client_id=gen-1 seq=7 "
    b"attr.region=eu-west-1 attr.http.path=/api/v1/cart?x=1&y=2 attr.a.b.c=v2.3.1"
)
GOLDEN = [
    EVERY_KEY,
    # what RawCodec.encode writes for the test suite's plain entry, and stamps in other shapes
    RawCodec().encode([make_entry()]).rstrip(b"\n"),
    b"2025-06-30T21:59:23Z INFO auth: no fraction",
    b"2025-06-30T21:59:23.1Z DEBUG auth: one fraction digit",
    b"2025-06-30T21:59:23.120Z TRACE auth: three, trailing zero",
    b"2025-06-30T23:59:23.5+02:00 WARN auth: an offset, converted to UTC",
    b"2025-06-30T21:59:23-00:00 FATAL auth: minus zero",
    b"2024-02-29T00:00:00-01:30 INFO auth: leap day, offset crossing into March",
    b"0001-01-01T00:00:00Z INFO s: first instant",
    b"9999-12-31T23:59:59.999999Z INFO s: last instant",
    # where the message ends: the longest run of key=value words reaching the end of the line
    TS + b" INFO db: query took 37ms rows=167 host=db-1",
    TS + b" INFO db: set host=a then more words host=b",
    TS + b" INFO db: trailing key words host=a user_id=b but not at the end",
    TS + b" INFO db: host= seq= attr.=x attr.y= hostx=1 are no pairs",
    TS + b" INFO db: hostname=x seqs=1 user=2 attr=3",
    TS + b" INFO db: a  b host=x",  # two spaces inside the message
    TS + b" INFO db: a  host=x",  # the message keeps its trailing space
    TS + b" INFO db: ends with a space ",
    TS + b" INFO db: pairs then a space host=a ",
    TS + b" INFO db: host=first word is the message",
    TS + b" INFO db:  host=x",  # the message is empty
    TS + b" INFO db:",
    TS + b" INFO db: ",
    TS + b" INFO db:  ",
    TS + b" INFO db:no space after the colon host=h",
    TS + b" INFO db:: a second colon is the message's",
    TS + b" INFO db: values may hold = and ; host=a=b attr.q=x=1;y=2",
    # backslashes (escaped in JSON), DEL, a service of any non-space characters but the colon
    TS + b" INFO my.svc/1=2\\x: C:\\Users\\x \\n is no newline host=h\\1 attr.k\\=v\\",
    TS + b" INFO s: del \x7f char",
    # unicode, zero-width and other characters that are not whitespace to Python
    TS + " INFO café-svc: naïve 日本語 😀 \u200b\u180e\u00a1 host=東京 attr.ключ=значение".encode(),
    # a repeated key: the last value, an attribute in its first place
    TS + b" INFO s: m host=a user_id=1 host=b user_id=2",
    TS + b" INFO s: m attr.k=1 attr.j=2 attr.k=3",
    # JSON strings where the encoder writes them (spaces, quotes, newlines, a message that would
    # end in pairs, an empty text), with every escape msgspec writes the same way
    TS + b' INFO payment: payment failed: card declined host=p-1 attr.reason="card declined" attr.region=eu',
    TS + b' INFO s: "say \\"hi\\" to\\nme" host=web-1 attr.q="a \\"b\\" c\\\\d" seq="7"',
    TS + b' INFO "my svc:1": "ends with host=x" host="web 1" user_id="a=b host=c"',
    TS + b' INFO s: "" host="" user_id="" attr.e=""',
    TS + b' INFO s: "x=" host=a',
    TS + b' INFO s: "a host=b"',
    TS + b' INFO s:"no space" host="a\\\\" attr.k="\\"\\\\\\n\\r\\t\\b\\f\\u0000\\u001f\\u000b\x7f"',
    TS + b' INFO s: m host="h" user_id=u host="last wins"',
    TS + ' INFO s: "caf\u00e9 \u65e5\u672c" attr.k="\u00e9 \U0001f600"'.encode(),
    # seq: zero padding (our generator), the extremes
    TS + b" INFO s: m seq=000000000042",
    TS + b" INFO s: m seq=0",
    TS + b" INFO s: m seq=00000000000000000000",
    TS + b" INFO s: m seq=9223372036854775807",
    TS + b" INFO s: m seq=09223372036854775807",
    TS + b" INFO s: m seq=999999999999999999",
]


@pytest.mark.parametrize("line", GOLDEN, ids=range(len(GOLDEN)))
def test_golden_lines_take_the_fast_path_and_match_the_parser(line: bytes) -> None:
    taken(line + b"\n")


def test_the_stored_lines_are_byte_for_byte_what_normalise_writes() -> None:
    lines = taken(b"\n".join(GOLDEN) + b"\n")
    assert lines.count(b"\n") == len(GOLDEN)
    assert lines.splitlines()[0] == (
        b'{"timestamp":"2025-06-30T21:59:23.123456Z","level":"ERROR","service":"payment-api",'
        b'"message":"charge failed for order 44592: card declined","host":"web-1","user_id":"42",'
        b'"session_id":"sess_ce55","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","attributes":'
        b'{"region":"eu-west-1","http.path":"/api/v1/cart?x=1&y=2","a.b.c":"v2.3.1"},'
        b'"client_id":"gen-1","seq":7}'
    )


@pytest.mark.parametrize(
    "chunk, n",
    [
        (b"\n".join(GOLDEN[:3]), 3),  # no newline after the last line
        (b"\r\n".join(GOLDEN[:3]) + b"\r\n", 3),
        (b"\n\n  \n\t\r\n" + GOLDEN[0] + b"\r\n\x0b\x0c\n\r\n" + GOLDEN[1] + b"\n \n", 2),
        (b"", 0),
        (b"\n \r\n\t\n", 0),
    ],
)
def test_line_endings_and_blank_lines_as_split_lines_reads_them(chunk: bytes, n: int) -> None:
    done = check(chunk)
    assert done is not None and done[1] == n


def test_the_schema_limits_exactly_are_taken() -> None:
    text = "é" * 200 + "x" * 56  # 256 code points in more than 256 bytes
    attrs = " ".join(f"attr.k{i}={'ñ' * 8192 if i == 0 else i}" for i in range(128))
    line = f"2025-06-30T21:59:23Z INFO {text}: {'ü' * 65536} host={text} client_id={text} {attrs}"
    chunk = line.encode() + b"\n"
    taken(chunk)
    (entry,) = SLOW.decode(chunk).entries
    assert len(entry.attributes) == 128 and len(entry.message) == 65536


def test_the_ingest_benchmark_payload_takes_the_fast_path() -> None:
    sys.path.insert(0, str(Path(__file__).parents[3] / "bench"))
    try:
        from ingest import payload_for
    finally:
        sys.path.pop(0)
    _, body, logs = payload_for("raw", logs=2000)
    assert taken(body).count(b"\n") == logs


def test_generator_output_takes_the_fast_path() -> None:
    """Its pool as replayed: padded seq, a client id patched in, values with spaces as JSON strings."""
    factory = LogFactory(seed=11)
    pool = Pool("raw", model.to_entries([factory.next() for _ in range(1500)]), 500, 9, length_framed=False)
    body = pool.render(pool.client_buffer("gen-ab-07"), 0, 3, 10**11 + 7, 1_750_000_000_123_456)
    assert b'="' in body  # the quoted values are in there
    assert taken(body).count(b"\n") == 1500


def _declined(line: bytes) -> None:
    """A line the transcoder must leave to the parser, in a payload of good ones."""
    chunk = GOLDEN[0] + b"\n" + line + b"\n" + GOLDEN[1] + b"\n"
    assert check(chunk) is None, line
    assert FAST.decode(chunk, NOW).jsonl is None


LONG = b"x" * 257
DECLINED = [
    # stamps that are no time to the parser (the line is then a foreign one, at the receive time)
    b"2025-02-30T21:59:23Z INFO s: Feb 30",
    b"2023-02-29T21:59:23Z INFO s: not a leap year",
    b"2025-06-30T24:00:00Z INFO s: hour 24",
    b"2025-06-30T23:60:00Z INFO s: minute 60",
    b"2025-06-30T23:59:60Z INFO s: second 60",
    b"2025-13-01T00:00:00Z INFO s: month 13",
    b"0000-01-01T00:00:00Z INFO s: year 0",
    b"0001-01-01T00:00:00+01:00 INFO s: year 0 once in UTC",
    b"9999-12-31T23:59:59-01:00 INFO s: year 10000 once in UTC",
    b"2025-06-30T21:59:23z INFO s: lower-case z",
    b"2025-06-30T21:59:23+24:00 INFO s: offset of 24 hours",
    # not our layout: foreign lines take the receive time and the default service
    b"2025-06-30T21:59:23Z NOTICE s: a level word that is not one of ours",
    b"2025-06-30T21:59:23Z info s: lower-case level",
    b"2025-06-30T21:59:23Z INFO  s: two spaces before the service",
    b"2025-06-30T21:59:23Z INFO s m: a space in the service",
    b"2025-06-30T21:59:23Z INFO no colon at all",
    b"2025-06-30T21:59:23Z INFO : empty service",
    b"[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6",
    b"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating",
    b"plain text",
    # over the schema's limits
    TS + b" INFO " + LONG + b": service of 257",
    TS + b" INFO s: m host=" + LONG,
    TS + b" INFO s: m user_id=" + LONG,
    TS + b" INFO s: m session_id=" + LONG,
    TS + b" INFO s: m trace_id=" + LONG,
    TS + b" INFO s: m client_id=" + LONG,
    TS + b" INFO s: m host=" + "é".encode() * 257,
    TS + b" INFO s: " + b"m" * 65537,
    TS + b" INFO s: m attr.k=" + b"v" * 8193,
    TS + b" INFO s: m " + b" ".join(b"attr.k%d=v" % i for i in range(129)),
    # seq that is no int64 (the parser keeps it as text, then the schema rejects it)
    TS + b" INFO s: m seq=9223372036854775808",
    TS + b" INFO s: m seq=12345678901234567890",
    TS + b" INFO s: m seq=000000000000000000001",
    TS + b" INFO s: m seq=12a",
    TS + b" INFO s: m seq=-1",
    TS + " INFO s: m seq=\u0663".encode(),  # an Arabic-Indic digit
    # not UTF-8 as Python decodes it
    TS + b" INFO s: bad \xff byte",
    TS + b" INFO s: overlong \xc0\xaf slash",
    TS + b" INFO s: overlong \xe0\x80\xaf slash",
    TS + b" INFO s: surrogate \xed\xa0\x80",
    TS + b" INFO s: cut \xe6\x97",
    TS + b" INFO s: over U+10FFFF \xf4\x90\x80\x80",
]


@pytest.mark.parametrize("line", DECLINED, ids=range(len(DECLINED)))
def test_lines_the_parser_rejects_or_reads_as_foreign_are_declined(line: bytes) -> None:
    _declined(line)


NOT_HANDLED = [
    # our layout as the parser reads it, in shapes the transcoder leaves to it (today)
    b"2025-06-30T21:59:23.1234567Z INFO s: seven fraction digits",
    b"2025-06-30T21:59:23 INFO s: no offset (UTC to the parser)",
    b"2025-06-30 21:59:23Z INFO s: a space for the T",
    b"2025-06-30T21:59:23+0200 INFO s: offset without a colon",
    # JSON strings the transcoder leaves to the parser: a quoted attribute name, escapes msgspec
    # writes otherwise, quotes in bare text, text after a quoted message
    TS + b' INFO s: m attr."quoted name"=v',
    TS + b' INFO s: "a\\/b" host=a',
    TS + b' INFO s: "caf\\u00e9" host=a',
    TS + b' INFO s: m host="\\u000A"',
    TS + b' INFO s: m host="\\u001F"',
    TS + b' INFO s: m host="\\u000a"',
    TS + b' INFO s: m host="\\u007f"',
    TS + b' INFO s: an unbalanced " quote host=a',
    TS + b' INFO s: he said "hi there" host=a',
    TS + b' INFO s: m host=a"b',
    TS + b' INFO s: m attr.x=y="a b"',
    TS + b' INFO s: "m" trailing text host=a',
    TS + b' INFO s: "m" k="v w" host=a',
    TS + b' INFO s: "unclosed host=a',
    TS + b' INFO s: "m" ',
    TS + b' INFO "s"x: m',
    TS + b' INFO s"x: m',
    # characters Python's \s matches
    TS + b" INFO s: a\ttab host=a",
    TS + b" INFO s: m\thost=a",
    TS + b" INFO s: m host=a\x1fseq=1",
    TS + b" INFO s: nbsp\xc2\xa0host=a",
    TS + b" INFO s: a bell \x07",
    TS + b" INFO s: a lone CR \r in the middle",
    TS + b" INFO s: two CRs at the end\r\r",
]


@pytest.mark.parametrize("line", NOT_HANDLED, ids=range(len(NOT_HANDLED)))
def test_lines_the_transcoder_does_not_handle_are_stored_as_the_parser_reads_them(line: bytes) -> None:
    chunk = GOLDEN[0] + b"\n" + line + b"\n"
    check(chunk)
    assert FAST.decode(chunk, NOW).errors == [], line


# Every non-ASCII code point Python's \s matches, and their neighbours that it does not.
_SPACE = re.compile(r"\s")
UNICODE_SPACES = [chr(c) for c in range(0x80, sys.maxunicode + 1) if _SPACE.match(chr(c))]
NOT_SPACES = sorted({chr(ord(c) + d) for c in UNICODE_SPACES for d in (-1, 1)} - set(UNICODE_SPACES))


def test_unicode_whitespace_is_declined_and_its_neighbours_are_taken() -> None:
    # U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000
    assert len(UNICODE_SPACES) == 19
    for c in UNICODE_SPACES:
        for text in (f"m{c}host=a", f"m host=a{c}b", f"svc{c}x"):
            _declined(TS + f" INFO s: {text}".encode())
    for c in NOT_SPACES:
        taken(TS + f" INFO s{c}: m{c}x host=a{c} attr.{c}={c}\n".encode())


# --- properties ------------------------------------------------------------------------------


@settings(PROPERTY, max_examples=100)
@given(batches(entries()))
def test_any_entry_encoded_by_our_codec(batch: list) -> None:
    chunk = RawCodec().encode(batch)
    done = check(chunk)
    if done is not None:
        assert SLOW.decode(chunk).entries == batch


# Text without a control character or whitespace other than the space (what the transcoder
# declines in bare text), in the layout's own syntax or not: whatever the encoder writes of it,
# bare or as JSON strings, the transcoder must take (attribute names that need no quoting).
PLAIN = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"]) | st.just(" "),
    max_size=12,
) | st.sampled_from(["a=b", "host=x", ' attr.k="v"', "seq=1", "=", "C:\\dir", "x  y", '"', "\\", ":"])
PLAIN_SAMPLE = 'ascii, café, 日本語のログ, 😀🚀, C:\\path, a=b, "quoted", ‮rtl, ZWJ 👩‍💻 '
BARE_NAME = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Z"], exclude_characters='="'),
    min_size=1,
    max_size=8,
)
PLAIN_ENTRIES = entries(
    text=PLAIN,
    service=PLAIN.filter(bool),
    attr_key=BARE_NAME,
    big_message=big_text(MAX_MESSAGE, PLAIN_SAMPLE),
    big_attributes=full_attributes(alphabet=PLAIN_SAMPLE),
)


@settings(PROPERTY, max_examples=100)
@given(batches(PLAIN_ENTRIES))
def test_entries_of_plain_text_take_the_fast_path(batch: list) -> None:
    taken(RawCodec().encode(batch))


# the layout's syntax: bare, JSON strings (some with escapes msgspec writes otherwise), and
# characters the transcoder declines anywhere
BARE_SYNTAX = [
    " ", "  ", "=", ":", "\\", "host", "host=", "seq=", "seq=0", "seq=007", "user_id=u", "session_id=",
    "trace_id=t", "client_id=c", "attr.", "attr.k=", "attr.k=v", "attr.=", "x", "1", "é", "\u200b", "-",
]  # fmt: skip
QUOTED_SYNTAX = [
    '"', '""', '"a b"', '"x=\\"y\\" host=z"', '"\\n\\u001f"', '"\\\\"', '"\\u00e9"', '"\\/"', '="', 'attr."k"=',
]  # fmt: skip
SYNTAX = [*BARE_SYNTAX, *QUOTED_SYNTAX, "\t", "\u00a0", "\u2028", "\u3000", "\x1c", "\r", "\x00"]
GOOD_STAMPS = [
    "2025-06-30T21:59:23Z", "2025-06-30T21:59:23.123456Z", "2025-06-30T21:59:23.1+05:30",
    "2025-06-30T21:59:23-23:59", "9999-12-31T23:59:59.999999Z",
]  # fmt: skip
STAMPS = [
    *GOOD_STAMPS, "2025-02-29T00:00:00Z", "2025-06-30T21:59:23", "2025-06-30 21:59:23Z", "0001-01-01T00:00:00+00:01",
    "2025-06-30T21:59:23.1234567Z",
]  # fmt: skip
GOOD_LEVELS = list(model.LEVELS)
LEVELS = [*GOOD_LEVELS, "NOTICE", "WARNING", "info"]


@st.composite
def own_lines(draw: st.DrawFn) -> bytes:
    """Lines shaped like our layout, the layout's syntax everywhere to attack where the message
    ends; two thirds of them with good stamps and nothing the transcoder declines everywhere."""
    kind = draw(st.sampled_from(["bare", "quoted", "any"]))
    syntax = st.sampled_from(
        {"bare": BARE_SYNTAX, "quoted": BARE_SYNTAX + QUOTED_SYNTAX, "any": SYNTAX}[kind]
    )
    service = draw(st.lists(syntax, min_size=1, max_size=3).map("".join))
    if kind != "any":
        service = service.replace(" ", "").replace(":", "") or "s"
    words = draw(st.lists(st.lists(syntax, max_size=4).map("".join), max_size=8))
    stamp = draw(st.sampled_from(STAMPS if kind == "any" else GOOD_STAMPS))
    level = draw(st.sampled_from(LEVELS if kind == "any" else GOOD_LEVELS))
    line = f"{stamp} {level} {service}:{draw(st.sampled_from(['', ' ', '  ']))}{' '.join(words)}"
    return line.encode("utf-8") + draw(st.sampled_from([b"\n", b"\r\n", b""]))


@PROPERTY
@given(st.lists(own_lines(), min_size=1, max_size=4))
def test_lines_of_the_layouts_own_syntax(lines: list[bytes]) -> None:
    check(b"\n".join(lines))


KEYS = [
    "host",
    "user_id",
    "session_id",
    "trace_id",
    "client_id",
    "seq",
    "attr.k",
    "attr.j",
    "attr.a.b",
    "hostx",
    "x",
]
BARE_VALUES = ["x", "1", "007", "a=b", "\\", "é", "-", '"', 'a"b', "host=x"]
JSON_VALUES = st.text(ANY_CHAR, max_size=8).map(lambda v: json.dumps(v, ensure_ascii=False))
JSON_MESSAGES = st.sampled_from(["m", "a b", "x=1", "host=x", "two  spaces", "", " "]) | st.text(
    ANY_CHAR, max_size=12
)


@st.composite
def pair_lines(draw: st.DrawFn) -> bytes:
    """Our layout with a bare or JSON-quoted message and pairs with bare or JSON-quoted values."""
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(BARE_VALUES) | JSON_VALUES), max_size=5)
    )
    if draw(st.booleans()):
        message = json.dumps(draw(JSON_MESSAGES), ensure_ascii=False)
    else:
        message = draw(st.sampled_from(["m", "a b", "x=1", "said hi", "host=x", ""]))
    line = f"{TS.decode()} INFO s: {message}" + "".join(f" {k}={v}" for k, v in pairs)
    return line.encode("utf-8") + b"\n"


@PROPERTY
@given(st.lists(pair_lines(), min_size=1, max_size=3))
def test_lines_of_pairs_with_json_strings(lines: list[bytes]) -> None:
    check(b"".join(lines))


MUTATIONS = [
    b" ", b"  ", b"=", b":", b"\\", b"9", b"host=", b"attr.x=", b"seq=1", b"\xc3\xa9", b"", b'"', b'="', b'\\"',
    b' user_id="a b"', b'\\n',
]  # fmt: skip
BAD_MUTATIONS = [b'"', b"\t", b"\xc2\xa0", b"\xff", b"\xc3", b"\n", b"\r\n"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A golden line with bytes replaced, inserted or deleted: mostly syntax after the service,
    sometimes what the transcoder declines anywhere."""
    line = bytearray(draw(st.sampled_from(GOLDEN)))
    for _ in range(draw(st.integers(1, 4))):
        anywhere = draw(st.integers(0, 3)) == 3
        at = draw(st.integers(0 if anywhere else max(line.find(b": "), 0), len(line)))
        new = draw(st.sampled_from(BAD_MUTATIONS if anywhere else MUTATIONS))
        cut = draw(st.integers(0, 3))
        line[at : at + cut] = new
    return bytes(line)


@PROPERTY
@given(st.lists(mutated(), min_size=1, max_size=4))
def test_mutated_golden_lines(lines: list[bytes]) -> None:
    check(b"\n".join(lines) + b"\n")


@PROPERTY
@given(st.binary(max_size=200) | st.text(st.characters(max_codepoint=0x7F), max_size=200).map(str.encode))
def test_arbitrary_bytes(chunk: bytes) -> None:
    check(chunk)


@PROPERTY
@given(st.text(ANY_CHAR, max_size=60))
def test_arbitrary_text_after_a_valid_head(text: str) -> None:
    check(TS + b" WARN s: " + text.encode("utf-8") + b"\n")


# --- the codec ---------------------------------------------------------------------------------


def test_stored_is_the_transcoders_lines_ending_with_the_suffix() -> None:
    chunk = b"\n".join(GOLDEN) + b"\n"
    lines = normalise(SLOW.decode(chunk).entries)
    assert FAST.stored(chunk, END) == (lines.replace(b"}\n", END), len(GOLDEN))
    assert FAST.stored(chunk + DECLINED[0] + b"\n", END) is None
    assert SLOW.stored(chunk, END) is None


def test_stored_is_none_unless_the_loaded_schema_is_the_enforced_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raw, "STORE_DIRECT", False)
    assert RawCodec().stored(GOLDEN[0] + b"\n", END) is None
    assert RawCodec().decode(GOLDEN[0] + b"\n").jsonl is not None  # decode still takes the fast path


def test_without_the_compiled_module_the_parser_does_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raw, "_transcode", None)
    codec = RawCodec()
    assert not codec.fast and codec.stored(GOLDEN[0] + b"\n", END) is None
    decoded = codec.decode(GOLDEN[0] + b"\n")
    assert decoded.jsonl is None and decoded.entries == SLOW.decode(GOLDEN[0]).entries


# --- the Python path: inputs that made it raise ------------------------------------------------


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
