"""The compiled GELF transcoder against the codec's Python path: whenever it takes a list of
messages, it stores exactly the lines that msgspec, ``GelfCodec.record`` and ``normalise`` store
(same fields, order, escapes and timestamps), and nothing the Python path would refuse; and it
takes the messages real senders make (the generator's, pygelf's, graypy's shape, Docker's gelf
driver's).

The messages are written token by token (``test_hec_fast.dumped``), so the same values come in
every JSON spelling: escapes, raw UTF-8, whitespace between any two tokens, numbers of every shape.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import sys
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygelf import gelf as pygelf

from tests.unit.shippers.test_hec_fast import SPACES, Num, Obj, dumped
from workbench import model
from workbench.codecs.base import Decoded
from workbench.ingestor.decoding import normalise
from workbench.shippers import gelf
from workbench.shippers.gelf import GelfCodec

pytestmark = pytest.mark.skipif(gelf._transcode is None, reason="workbench.speedups._gelf is not built")

NOW = dt.datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=dt.UTC)
PEER = "10.1.2.3"
END = b',"received_at":"2026-12-03T12:00:01Z","format":"gelf","transport":"udp","peer":"10.1.2.3:9"}\n'

KEYS = st.sampled_from([
    "short_message", "timestamp", "level", "host", "version", "full_message", "facility", "file", "line",
    "_service", "_service_name", "_container_name", "_tag", "_seq", "_client_id", "_user_id", "_user.id",
    "_session_id", "_session.id", "_trace_id", "_trace.id", "_id", "_", "__x", "_file", "_line",
    "_full_message", "_k", "_é", '_a"b', "_\n", "_😀", "message", "", "x",
])  # fmt: skip
WORDS = st.sampled_from([
    "info", "INFO", " Warn ", "warning", "err", "ERROR", "crit", "notice", "verbose", "3", "7", "8", " 5",
    "", "42", "000123", "9223372036854775807", "9223372036854775808", "٣", "\u00a0info", "\x1finfo\x0b",
    "/web", "x" * 14,
])  # fmt: skip
TEXT = st.one_of(WORDS, st.text(max_size=30), st.text(min_size=250, max_size=260))
INTS = st.one_of(
    st.integers(-10, 10),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([10**12, 10**13, 2**64]),
    st.just(Num("-0")),
)


@st.composite
def scalars(draw: Any, plain: bool) -> Any:
    kinds = ["text", "text", "text", "int", "bool", "null"] + ([] if plain else ["float", "nested"])
    kind = draw(st.sampled_from(kinds))
    if kind == "text":
        return draw(TEXT)
    if kind == "int":
        return draw(INTS)
    if kind == "bool":
        return draw(st.booleans())
    if kind == "float":
        return draw(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                              st.sampled_from([Num("1.5"), Num("1E3"), Num("1e400")])))  # fmt: skip
    if kind == "nested":
        return draw(st.sampled_from([Obj((("a", 1),)), [1, "a"], []]))
    return None


def _seconds_text(draw: Any) -> str:
    whole = draw(st.sampled_from(["1764600000", "0", "253402300799", "253402300800", "17000000000000"]))
    digits = draw(st.integers(0, 9))
    frac = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits)))
    text = whole + ("." + frac if digits else "")
    return draw(st.sampled_from(["", "", "-"])) + text + draw(st.sampled_from(["", "", "", "e0", "E-3"]))


@st.composite
def times(draw: Any, plain: bool) -> Any:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return None
    if kind == 1:
        return draw(st.integers(-(10**13), 10**13))
    if kind == 2:
        return Num(_seconds_text(draw))
    if kind == 3:
        return draw(st.floats(-1e12, 1e12))
    if kind == 4 or plain:
        return _seconds_text(draw)
    return draw(st.sampled_from(["", " 1764600000", "1_764_600_000", "inf", "nan", "soon", True]))


@st.composite
def messages(draw: Any, plain: bool = False) -> Obj:
    keys = draw(st.lists(KEYS, max_size=9, unique=plain))
    items: list[tuple[str, Any]] = []
    for key in keys:
        if key == "timestamp":
            items.append((key, draw(times(plain))))
        else:
            items.append((key, draw(scalars(plain))))
    if "short_message" not in keys and (plain or draw(st.integers(0, 5))):
        at = draw(st.integers(0, len(items)))
        items.insert(at, ("short_message", draw(st.one_of(TEXT, st.text(min_size=1, max_size=40)))))
    if "timestamp" not in keys and draw(st.booleans()):
        items.append(("timestamp", draw(times(plain))))
    return Obj(tuple(items))


@st.composite
def batches(draw: Any, plain: bool = False) -> list[bytes]:
    rnd = random.Random(draw(st.integers(0, 2**32)))  # the spelling: many choices, one draw
    rate = draw(st.sampled_from([0.0, 0.0, 0.02, 0.3]))
    raws = []
    # outside the plain case, some messages of a batch are plain and some are not
    kinds = st.just(True) if plain else st.booleans()
    for message in draw(st.lists(kinds.flatmap(messages), min_size=1, max_size=4)):
        text = rnd.choice(SPACES) + dumped(rnd, message, rate) + rnd.choice(SPACES)
        raws.append(text.encode("utf-8", "surrogatepass"))
    if not plain and draw(st.integers(0, 10)) == 0:
        i = draw(st.integers(0, len(raws) - 1))
        at = draw(st.integers(0, len(raws[i])))
        extra = draw(st.sampled_from([b"\xff", b"\x00", b"\xed\xa0\x80", b"}", b"\x0b", b",{}"]))
        raws[i] = raws[i][:at] + extra + raws[i][at:]
    return raws


# --- the two paths --------------------------------------------------------------------------------


def python_path(raws: list[bytes], service: str = "raw", peer: str = PEER) -> Decoded:
    with mock.patch.object(gelf.model, "now_utc", return_value=NOW):
        return GelfCodec(service, fast=False).messages(raws, peer)


def fast_path(raws: list[bytes], service: str = "raw", peer: str = PEER,
              end: bytes = b"}\n") -> tuple[bytes, int] | None:  # fmt: skip
    with mock.patch.object(gelf.model, "now_utc", return_value=NOW):
        return GelfCodec(service)._transcoded(raws, peer, end)


def check_same(raws: list[bytes], service: str = "raw", peer: str = PEER) -> bool:
    """Whether the transcoder took the messages; when it did, it agrees with the Python path."""
    got = fast_path(raws, service, peer)
    if got is None:
        return False
    slow = python_path(raws, service, peer)
    assert not slow.errors, f"the transcoder took a message the codec refuses: {slow.errors[0]}"
    lines, count = got
    assert count == len(slow.entries) == len(raws)
    assert lines == normalise(slow.entries)
    # with the batch's stored fields written in, as the ingestor asks for them
    with_end = fast_path(raws, service, peer, END)
    assert with_end is not None and with_end[0] == lines.replace(b"}\n", END)
    return True


SERVICES = st.sampled_from(["raw", "s" * 256, "s" * 257, ""])
PEERS = st.sampled_from([PEER, "", "h" * 257, "::1"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), SERVICES, PEERS)
def test_whatever_the_transcoder_takes_it_stores_as_the_python_path(
    raws: list[bytes], service: str, peer: str
) -> None:
    check_same(raws, service, peer)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(plain=True), PEERS)
def test_plain_messages_agree_or_are_declined_for_a_reason(raws: list[bytes], peer: str) -> None:
    # the plain strategy still declines on purpose: seq past int64, long text, level words with
    # Unicode spaces, times out of range, _file with file, _user_id with _user.id
    check_same(raws, peer=peer)


@given(st.lists(st.binary(max_size=60), min_size=1, max_size=3))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_store_what_msgspec_refuses(raws: list[bytes]) -> None:
    if fast_path(raws) is None:
        return
    for raw in raws:
        msgspec.json.decode(raw)  # (raises: the finding)
    check_same(raws)


SECONDS = st.one_of(
    st.floats(-1e11, 1e11).map(repr),
    st.integers(0, 2**53).map(lambda u: repr(u / 1e6)),
    st.integers(-(2**52), 2**52).map(lambda m: f"{m // 10**6}.{m % 10**6:06d}"[: 11 + m % 7]),
)


@settings(max_examples=400, deadline=None)
@given(SECONDS, st.booleans())
def test_times_round_as_python_rounds_them(text: str, as_text: bool) -> None:
    seconds = float(text)
    stamp = json.dumps(text) if as_text else text
    taken = check_same([b'{"short_message":"x","timestamp":' + stamp.encode() + b"}"])
    assert taken or not -62135596800 <= seconds < 253402300800


# --- what real senders send is taken ---------------------------------------------------------------


def test_the_generators_messages_are_taken() -> None:
    from workbench.generator.patterns import LogFactory
    from workbench.generator.pool import render_chunk
    from workbench.generator.protocols import spec_of
    from workbench.generator.requestpool import RequestPool, no_head

    factory = LogFactory(seed=11)
    entries = model.to_entries([factory.next() for _ in range(1000)])
    for protocol in ("gelf-udp", "gelf-tcp"):
        pool = RequestPool(protocol, entries, 500, len("gen-ab-07"), no_head, spec_of(protocol))
        chunk = render_chunk(pool, pool.client_buffer("gen-ab-07"), 0, 2, 7, 1_750_000_000_123_456)
        for s, e, n, _ in chunk.frames:
            raws = chunk.data[s:e].split(b"\0")[:-1]
            assert len(raws) == n == 500 and check_same(raws)
            lines = fast_path(raws)[0]  # type: ignore[index]
            assert lines.count(b'"client_id":"gen-ab-07"') == 500 and lines.count(b'"seq":') == 500


DOCKER = {
    "version": "1.1", "host": "docker-host", "short_message": 'GET /cart 200 "ok"',
    "timestamp": 1764600000.123, "level": 6, "_container_name": "web", "_container_id": "4f1c0e6d2a9b" * 5 + "abcd",
    "_image_name": "shop/web:1.4", "_image_id": "sha256:" + "ab" * 32, "_command": "nginx -g 'daemon off;'",
    "_tag": "4f1c0e6d2a9b", "_created": "2026-12-01T09:00:00.123456789Z",
}  # fmt: skip


def test_the_docker_gelf_drivers_shape_is_taken() -> None:
    raws = [msgspec.json.encode(DOCKER | {"short_message": f"line {i}", "level": 3 if i % 2 else 6})
            for i in range(20)]  # fmt: skip
    assert check_same(raws)
    line = fast_path(raws)[0].split(b"\n")[3]  # type: ignore[index]
    assert line.startswith(b'{"timestamp":"2025-12-01T14:40:00.123000Z","level":"ERROR","service":"web",')
    assert b'"message":"line 3","host":"docker-host","attributes":{"container_name":"web"' in line
    assert b'"created":"2026-12-01T09:00:00.123456789Z"}}' in line
    # the tag as the service when there is no container name, an integer time, no level
    rest = {k: v for k, v in DOCKER.items() if k not in ("_container_name", "level")}
    assert check_same([msgspec.json.encode(rest | {"timestamp": 1764600000})])


def _record(level: int, msg: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("shop.orders", level, "/srv/app/orders.py", 42, msg, (), None, "ship")
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize("debug", [False, True])
def test_pygelfs_messages_are_taken(debug: bool) -> None:
    try:
        raise ValueError("no stock")
    except ValueError:
        exc_info = sys.exc_info()
    records = [
        _record(logging.INFO, "order 1 shipped", seq=1, client_id="py"),
        _record(logging.ERROR, 'order 2 lost: ünï 😀 "q"', seq=2, client_id="py"),
        _record(logging.DEBUG, "x", user_id="u1", trace_id="0af7651916cd43dd8448eb211c80319c", n=3, ok=True),
    ]
    records[1].exc_info = exc_info
    raws = [
        pygelf.pack(pygelf.make(r, "app-host", debug, "1.1", {"_service": "billing"}, None, True), False,
                    pygelf.object_to_json)
        for r in records
    ]  # fmt: skip
    assert check_same(raws)


def test_graypys_message_shape_is_taken() -> None:
    # graypy's fields (debugging fields and extras on): standard file/line/facility, a float time
    message = {
        "version": "1.0", "host": "app-host", "short_message": "order 7 shipped", "full_message": "order 7\nok",
        "timestamp": 1764600000.1234567, "level": 6, "facility": "shop", "file": "/srv/app/orders.py",
        "line": 42, "_function": "ship", "_pid": 4242, "_process_name": "MainProcess",
        "_thread_name": "MainThread", "_logger_name": "shop.orders", "_seq": 7, "_client_id": "graypy",
    }  # fmt: skip
    raws = [json.dumps(message).encode(), json.dumps(message, separators=(",", ":")).encode()]
    assert check_same(raws)
    assert b'"attributes":{"full_message":"order 7\\nok","facility":"shop"' in fast_path(raws)[0]  # type: ignore[index]


# --- what is left to the Python path ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"host":"h"}', id="no short_message"),
        pytest.param(b'{"short_message":5}', id="a short_message that is not a string"),
        pytest.param(b'{"short_message":"m","_k":1.5}', id="a float field"),
        pytest.param(b'{"short_message":"m","_k":{"a":1}}', id="an object field"),
        pytest.param(b'{"short_message":"m","version":[1]}', id="an array under a key not kept"),
        pytest.param(b'{"short_message":"m","level":6.0}', id="a float level"),
        pytest.param(b'{"short_message":"m","timestamp":"soon"}', id="a time that is not seconds"),
        pytest.param(b'{"short_message":"m","timestamp":true}', id="a boolean time"),
        pytest.param(b'{"short_message":"m","timestamp":1e400}', id="a time out of range"),
        pytest.param(b'{"short_message":"m","timestamp":" 1764600000"}', id="a time only float() reads"),
        pytest.param(b'{"short_message":"m","level":"\\u00a0error"}', id="a level with a Unicode space"),
        pytest.param(b'{"short_message":"m","_seq":"99999999999999999999"}', id="seq past int64"),
        pytest.param(b'{"short_message":"m","_user_id":"a","_user.id":"b"}', id="two fields promote to one"),
        pytest.param(b'{"short_message":"m","file":"a","_file":"b"}', id="a field named as a standard one"),
        pytest.param(b'{"short_message":"m","_a":1,"\\u005fa":2}', id="a key twice"),
        pytest.param(b'{"short_message":"m","_service":"' + b"s" * 257 + b'"}', id="a service too long"),
        pytest.param(b'{"short_message":"m"},{"short_message":"n"}', id="two objects in one message"),
        pytest.param(b'{"short_message":"m"}\x00', id="a NUL after the object"),
        pytest.param(b'{"short_message":"m"', id="a cut message"),
        pytest.param(b"", id="nothing"),
    ],
)
def test_what_the_transcoder_leaves_to_the_python_path(raw: bytes) -> None:
    assert fast_path([b'{"short_message":"fine"}', raw]) is None
    python_path([raw])  # and the Python path still answers (stored or refused with a reason)


def test_the_codec_stores_the_transcoders_lines_without_entries() -> None:
    raws = [b'{"short_message":"a","_seq":"1"}', b' {"short_message":"b","_seq":2}\n']
    out = GelfCodec().messages(raws, PEER, END)
    assert out.entries == [] and out.count == 2 and out.end == END
    assert out.jsonl is not None and out.jsonl.count(END) == 2
    assert GelfCodec().messages(raws, PEER).entries  # a caller without the end gets entries


def test_a_refused_message_goes_to_the_python_path_which_names_it() -> None:
    raws = [b'{"short_message":"a"}', b'{"short_message":"b","timestamp":"soon"}', b'{"short_message":"c"}']
    out = GelfCodec().messages(raws, PEER, END)
    assert out.jsonl is None and len(out.entries) == 2 and [e.index for e in out.errors] == [1]
