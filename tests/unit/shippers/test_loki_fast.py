"""The compiled Loki transcoder against the codec's Python path: whenever it takes a push (JSON, or
protobuf once inflated), it stores exactly the lines that the codec's mapping and ``normalise``
store (same fields, order, escapes and timestamps), and nothing the Python path would refuse;
and it takes the pushes real senders make (the generator's, winston-loki's).

The JSON bodies are written token by token (``test_hec_fast``'s writer), so the same values come
in every JSON spelling; the protobuf ones field by field, with fields out of order, unknown
fields, over-long varints, and labels text spaced and escaped every way Prometheus syntax allows.
"""

from __future__ import annotations

import datetime as dt
import http.server
import random
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, ClassVar

import cramjam
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.shippers.test_hec_fast import SPACES, Num, Obj, dumped
from tests.unit.shippers.test_loki import entry, field, push, stream, varint
from workbench import model
from workbench.codecs.base import Decoded
from workbench.ingestor.decoding import normalise
from workbench.shippers import loki
from workbench.shippers.base import HttpRequest
from workbench.shippers.loki import LokiCodec

pytestmark = pytest.mark.skipif(loki._transcode_json is None, reason="workbench.speedups._loki is not built")

SERVICE = "fallback-svc"
PEER = "10.4.4.4"
END = b',"received_at":"2026-12-03T12:00:01Z","format":"loki","transport":"tls","peer":"10.4.4.4:9"}\n'
NODE_CLIENTS = Path(__file__).resolve().parents[2] / "clients" / "node"


# --- the two paths --------------------------------------------------------------------------------


def request(body: bytes, protobuf: bool, end: bytes = b"}\n") -> HttpRequest:
    kind = "application/x-protobuf" if protobuf else "application/json"
    return HttpRequest("POST", "/loki/api/v1/push", {}, {"content-type": kind}, body, peer_host=PEER,
                       stored_end=end)  # fmt: skip


def python_path(body: bytes, protobuf: bool) -> Decoded | None:
    """What the codec stores without the transcoder (a protobuf payload is compressed first); None
    when it answers with a reply (a body that does not parse)."""
    if protobuf:
        body = bytes(cramjam.snappy.compress_raw(body))
    out = LokiCodec(SERVICE, fast=False).decode("push", request(body, protobuf))
    return out if isinstance(out, Decoded) else None


def fast_path(body: bytes, protobuf: bool, end: bytes = b"}\n") -> tuple[bytes, int] | None:
    transcode = loki._transcode_push if protobuf else loki._transcode_json
    assert transcode is not None
    got: tuple[bytes, int] | None = transcode(body, SERVICE.encode(), PEER.encode(), end)
    return got


def check_same(body: bytes, protobuf: bool = False) -> bool:
    """Whether the transcoder took the push; when it did, it agrees with the Python path."""
    got = fast_path(body, protobuf)
    if got is None:
        return False
    slow = python_path(body, protobuf)
    assert slow is not None, "the transcoder took a body the codec cannot parse"
    assert not slow.errors, f"the transcoder took a push the codec refuses: {slow.errors[0]}"
    lines, count = got
    assert count == len(slow.entries) > 0
    assert lines == normalise(slow.entries)
    with_end = fast_path(body, protobuf, END)  # with the batch's stored fields, as the ingestor asks
    assert with_end is not None and with_end[0] == lines.replace(b"}\n", END)
    return True


# --- JSON pushes, token by token ------------------------------------------------------------------

KEYS = st.sampled_from([
    "service_name", "job", "app", "level", "severity", "detected_level", "host", "hostname", "instance",
    "seq", "client_id", "user_id", "user.id", "session_id", "session.id", "trace_id", "trace.id",
    "region", "k", "é", 'a"b', "", "a/b", "\n", "😀",
])  # fmt: skip
WORDS = st.sampled_from([
    "info", "INFO", " Warn ", "warning", "err", "ERROR", "crit", "fatal", "Emergency", "notice", "verbose",
    "\terror\x1c", "3", "7", "8", " 5", "", "42", "000000000042", "9223372036854775807", "9223372036854775808",
    "x", "٣", "\u00a0info", "svc", "web-1",
])  # fmt: skip
LONG = st.text(min_size=250, max_size=260)  # around the schema's 256 code points
TEXT = st.integers(0, 29).flatmap(lambda k: LONG if k == 0 else WORDS if k < 10 else st.text(max_size=30))


