"""The compiled Forward transcoder against the codec's Python path: whenever it takes a
PackedForward stream, it stores exactly the lines that unpacking, ``ForwardCodec.events`` and
``normalise`` store (same fields, order and escapes), and nothing the Python path would reject;
and it takes the streams real senders make (the generator's pool, Docker's fluentd driver,
Fluent Bit).
"""

from __future__ import annotations

import contextlib
import gzip
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench import model
from workbench.codecs.base import Decoded
from workbench.ingestor.decoding import normalise
from workbench.shippers import forward
from workbench.shippers.forward import ForwardCodec, ForwardError, decode_event_time, parse_message

pytestmark = pytest.mark.skipif(forward._transcode is None, reason="workbench.speedups._forward is not built")

PEER = "10.1.2.3"
LIMIT = 1 << 24
T = 1_764_600_000

KEYS = st.sampled_from([
    "message", "log", "msg", "level", "severity", "log.level", "service", "service.name", "service_name",
    "host", "hostname", "container_name", "container_id", "source", "tag", "seq", "client_id", "user_id",
    "user.id", "session_id", "session.id", "trace_id", "trace.id", "k", "é", 'a"b', "", "a\nb", "lo",
])  # fmt: skip
LEVELS = ["info", "INFO", "Warning", "err", "crit", "notice", "informational", "verbose", " warn", "warn ",
          "\tinfo", "İnfo", "0", "3", "5", "7", "8", "٣", "", "x" * 14]  # fmt: skip
SPECIAL = st.sampled_from(["/web", "//", "/", "web/", "/a/b", "000123", "42", "9223372036854775807",
                           "9223372036854775808", "-1", 'x"\\\n\t\x00\x1f\x7f\u2028é😀', "docker.web"])  # fmt: skip
LONG = st.text(min_size=250, max_size=260)


def event_time(seconds: int, nanos: int) -> msgpack.ExtType:
    return msgpack.ExtType(0, seconds.to_bytes(4, "big") + nanos.to_bytes(4, "big"))


@st.composite
def values(draw: Any, plain: bool) -> Any:
    kinds = ["level", "special", "text", "text", "text", "bin", "int", "int", "bool", "nil"]
    kinds += ["long"] if plain else ["long", "long", "bytes", "float", "array", "map", "ext"]
    kind = draw(st.sampled_from(kinds))
    if kind == "level":
        return draw(st.sampled_from(LEVELS))
    if kind == "special":
        return draw(SPECIAL)
    if kind == "text":
        return draw(st.text(max_size=30))
    if kind == "long":
        return draw(LONG)
    if kind == "bin":
        return draw(st.one_of(SPECIAL, st.text(max_size=20))).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=8))
    if kind == "int":
        return draw(st.one_of(st.integers(0, 9), st.integers(-1000, 10**6), st.integers(-(2**63), 2**63 - 1),
                              st.integers(-(2**63), 2**64 - 1) if not plain else st.just(5)))  # fmt: skip
    if kind == "bool":
        return draw(st.booleans())
    if kind == "nil":
        return None
    if kind == "float":
        return draw(st.floats(allow_nan=False))
    if kind == "array":
        return ["a", 1]
    if kind == "map":
        return {"a": 1}
    return msgpack.ExtType(1, b"x")


EVENT_TIMES = st.builds(event_time, st.sampled_from([0, 1, T, 2**32 - 1]),
                        st.sampled_from([0, 999, 1000, 123_456_789, 2**32 - 1]))  # fmt: skip
PLAIN_TIMES = st.one_of(
    EVENT_TIMES,
    st.sampled_from([T, 0, -1, -62_135_596_800, 253_402_300_799]),
    st.integers(-62_135_596_800, 253_402_300_799),
)
TIMES = st.one_of(
    PLAIN_TIMES,
    st.sampled_from([-62_135_596_801, 253_402_300_800, 10**12 + 1]),
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([1.5, "1764600000", msgpack.ExtType(1, bytes(8)), msgpack.ExtType(0, bytes(4)), None, True]),
)  # fmt: skip


def pack_map(pairs: list[tuple[Any, Any]]) -> bytes:
    """A map with its pairs in order, repeated keys included (``packb`` of a dict cannot)."""
    n = len(pairs)
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")
    return head + b"".join(msgpack.packb(k, use_bin_type=True) + msgpack.packb(v, use_bin_type=True)
                           for k, v in pairs)  # fmt: skip


@st.composite
def records(draw: Any, plain: bool) -> bytes:
    keys = draw(st.lists(KEYS if plain else st.one_of(KEYS, st.integers(0, 3), st.binary(max_size=3)),
                         max_size=10, unique=plain))  # fmt: skip
    pairs = [(k, draw(values(plain))) for k in keys]
    if plain or draw(st.booleans()):  # a message (the plain case has one), somewhere in the record
        name = draw(st.sampled_from(["message", "log", "msg"]))
        if name not in keys:
            at = draw(st.integers(0, len(pairs)))
            pairs.insert(at, (name, draw(st.one_of(st.text(min_size=1, max_size=40), SPECIAL))))
    return pack_map(pairs)


