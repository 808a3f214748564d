"""The compiled HEC transcoder against the codec's Python path: whenever it takes an event body,
it stores exactly the lines that msgspec, the codec's mapping and ``normalise`` store (same
fields, order, escapes and timestamps), and nothing the Python path would refuse; and it takes
the bodies real senders make (the generator's, Docker's splunk driver's).

The bodies are written here token by token, so the same values come in every JSON spelling:
escapes (short, ``\\uXXXX`` in either case, surrogate pairs, ``\\/``), raw UTF-8, whitespace
between any two tokens and between events, numbers of every shape.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench import model
from workbench.codecs.base import Decoded
from workbench.ingestor.decoding import normalise
from workbench.shippers import hec
from workbench.shippers.base import HttpRequest
from workbench.shippers.hec import HecCodec

pytestmark = pytest.mark.skipif(hec._transcode is None, reason="workbench.speedups._hec is not built")

NOW = dt.datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=dt.UTC)
PEER = "10.1.2.3"
END = b',"received_at":"2026-12-03T12:00:01Z","format":"hec","transport":"tls","peer":"10.1.2.3:9"}\n'


# --- JSON written token by token ----------------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    """A JSON object as its members in order (a key may come twice)."""

    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Num:
    """A number as its JSON text (``1.50``, ``1E+3``, ``-0``)."""

    text: str


SPACES = ("", "", "", " ", "\n", "\t", "\r\n", "  ")
SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _u(rnd: random.Random, cp: int) -> str:
    text = f"\\u{cp:04x}"
    return "\\u" + text[2:].upper() if rnd.random() < 0.5 else text


def quoted(rnd: random.Random, text: str, rate: float) -> str:
    """A JSON string of the text, each character raw or escaped (``rate``: how often a character
    that needs no escape gets one)."""
    out = ['"']
    for ch in text:
        cp = ord(ch)
        if ch in SHORT and rnd.random() < 0.7:
            out.append(SHORT[ch])
        elif cp < 0x20 or ch in SHORT:
            out.append(_u(rnd, cp))
        elif rnd.random() >= rate:
            out.append(ch)
        elif ch == "/" and rnd.random() < 0.5:
            out.append("\\/")
        elif cp >= 0x10000:  # a surrogate pair
            v = cp - 0x10000
            out.append(_u(rnd, 0xD800 + (v >> 10)) + _u(rnd, 0xDC00 + (v & 0x3FF)))
        else:
            out.append(_u(rnd, cp))
    out.append('"')
    return "".join(out)


def dumped(rnd: random.Random, value: Any, rate: float = 0.05) -> str:
    """The value as JSON, with whitespace between its tokens at random (``rate``: of escapes)."""

    def ws() -> str:
        return rnd.choice(SPACES)

    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Num):
        return value.text
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return quoted(rnd, value, rate)
    if isinstance(value, list):
        return "[" + ",".join(ws() + dumped(rnd, v, rate) + ws() for v in value) + "]"
    assert isinstance(value, Obj)
    members = [
        ws() + quoted(rnd, k, rate) + ws() + ":" + ws() + dumped(rnd, v, rate) + ws() for k, v in value.items
    ]
    return "{" + (",".join(members) if members else ws()) + "}"


KEYS = st.sampled_from([
    "message", "msg", "log", "line", "level", "severity", "service", "service.name", "seq", "client_id",
    "user_id", "user.id", "session_id", "session.id", "trace_id", "trace.id", "source", "sourcetype",
    "index", "host", "tag", "region", "k", "é", 'a"b', "", "a/b", "\n", "😀",
])  # fmt: skip
WORDS = st.sampled_from([
    "info", "INFO", " Warn ", "warning", "err", "ERROR", "crit", "fatal", "Emergency", "notice", "verbose",
    "3", "7", "8", " 5", "", "42", "007", "9223372036854775807", "9223372036854775808", "x", "٣", "\u00a0info",
])  # fmt: skip
TEXT = st.one_of(WORDS, st.text(max_size=30), st.text(min_size=250, max_size=260))
INTS = st.one_of(
    st.integers(-10, 10),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([10**17, 10**18 - 1, 10**18, 2**64]),
    st.just(Num("-0")),
)
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([Num("1.5"), Num("1E3"), Num("2e-1"), Num("1.0"), Num("1e400")]),
)


@st.composite
def scalars(draw: Any, plain: bool = False) -> Any:
    kinds = ["text", "text", "text", "int", "bool", "null"] + ([] if plain else ["float"])
    kind = draw(st.sampled_from(kinds))
    if kind == "text":
        return draw(TEXT)
    if kind == "int":
        return draw(INTS)
    if kind == "float":
        return draw(FLOATS)
    if kind == "bool":
        return draw(st.booleans())
    return None


@st.composite
def flat_objects(draw: Any, plain: bool = False, line: bool = False) -> Obj:
    items = [(k, draw(scalars(plain))) for k in draw(st.lists(KEYS, max_size=7))]
    if line and draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), ("line", draw(flat_objects(plain))))
    if not plain and draw(st.integers(0, 9)) == 0:
        items.append(("nested", draw(st.sampled_from([Obj((("a", 1),)), [1, "a"], []]))))
    return Obj(tuple(items))


def _seconds_text(draw: Any) -> str:
    whole = draw(st.sampled_from(["1700000000", "0", "253402300799", "253402300800", "1", "17000000000000"]))
    digits = draw(st.integers(0, 20))
    frac = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits)))
    text = whole + ("." + frac if digits or draw(st.booleans()) else "")
    return draw(st.sampled_from(["", "", "-"])) + text + draw(st.sampled_from(["", "", "e0", "E-3", "e+2"]))


@st.composite
def times(draw: Any, plain: bool = False) -> Any:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return None
    if kind == 1:
        return draw(st.integers(-(10**13), 10**13))
    if kind == 2:
        return Num(_seconds_text(draw))  # (kept only when it is a JSON number)
    if kind == 3:
        return draw(st.floats(-1e12, 1e12))
    if kind == 4 or plain:
        return _seconds_text(draw)
    return draw(st.sampled_from(["", " 1700000000", "1_700_000_000", "inf", "nan", "abc", "１７", True, [1]]))


def _valid_number(text: str) -> bool:
    try:
        msgspec.json.decode(text)
    except msgspec.DecodeError:
        return False
    return True


@st.composite
def events(draw: Any, plain: bool = False) -> Obj:
    items: list[tuple[str, Any]] = []
    kind = draw(st.integers(0, 9))
    if kind < 5:
        items.append(("event", draw(TEXT)))
    elif kind < 9:
        items.append(("event", draw(flat_objects(plain, line=True))))
    elif not plain:
        items.append(("event", draw(st.sampled_from([None, 42, "   ", "\u2003", "\t\n", [1], Obj(())]))))
    if draw(st.booleans()):
        t = draw(times(plain))
        if not (isinstance(t, Num) and not _valid_number(t.text)):
            items.append(("time", t))
    for key in ("host", "source", "sourcetype", "index"):
        if draw(st.integers(0, 2)) == 0:
            items.append((key, draw(st.one_of(st.none(), TEXT, st.integers(0, 9)))))
    if draw(st.booleans()):
        items.append(("fields", draw(flat_objects(plain)) if plain or draw(st.integers(0, 5)) else None))
    if not plain and draw(st.integers(0, 15)) == 0:
        items.append(draw(st.sampled_from([("other", 1), ("event", "again"), ("\\u0065vent", "x")])))
    order = draw(st.permutations(items))
    return Obj(tuple(order))


@st.composite
def bodies(draw: Any, plain: bool = False) -> bytes:
    rnd = random.Random(draw(st.integers(0, 2**32)))  # the spelling: many choices, one draw
    rate = draw(st.sampled_from([0.0, 0.0, 0.02, 0.3]))
    parts = [rnd.choice(SPACES)]
    for ev in draw(st.lists(events(plain), min_size=1, max_size=4)):
        parts.append(dumped(rnd, ev, rate))
        parts.append(rnd.choice(["", "\n", " ", "\r\n", "\n\n", "\t"]))
    body = "".join(parts).encode("utf-8", "surrogatepass")
    if not plain and draw(st.integers(0, 20)) == 0:
        at = draw(st.integers(0, len(body)))
        body = (
            body[:at] + draw(st.sampled_from([b"\xff", b"\x00", b"\xed\xa0\x80", b"}", b"\x0b"])) + body[at:]
        )
    return body


QUERIES = st.fixed_dictionaries({}, optional={
    "host": st.sampled_from(["", "qhost", 'q"h', "hôte"]), "source": st.sampled_from(["", "qsrc", "\n"]),
    "sourcetype": st.just("_json"), "index": st.sampled_from(["main", "é"]),
    "channel": st.just("0f6a2d2e-3f1a-4c3e-9a55-6f3b1c2d4e5f"),
})  # fmt: skip


# --- the two paths --------------------------------------------------------------------------------


def request(body: bytes, query: dict[str, str] | None = None, end: bytes = b"}\n") -> HttpRequest:
    return HttpRequest("POST", "/services/collector/event", dict(query or {}), {}, body, peer_host=PEER,
                       stored_end=end)  # fmt: skip


def python_path(body: bytes, query: dict[str, str] | None = None) -> Decoded:
    with mock.patch.object(hec.model, "now_utc", return_value=NOW):
        out = HecCodec(fast=False).decode("event", request(body, query))
    assert isinstance(out, Decoded)
    return out


def fast_path(
    body: bytes, query: dict[str, str] | None = None, end: bytes = b"}\n"
) -> tuple[bytes, int] | None:
    with mock.patch.object(hec.model, "now_utc", return_value=NOW):
        return HecCodec()._transcoded(request(body, query, end))


def check_same(body: bytes, query: dict[str, str] | None = None) -> bool:
    """Whether the transcoder took the body; when it did, it agrees with the Python path."""
    got = fast_path(body, query)
    if got is None:
        return False
    slow = python_path(body, query)
    assert not slow.errors, f"the transcoder took a body the codec refuses: {slow.errors[0]}"
    lines, count = got
    assert count == len(slow.entries)
    assert lines == (normalise(slow.entries) if slow.entries else b"")
    # with the batch's stored fields written in, as the ingestor asks for them
    with_end = fast_path(body, query, END)
    assert with_end is not None and with_end[0] == lines.replace(b"}\n", END)
    return True


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), QUERIES)
def test_whatever_the_transcoder_takes_it_stores_as_the_python_path(
    body: bytes, query: dict[str, str]
) -> None:
    check_same(body, query)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(plain=True), QUERIES)
def test_plain_bodies_agree_or_are_declined_for_a_reason(body: bytes, query: dict[str, str]) -> None:
    # the plain strategy still declines on purpose: blank messages, seq past int64, long text,
    # level words with Unicode spaces, times out of range; everything taken agrees
    check_same(body, query)


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_store_what_msgspec_refuses(data: bytes) -> None:
    if fast_path(data) is None:
        return
    msgspec.json.Decoder().decode_lines(data)  # (raises: the finding)
    check_same(data)


def _fixed(micros: int, digits: int) -> str:
    """Epoch seconds with ``digits`` fraction digits (cut, not rounded): what senders write."""
    whole, frac = divmod(abs(micros), 1_000_000)
    text = f"{whole}" + (f".{frac:06d}"[: digits + 1] if digits else "")
    return "-" + text if micros < 0 else text


SECONDS = st.one_of(
    st.floats(-1e11, 1e11).map(repr),
    st.integers(0, 2**53).map(lambda u: repr(u / 1e6)),
    # around the exact path's bound (2^51 µs) and inside it, with 0 to 6 fraction digits
    st.builds(_fixed, st.one_of(st.integers(-(2**52), 2**52), st.integers(2**51 - 10**7, 2**51 + 10**7)),
              st.integers(0, 6)),
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(SECONDS, st.booleans())
def test_times_round_as_python_rounds_them(text: str, as_text: bool) -> None:
    seconds = float(text)
    time = msgspec.json.encode(text).decode() if as_text else text
    body = b'{"event":"x","time":' + time.encode() + b"}"
    taken = check_same(body)
    # what is declined: instants outside years 1-9999, and the JSON number -0 (an int to msgspec)
    assert taken or not -62135596800 <= seconds < 253402300800 or (time == "-0")


# --- what real senders send is taken ---------------------------------------------------------------


def _entries(n: int) -> list[Any]:
    base = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    return [
        model.LogEntry(timestamp=base + dt.timedelta(microseconds=i * 1013), level=model.LEVELS[i % 6],
                       service=f"svc-{i % 3}", message=f'order {i} "quoted" \t ünï \\ 😀', host=f"web-{i % 2}",
                       user_id=None if i % 2 else f"u{i}", session_id="s" if i % 5 == 0 else None,
                       trace_id="0af7651916cd43dd8448eb211c80319c" if i % 4 == 0 else None,
                       attributes={"region": "eu", "a b": "c\nd"} if i % 3 else {}, client_id="c-1", seq=i)
        for i in range(n)
    ]  # fmt: skip


def test_the_generators_bodies_are_taken() -> None:
    from workbench.generator import protocols

    body = protocols.hec_events(_entries(200), "c-1")
    assert check_same(body)
    assert check_same(body, {"host": "h", "source": "s", "index": "main", "sourcetype": "x"})
    lines, count = fast_path(body)  # type: ignore[misc]
    assert count == 200 and b'"seq":7' in lines and b'"client_id":"c-1"' in lines


DOCKER_INLINE = (
    b'{"event":{"line":"paid 7 \\"eur\\"","source":"stdout","tag":"checkout"},'
    b'"time":"1700000000.123456","host":"docker-host"}'
)
DOCKER_JSON = (
    b'{"event":{"line":{"seq":5,"client_id":"json","msg":"paid 5","level":"warn"},"source":"stderr",'
    b'"tag":"checkout"},"time":"1700000000.999999","host":"docker-host"}'
)


@pytest.mark.parametrize("query", [{}, {"source": "q", "index": "main"}, {"host": "qh"}])
def test_the_docker_splunk_drivers_shapes_are_taken(query: dict[str, str]) -> None:
    body = b"\n".join([DOCKER_INLINE, DOCKER_JSON] * 3) + b"\n"
    assert check_same(body, query)
    lines = fast_path(body, query)[0].split(b"\n")  # type: ignore[index]
    assert b'"message":"paid 5","host":"docker-host"' in lines[1] and b'"level":"WARN"' in lines[1]
    assert b'"seq":5' in lines[1] and b'"timestamp":"2023-11-14T22:13:20.999999Z"' in lines[1]


def test_plain_shapes_of_other_senders_are_taken() -> None:
    bodies = [
        b'{"event":"a"}{"event":"b","time":1700000000}\n\n  {"event":"c","time":1700000000.5}',
        b'{"time":1700000000.25,"host":"h","source":"s","sourcetype":"st","index":"i","event":"x",'
        b'"fields":{"level":"error","service":"svc","seq":"42","client_id":"c","k":1,"b":true,"n":null}}',
        b'{"event":{"message":"m","severity":3,"service.name":"s","user.id":"u","trace.id":"t"}}',
        b'{"event":"\\u00e9\\ud83d\\ude00\\/\\n","fields":{"\\u006b":"v","k":"w"},"time":null}',
        b'{"event":{"action":"login","user":"u\\"1","n":-3,"ok":true,"z":null,"\\u00e9":"x"},"fields":{"seq":"5"}}',
    ]
    for body in bodies:
        assert check_same(body), body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"event":{"message":"m","ctx":{"a":1}}}', id="a nested object"),
        pytest.param(b'{"event":"m","fields":{"k":1.5}}', id="a float attribute"),
        pytest.param(b'{"event":"m","extra":1}', id="an unknown top-level key"),
        pytest.param(b'{"event":{"line":{"k":"v"}}}', id="a line object without a message"),
        pytest.param(b'{"event":"m","fields":{"level":"\\u00a0error"}}', id="a level with a Unicode space"),
        pytest.param(b'{"event":"m","fields":{"level":"\\terror"}}', id="a level with a control character"),
        pytest.param(b'{"event":"m","fields":{"seq":"99999999999999999999"}}', id="seq past int64"),
        pytest.param(b'{"event":"m","time":"1_700_000_000"}', id="a time only float() reads"),
        pytest.param(b'{"event":"m","time":1e400}', id="a time out of range"),
        pytest.param(b'{"event":"   "}', id="a blank event"),
        pytest.param(b'{"event":"m"}x', id="not JSON after an event"),
        pytest.param(b'{"event":"m","event":"n"}', id="a top-level key twice"),
    ],
)
def test_what_the_transcoder_leaves_to_the_python_path(body: bytes) -> None:
    assert fast_path(body) is None
    python_path(body)  # and the Python path still answers (stored or refused with a reason)


def test_whitespace_is_what_str_isspace_says() -> None:
    codec = HecCodec()
    for cp in list(range(0x3001)) + list(range(0xFFF0, 0x10000)) + [0x10000, 0x1F600]:
        if 0xD800 <= cp <= 0xDFFF:
            continue
        for body in (
            msgspec.json.encode({"event": chr(cp)}),
            b'{"event":"\\u%04x"}' % cp if cp < 0x10000 else b"",
        ):
            if not body:
                continue
            with mock.patch.object(hec.model, "now_utc", return_value=NOW):
                got = codec._transcoded(request(body))
            assert (got is None) == chr(cp).isspace(), hex(cp)


def test_the_codec_stores_the_transcoders_lines_without_entries() -> None:
    body = b'{"event":"a","fields":{"seq":"1"}}{"event":"b","fields":{"seq":"2"}}'
    query = {"channel": "0f6a2d2e-3f1a-4c3e-9a55-6f3b1c2d4e5f"}
    codec = HecCodec()
    req = request(body, query, END)
    out = codec.decode("event", req)
    assert isinstance(out, Decoded) and out.entries == [] and out.count == 2 and out.end == END
    assert out.jsonl is not None and out.jsonl.count(END) == 2
    reply = codec.reply("event", req, out)  # indexer acknowledgement: one ackId for the request
    assert reply.status == 200 and b'"ackId":' in reply.body


def test_a_refused_event_goes_to_the_python_path_which_names_it() -> None:
    body = b'{"event":"a"}{"event":"b","time":"soon"}{"event":"c"}'
    out = HecCodec().decode("event", request(body))
    assert isinstance(out, Decoded) and len(out.entries) == 1 and [e.index for e in out.errors] == [1, 2]