@st.composite
def label_values(draw: Any, plain: bool) -> Any:
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return None
    if kind == 1 and not plain:
        return draw(st.sampled_from([1, True, 1.5, [], Obj(())]))
    return draw(TEXT)


@st.composite
def objects(draw: Any, plain: bool, max_size: int = 6) -> Obj:
    return Obj(tuple((k, draw(label_values(plain))) for k in draw(st.lists(KEYS, max_size=max_size))))


def _nanos_text(draw: Any) -> str:
    whole = draw(st.sampled_from(["1751320763123456789", "1", "999", "1000", "9999999999999999999", "0"]))
    return "0" * draw(st.sampled_from([0, 0, 0, 1, 3])) + whole


@st.composite
def times(draw: Any, plain: bool) -> Any:
    kind = draw(st.integers(0, 4 if plain else 6))
    if kind <= 1:
        return _nanos_text(draw)
    if kind == 2:
        return draw(st.integers(1, 2**63 - 1))
    if kind == 3:
        return draw(st.sampled_from(["1751320763123456789", "1700000000000000000"]))
    if kind == 4:
        return Num(draw(st.sampled_from(["1751320763123456789", "1", "9223372036854775807"])))
    if kind == 5:
        return draw(st.sampled_from(["", "-1", "1.5", "１７", " 1", "abc", "99999999999999999999"]))
    return draw(st.sampled_from([0, -5, 2**63, 2**64, Num("1.7e18"), Num("1.0"), Num("-0"), None, True]))


@st.composite
def json_entries(draw: Any, plain: bool) -> Any:
    value: list[Any] = [draw(times(plain)), draw(TEXT)]
    if draw(st.booleans()):
        value.append(draw(objects(plain)))
    if not plain and draw(st.integers(0, 15)) == 0:
        value = draw(
            st.sampled_from([[value[0]], [value[0], 1], [*value, Obj(())], [value[0], value[1], None]])
        )
    return value


@st.composite
def json_streams(draw: Any, plain: bool) -> Obj:
    items: list[tuple[str, Any]] = []
    if plain or draw(st.integers(0, 5)):
        items.append(("stream", draw(objects(plain)) if plain or draw(st.integers(0, 7)) else None))
    if plain or draw(st.integers(0, 7)):
        values = draw(st.lists(json_entries(plain), min_size=1, max_size=4))
        items.append(("values", values if plain or draw(st.integers(0, 7)) else None))
    if not plain and draw(st.integers(0, 7)) == 0:
        items.append(draw(st.sampled_from([("labels", '{app="x"}'), ("extra", 1), ("stream", Obj(()))])))
    if not plain and draw(st.integers(0, 4)) == 0:
        items.reverse()  # values before stream: declined, or taken when there is no stream
    return Obj(tuple(items))


@st.composite
def json_bodies(draw: Any, plain: bool = False) -> bytes:
    rnd = random.Random(draw(st.integers(0, 2**32)))  # the spelling: many choices, one draw
    rate = draw(st.sampled_from([0.0, 0.0, 0.02, 0.3]))
    top: list[tuple[str, Any]] = [("streams", draw(st.lists(json_streams(plain), min_size=1, max_size=3)))]
    if not plain and draw(st.integers(0, 10)) == 0:
        top.append(draw(st.sampled_from([("streams", []), ("other", 1)])))
    body = (rnd.choice(SPACES) + dumped(rnd, Obj(tuple(top)), rate) + rnd.choice(SPACES)).encode(
        "utf-8", "surrogatepass"
    )
    if not plain and draw(st.integers(0, 15)) == 0:
        at = draw(st.integers(0, len(body)))
        body = (
            body[:at]
            + draw(st.sampled_from([b"\xff", b"\x00", b"\xed\xa0\x80", b"}", b"]", b","]))
            + body[at:]
        )
    return body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_bodies())