@st.composite
def streams(draw: Any, plain: bool = False) -> bytes:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        shape = draw(st.sampled_from(["entry"] * 8 + ([] if plain else ["three", "one", "not a map"])))
        time = msgpack.packb(draw(PLAIN_TIMES if plain else TIMES), use_bin_type=True)
        record = draw(records(plain))
        if shape == "entry":
            out.append(b"\x92" + time + record)
        elif shape == "three":
            out.append(b"\x93" + time + record + b"\xc0")
        elif shape == "one":
            out.append(b"\x91" + time)
        else:
            out.append(b"\x92" + time + b"\xa1x")
    return b"".join(out)


TAGS = st.sampled_from(["docker.web", "", "app", "é" * 3, "t" * 300])
SERVICES = st.sampled_from(["raw", "s" * 256, "s" * 257])


def python_path(data: bytes, tag: str, service: str = "raw", peer: str = PEER) -> Decoded:
    message = parse_message([tag, data], LIMIT)
    return ForwardCodec(service, fast=False).events(message, peer)


def fast_path(data: bytes, tag: str, service: str = "raw", peer: str = PEER) -> tuple[bytes, int] | None:
    assert forward._transcode is not None
    # lines ending with }\n, as normalise writes them
    return forward._transcode(data, tag.encode(), service.encode(), peer.encode(), b"}\n")


def check_same(data: bytes, tag: str = "docker.web", service: str = "raw", peer: str = PEER) -> bool:
    """Whether the transcoder took the stream; when it did, it agrees with the Python path."""
    got = fast_path(data, tag, service, peer)
    if got is None:
        return False
    try:
        slow = python_path(data, tag, service, peer)
    except ForwardError as exc:
        pytest.fail(f"the transcoder took a stream the codec refuses: {exc}")
    assert not slow.errors, f"the transcoder took an entry the codec rejects: {slow.errors[0]}"
    lines, count = got
    assert count == len(slow.entries)
    assert lines == (normalise(slow.entries) if slow.entries else b"")
    return True


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), TAGS, SERVICES)
def test_whatever_the_transcoder_takes_it_stores_as_the_python_path(
    data: bytes, tag: str, service: str
) -> None:
    check_same(data, tag, service)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(plain=True), TAGS, st.sampled_from([PEER, "", "h" * 257]))
def test_plain_streams_agree_or_are_declined_for_a_reason(data: bytes, tag: str, peer: str) -> None:
    # the plain strategy still makes declines on purpose: level words with spaces, seq digits
    # past 2^63-1, user_id with user.id, invalid UTF-8 bins, long text, times out of range
    check_same(data, tag, peer=peer)


@given(st.binary(max_size=200))
@settings(max_examples=400, deadline=None)
def test_arbitrary_bytes_never_store_what_the_python_path_refuses(data: bytes) -> None:
    check_same(data)


@given(streams(plain=True), st.integers(0, 200))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_cut_or_corrupted_stream_is_never_taken_wrongly(data: bytes, at: int) -> None:
    check_same(data[: at % (len(data) + 1)])
    if data:
        i = at % len(data)
        check_same(data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1 :])


def _entry(time: Any, record: dict[Any, Any]) -> bytes:
    return msgpack.packb([time, record], use_bin_type=True)


def test_the_generators_pool_is_taken() -> None:
    from workbench.generator.patterns import LogFactory
    from workbench.generator.pool import render_chunk
    from workbench.generator.protocols import spec_of
    from workbench.generator.requestpool import RequestPool, no_head

    factory = LogFactory(seed=11)
    entries = model.to_entries([factory.next() for _ in range(2000)])
    for ack in (False, True):
        pool = RequestPool("forward", entries, 1000, len("gen-ab-07"), no_head, spec_of("forward", ack))
        chunk = render_chunk(pool, pool.client_buffer("gen-ab-07"), 0, 2, 7, 1_750_000_000_123_456)
        for s, e, n, _ in chunk.frames:
            tag, data, _ = msgpack.unpackb(chunk.data[s:e])
            assert check_same(data, tag) and n == 1000
            lines, count = fast_path(data, tag)  # type: ignore[misc]
            assert count == 1000 and b'"client_id":"gen-ab-07"' in lines and lines.count(b'"seq":') == 1000


DOCKER = {"container_id": "4f1c0e6d2a9b" * 5 + "abcd", "container_name": "/web", "source": "stdout",
          "log": 'GET /cart 200 "ok"'}  # fmt: skip