def test_whatever_the_transcoder_takes_of_json_it_stores_as_the_python_path(body: bytes) -> None:
    check_same(body)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_bodies(plain=True))
def test_plain_json_agrees_or_is_declined_for_a_reason(body: bytes) -> None:
    # the plain strategy still declines on purpose: seq past int64, long text, level words beyond
    # ASCII, a time of 0 or past 19 digits, values before the stream's labels
    check_same(body)


@given(st.binary(max_size=200))
@settings(max_examples=100, deadline=None)
def test_arbitrary_bytes_never_store_what_the_codec_refuses(data: bytes) -> None:
    check_same(data)
    check_same(data, protobuf=True)


# --- protobuf pushes, field by field ---------------------------------------------------------------


def quoted_label(rnd: random.Random, value: str) -> str:
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch in "\n\t" and rnd.random() < 0.7:
            out.append("\\n" if ch == "\n" else "\\t")
        elif ch != "\n" and rnd.random() < 0.03:
            out.append("\\" + ch)  # an escape Prometheus does not know: the backslash stays
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


LABEL_NAMES = st.sampled_from(["service_name", "job", "app", "level", "detected_level", "host", "instance",
                               "seq", "client_id", "user_id", "trace_id", "region", "_k", "A9"])  # fmt: skip


@st.composite
def labels_texts(draw: Any, plain: bool) -> bytes:
    rnd = random.Random(draw(st.integers(0, 2**32)))
    pairs = [(k, draw(TEXT)) for k in draw(st.lists(LABEL_NAMES, max_size=5))]

    def sp() -> str:
        return rnd.choice(["", "", " ", "\t", "  "] + ([] if plain else ["\n", "\u00a0", "\x0b"]))

    parts = [f"{sp()}{k}{sp()}={sp()}{quoted_label(rnd, v)}{sp()}" for k, v in pairs]
    text = sp() + "{" + ",".join(parts) + ("," if parts and rnd.random() < 0.2 else "") + sp() + "}" + sp()
    if not plain and draw(st.integers(0, 6)) == 0:
        text = draw(st.sampled_from(['{a="b"}}', "{", '{a="b\\', '{9a="b"}', 'a="b"', '{a="b" c="d"}', "{,}",
                                     '{a="\\\nb"}', "", '{a=b}']))  # fmt: skip
    raw = text.encode("utf-8", "surrogatepass")
    if not plain and draw(st.integers(0, 15)) == 0:
        raw += b"\xff"
    return raw


def long_varint(n: int, width: int) -> bytes:
    """A varint over ``width`` bytes at least (over-long, as the generator writes timestamps)."""
    out = bytearray(varint(n))
    while len(out) < width:
        out[-1] |= 0x80
        out.append(0)
    return bytes(out)


@st.composite
def proto_entries(draw: Any, plain: bool) -> bytes:
    seconds = draw(
        st.sampled_from([1751320763, 0, 1, 2, 3, 253402300799] + ([] if plain else [253402300800, -1]))
    )
    nanos = draw(
        st.sampled_from([123456789, 0, 999, 1000, 999_999_999] + ([] if plain else [-1, -1001, 2**31 - 1]))
    )
    width = draw(st.sampled_from([1, 1, 5, 10]))
    ts = (b"\x08" + long_varint(seconds % 2**64, width) if seconds or draw(st.booleans()) else b"") + (
        b"\x10" + long_varint(nanos % 2**64, width) if nanos or draw(st.booleans()) else b""
    )
    fields = [field(1, ts), field(2, draw(TEXT).encode("utf-8", "surrogatepass"))]
    for name in draw(st.lists(KEYS, max_size=5)):
        pair = field(1, name.encode("utf-8", "surrogatepass")) + field(
            2, draw(TEXT).encode("utf-8", "surrogatepass")
        )
        fields.append(field(3, pair))
    if draw(st.integers(0, 5)) == 0:
        fields.append(field(7, 5))  # a field the codec does not name: skipped
    if not plain and draw(st.integers(0, 10)) == 0:
        fields.append(
            draw(st.sampled_from([field(2, b"again"), field(1, b"\x08\x01"), field(2, 5), b"\x0b"]))
        )
    return b"".join(draw(st.permutations(fields)))


@st.composite
def proto_pushes(draw: Any, plain: bool = False) -> bytes:
    streams = []
    for _ in range(draw(st.integers(1, 3))):
        fields = [field(1, draw(labels_texts(plain)))] + [
            field(2, e) for e in draw(st.lists(proto_entries(plain), min_size=1, max_size=4))
        ]
        if draw(st.integers(0, 4)) == 0:
            fields.append(field(3, 12345))  # the stream's hash: ignored
        streams.append(b"".join(draw(st.permutations(fields))))
    body = push(*streams)
    if not plain and draw(st.integers(0, 10)) == 0:
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from([b"\xff", b"\x00", b"\x0a\x05"])) + body[at:]
    return body


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proto_pushes())
def test_whatever_the_transcoder_takes_of_protobuf_it_stores_as_the_python_path(body: bytes) -> None:
    check_same(body, protobuf=True)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proto_pushes(plain=True))
def test_plain_protobuf_agrees_or_is_declined_for_a_reason(body: bytes) -> None:
    check_same(body, protobuf=True)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(LABEL_NAMES, st.text(max_size=12)), max_size=4), st.integers(0, 2**32))
def test_labels_text_is_read_as_parse_labels_reads_it(pairs: list[tuple[str, str]], seed: int) -> None:
    rnd = random.Random(seed)
    text = "{" + ", ".join(f"{k}={quoted_label(rnd, v)}" for k, v in pairs) + "}"
    body = push(stream(text.encode("utf-8", "surrogatepass"), entry(1751320763_123456_000, b"m")))
    taken = check_same(body, protobuf=True)
    # only a level value beyond ASCII (Unicode's spaces, digits and cases) is declined
    assert taken or any(k in ("level", "detected_level") and not v.isascii() for k, v in pairs)


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


@pytest.mark.parametrize("protobuf", [False, True], ids=["loki", "loki-protobuf"])
def test_the_generators_pushes_are_taken(protobuf: bool) -> None:
    from workbench.generator import protocols

    body = (protocols.loki_protobuf if protobuf else protocols.loki_push)(_entries(300), "c-1")
    assert check_same(body, protobuf)
    lines, count = fast_path(body, protobuf)  # type: ignore[misc]
    assert count == 300 and b'"seq":7' in lines and b'"client_id":"c-1"' in lines