def test_the_docker_fluentd_drivers_shape_is_taken() -> None:
    data = b"".join(_entry(event_time(T + i, i * 1000), DOCKER | {"log": f"line {i}"}) for i in range(50))
    assert check_same(data, "docker.4f1c0e6d2a9b")
    line = fast_path(data, "docker.4f1c0e6d2a9b")[0].split(b"\n")[3]  # type: ignore[index]
    assert line.startswith(b'{"timestamp":"2025-12-01T14:40:03.000003Z","level":"INFO","service":"web",')
    assert b'"message":"line 3"' in line and b'"container_name":"/web","source":"stdout"' in line
    assert line.endswith(b'"tag":"docker.4f1c0e6d2a9b"}}')
    # an integer time (fluent-logger's default) and the record's own tag
    assert check_same(_entry(T, DOCKER | {"tag": "mine"}), "docker.x")


@pytest.mark.parametrize("level", ["info", "warn", "ERROR", "debug", "3", 4, "notice", "verbose"])
def test_fluent_bit_shapes_are_taken(level: Any) -> None:
    record = {"log": "starting up", "level": level, "kubernetes.pod": "p-1", "stream": "stderr", "n": 3,
              "ok": True, "none": None, "raw": b"bytes text", "seq": 12, "user_id": "u1"}  # fmt: skip
    data = _entry(event_time(T, 5), record) + _entry(T + 1, {"message": "x", "severity": "crit"})
    assert check_same(data, "kube.var.log")


def test_a_compressed_stream_goes_through_the_transcoder() -> None:
    data = _entry(T, {"log": "a"}) + _entry(T, {"log": "b"})
    obj = ["app", gzip.compress(data[:4]) + gzip.compress(data[4:]), {"compressed": "gzip", "chunk": "c1"}]
    message = parse_message(obj, LIMIT, defer=True)
    out = ForwardCodec().stored(message, PEER, LIMIT, b',"peer":"p"}\n')
    assert out.entries == [] and out.count == 2 and out.jsonl is not None
    assert out.jsonl.count(b',"peer":"p"}\n') == 2 and message.chunk == "c1"


def test_a_declined_stream_goes_to_the_python_path() -> None:
    data = _entry(T, {"log": "a"}) + _entry(1.5, {"log": "b"}) + b"\x92"
    message = parse_message(["app", data], LIMIT, defer=True)
    out = ForwardCodec().stored(message, PEER, LIMIT, b',"peer":"p"}\n')
    assert out.jsonl is None and [e.message for e in out.entries] == ["a", "b"] and message.packed is None
    with pytest.raises(ForwardError):
        ForwardCodec().stored(parse_message(["app", b"\xc1"], LIMIT, defer=True), PEER, LIMIT)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_entry(T, {"log": "m", "k": 1.5}), id="a float value"),
        pytest.param(_entry(T, {"log": "m", "k": {"a": 1}}), id="a map value"),
        pytest.param(_entry(T, {"log": "m", "k": [1]}), id="an array value"),
        pytest.param(_entry(T, {"log": "m", "k": msgpack.ExtType(1, b"x")}), id="an ext value"),
        pytest.param(_entry(1.5, {"log": "m"}), id="a float time"),
        pytest.param(_entry(T, {"log": "m", 1: "x"}), id="an integer key"),
        pytest.param(_entry(T, {"log": "m", b"k": "x"}), id="a bin key"),
        pytest.param(_entry(T, {"k": "no message"}), id="no message"),
        pytest.param(b"\x92\xce" + T.to_bytes(4, "big") + pack_map([("log", "a"), ("log", "b")]), id="a key twice"),
        pytest.param(_entry(T, {"log": "m", "user_id": "a", "user.id": "b"}), id="a promoted field twice"),
        pytest.param(_entry(T, {"log": "m", "level": " info"}), id="a level with spaces"),
        pytest.param(_entry(T, {"log": "m", "level": "ınfo"}), id="a level not in ASCII"),
        pytest.param(_entry(T, {"log": "m", "k": b"\xff"}), id="a bin that is not UTF-8"),
        pytest.param(_entry(T, {"log": "m", "seq": "9" * 20}), id="seq past int64"),
        pytest.param(_entry(T, {"log": "x" * 70000}), id="a message over the schema's limit"),
        pytest.param(_entry(T, {"log": "m"})[:-1], id="a cut entry"),
        pytest.param(msgpack.packb([T, {"log": "m"}, None]), id="an entry of three"),
    ],
)  # fmt: skip
def test_what_the_transcoder_leaves_to_the_python_path(data: bytes) -> None:
    assert fast_path(data, "app") is None
    with contextlib.suppress(ForwardError):  # the Python path still answers: stored, or refused with a reason
        python_path(data, "app")


def test_the_python_path_unpacks_what_the_transcoder_declined_with_event_times() -> None:
    raw = msgpack.packb(["app", _entry(event_time(T, 7000), {"log": "m", "k": 1.5})])
    message = parse_message(msgpack.unpackb(raw, ext_hook=decode_event_time), LIMIT, defer=True)
    out = ForwardCodec().stored(message, PEER, LIMIT)
    assert [e.attributes for e in out.entries] == [{"k": "1.5", "tag": "app"}]