class _Capture(http.server.BaseHTTPRequestHandler):
    """Keeps what is pushed to it (content type, body) and answers 204, as Loki does."""

    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.bodies.append((self.headers["content-type"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_CLIENTS / "node_modules").is_dir(),
    reason="node and tests/clients/node/node_modules (make clients) are needed",
)
@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_winston_lokis_pushes_are_taken(encoding: str) -> None:
    _Capture.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cmd = [
            "node",
            str(NODE_CLIENTS / "loki_send.mjs"),
            f"http://127.0.0.1:{server.server_port}",
            "30",
            "lk",
        ]
        done = subprocess.run(cmd + (["--json"] if encoding == "json" else []), capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        server.shutdown()
        server.server_close()
    assert _Capture.bodies
    sent = 0
    for content_type, body in _Capture.bodies:
        protobuf = content_type != "application/json"
        assert protobuf == (encoding == "protobuf")
        payload = bytes(cramjam.snappy.decompress_raw(body)) if protobuf else body
        assert check_same(payload, protobuf)
        sent += fast_path(payload, protobuf)[1]  # type: ignore[index]
    assert sent == 30


def test_the_codec_stores_the_transcoders_lines_without_entries() -> None:
    body = msgspec.json.encode({"streams": [{"stream": {"job": "api", "seq": "1"}, "values": [["1751320763123456789", "a"]]},
                                            {"stream": {"job": "api", "seq": "2"}, "values": [["1751320763123456790", "b"]]}]})  # fmt: skip
    codec = LokiCodec(SERVICE)
    for payload, protobuf in (
        (body, False),
        (cramjam.snappy.compress_raw(push(stream(b'{job="api"}', entry(1, b"m")))), True),
    ):
        req = request(bytes(payload), protobuf, END)
        out = codec.decode("push", req)
        assert isinstance(out, Decoded) and out.entries == [] and out.count >= 1 and out.end == END
        assert out.jsonl is not None and out.jsonl.count(END) == out.count
        assert codec.reply("push", req, out).status == 204
    # without the batch's stored fields (a caller that wants entries) the Python path answers
    out = codec.decode("push", request(body, False))
    assert isinstance(out, Decoded) and len(out.entries) == 2 and out.jsonl is None


@pytest.mark.parametrize(
    ("body", "protobuf"),
    [
        pytest.param(
            b'{"streams":[{"labels":"{a=\\"b\\"}","entries":[{"ts":"2025-01-01T00:00:00Z","line":"x"}]}]}',
            False,
            id="the legacy form",
        ),
        pytest.param(
            b'{"streams":[{"stream":{"a":1},"values":[["1","x"]]}]}', False, id="a number as a label"
        ),
        pytest.param(b'{"streams":[{"stream":{},"values":[["0","x"]]}]}', False, id="time 0"),
        pytest.param(b'{"streams":[{"stream":{},"values":[[1.7e18,"x"]]}]}', False, id="a float time"),
        pytest.param(b'{"streams":[{"stream":{},"values":[["1","x",null]]}]}', False, id="null metadata"),
        pytest.param(b'{"streams":[{"stream":{},"values":[["1",7]]}]}', False, id="a line that is no string"),
        pytest.param(
            b'{"streams":[{"stream":{"level":"\\u00a0error"},"values":[["1","x"]]}]}',
            False,
            id="a level with a Unicode space",
        ),
        pytest.param(
            b'{"streams":[{"stream":{"seq":"99999999999999999999"},"values":[["1","x"]]}]}',
            False,
            id="seq past int64",
        ),
        pytest.param(b'{"streams":[]}', False, id="no entries"),
        pytest.param(
            b'{"streams":[{"stream":{},"values":[["1","x"]]}]} x', False, id="not JSON after the push"
        ),
        pytest.param(push(stream(b'{a="b"} x', entry(1, b"m"))), True, id="labels that do not parse"),
        pytest.param(push(stream(b'{a="b"}', entry(1, b"\xff"))), True, id="a line that is not UTF-8"),
        pytest.param(push(stream(b'{a="b"}', field(2, field(2, b"m")))), True, id="no timestamp"),
        pytest.param(push(stream(b'{a="b"}\n', entry(1, b"m"))), True, id="a newline around the labels"),
    ],
)
def test_what_the_transcoder_leaves_to_the_python_path(body: bytes, protobuf: bool) -> None:
    assert fast_path(body, protobuf) is None
    python_path(body, protobuf)  # and the Python path still answers (stored, refused, or a 400)


def test_the_schemas_limits_are_kept() -> None:
    def one(labels: dict[str, str], line: str = "m") -> bytes:
        return msgspec.json.encode(
            {"streams": [{"stream": labels, "values": [["1751320763123456789", line]]}]}
        )

    assert check_same(one({"job": "s" * 256, "host": "h" * 256, "k": "v" * 8192}, "m" * 65536))
    for labels, line in (({"job": "s" * 257}, "m"), ({"host": "h" * 257}, "m"), ({"k": "v" * 8193}, "m"),
                         ({}, "m" * 65537), ({"user_id": "u" * 257}, "m"),
                         ({f"k{i}": "v" for i in range(129)}, "m")):  # fmt: skip
        assert fast_path(one(labels, line), False) is None
        assert python_path(one(labels, line), False).errors  # type: ignore[union-attr]
