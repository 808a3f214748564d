"""The compiled Elasticsearch bulk transcoder against the codec's Python path: whenever it takes a
bulk body, it stores exactly the lines that msgspec, the codec's mapping and ``normalise`` store
(same fields, order, escapes, timestamps and made ids), answers exactly as the codec answers, and
takes nothing the Python path would refuse or answer with a 400 item; and it takes the bodies
real senders make (the official client's ``helpers.bulk``, our generator's).

The lines are written token by token (``test_hec_fast.dumped``), so the same values come in every
JSON spelling: escapes, raw UTF-8, whitespace between any two tokens (never a newline: that ends
an NDJSON line), numbers of every shape.
"""

from __future__ import annotations

import datetime as dt
import http.server
import random
import re
import threading
from typing import Any, ClassVar
from unittest import mock

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.shippers.test_hec_fast import FLOATS, INTS, TEXT, WORDS, Num, Obj, dumped
from workbench import model
from workbench.ingestor.decoding import normalise
from workbench.shippers import elasticsearch as es
from workbench.shippers.base import HttpRequest
from workbench.shippers.elasticsearch import BulkDecoded, ElasticsearchCodec

pytestmark = pytest.mark.skipif(es._transcode is None, reason="workbench.speedups._esbulk is not built")

NOW = dt.datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=dt.UTC)
PEER = "10.1.2.3"
END = (
    b',"received_at":"2026-12-03T12:00:01Z","format":"elasticsearch","transport":"tls","peer":"10.1.2.3:9"}\n'
)
ID_PREFIX = b"\x9a\x01\xfe\x00\x7f\x80\x03"


# --- bulk bodies written token by token -----------------------------------------------------------

KEYS = st.sampled_from([
    "@timestamp", "timestamp", "message", "msg", "log", "log.level", "level", "service.name", "service",
    "host.name", "host.hostname", "host", "seq", "client_id", "user_id", "user.id", "session_id",
    "session.id", "trace_id", "trace.id", "_index", "_id", "tag", "k", "é", 'a"b', "", "a.b", "\n", "😀",
])  # fmt: skip
PARENTS = st.sampled_from(["log", "service", "host", "a", "user", "trace", "é", ""])


def _stamp(draw: Any, plain: bool) -> str:
    day = draw(st.sampled_from(["2025-06-30", "2024-02-29", "1969-12-31"] + ([] if plain else [
        "0001-01-01", "9999-12-31", "2023-02-29"])))  # fmt: skip
    clock = draw(
        st.sampled_from(["21:59:23", "00:00:00", "23:59:59"] + ([] if plain else ["24:00:00", "12:60:00"]))
    )
    frac = draw(
        st.sampled_from(["", ".5", ".123456", ".000000", ".999999"] + ([] if plain else [".1234567", "."]))
    )
    zone = draw(st.sampled_from(["Z", "Z", "+00:00", "-00:00", "+05:30", "-23:59"] + ([] if plain else [
        "+01", "", "z", "+0530"])))  # fmt: skip
    sep = "T" if plain else draw(st.sampled_from(["T", "T", "T", " "]))
    return day + sep + clock + frac + zone


@st.composite
def timestamps(draw: Any, plain: bool = False) -> Any:
    kind = draw(st.integers(0, 7 if not plain else 3))
    if kind <= 1:
        return _stamp(draw, plain)
    if kind == 2:
        return draw(st.integers(-(10**13), 10**13) if plain else st.integers(-(2**63), 2**63 - 1))
    if kind == 3:
        return draw(st.sampled_from(["1751320763123", "0001751320763123", "0", "253402300799999", "253402300800000",
                                     "99999999999999999999"]))  # fmt: skip
    if kind == 4:
        return draw(st.sampled_from(["2025-06-30", "2025-06-30T21:59", "20250630T215923Z", "", "soon", "١٢"]))
    return draw(st.sampled_from([1.5, True, None, [1], Obj(()), Num("-0"), Num("1e3")]))


@st.composite
def scalars(draw: Any, plain: bool = False) -> Any:
    kind = draw(st.sampled_from(["text", "text", "text", "word", "int", "float", "bool", "null"]))
    if kind == "text":
        return draw(TEXT)
    if kind == "word":
        return draw(WORDS)
    if kind == "int":
        return draw(INTS) if not plain else draw(st.integers(-(2**63), 2**63 - 1))
    if kind == "float":
        return draw(FLOATS) if not plain else draw(st.sampled_from([13.5, 0.25, -7.0, 0.0, 1e-3, 123456.789]))
    if kind == "bool":
        return draw(st.booleans())
    return None


@st.composite
def values(draw: Any, depth: int = 0, plain: bool = False) -> Any:
    kind = draw(st.integers(0, 9))
    if kind <= 5 or depth >= 3:
        return draw(scalars(plain))
    if kind <= 7:
        return draw(objects(depth + 1, plain))
    if kind == 8:
        items = draw(st.lists(st.one_of(scalars(plain), st.lists(scalars(plain), max_size=2)), max_size=3))
        if not plain and draw(st.integers(0, 5)) == 0:
            items.append(Obj((("x", 1),)))
        return items
    return Obj(())


@st.composite
def objects(draw: Any, depth: int = 0, plain: bool = False) -> Obj:
    keys = draw(st.lists(st.one_of(KEYS, PARENTS), max_size=6, unique=plain))
    return Obj(tuple((k, draw(values(depth, plain))) for k in keys))


@st.composite
def documents(draw: Any, plain: bool = False) -> Obj:
    items = list(draw(objects(0, plain)).items)
    if draw(st.booleans()):
        items.insert(0, (draw(st.sampled_from(["@timestamp", "timestamp"])), draw(timestamps(plain))))
    if draw(st.booleans()):
        items.append(("log", Obj((("level", draw(WORDS)), ("logger", "orders")))))
    if plain:  # a key once per object (the strategies above may give one twice)
        seen: set[str] = set()
        items = [kv for kv in items if not (kv[0] in seen or seen.add(kv[0]))]  # type: ignore[func-returns-value]
    return Obj(tuple(items))


@st.composite
def actions(draw: Any, plain: bool = False) -> Obj:
    op = draw(
        st.sampled_from(
            ["index", "create"] if plain else ["index", "create", "create", "update", "delete", "x"]
        )
    )
    meta: list[tuple[str, Any]] = []
    if draw(st.booleans()):
        meta.append(
            ("_index", draw(st.sampled_from(["logs", "shop-logs", 'é"x', "", None] + ([] if plain else [5]))))
        )
    if draw(st.booleans()):
        ids = ["abc", "", "a\nb", 7, -12, None] + ([] if plain else [1.5, True, [1]])
        meta.append(("_id", draw(st.sampled_from(ids))))
    if draw(st.integers(0, 3)) == 0:
        meta.append(draw(st.sampled_from([("routing", "r"), ("pipeline", None), ("require_alias", False),
                                          ("if_seq_no", 3)])))  # fmt: skip
    if not plain and draw(st.integers(0, 15)) == 0:
        meta.append(("dynamic_templates", Obj((("a", "b"),))))
    items: tuple[tuple[str, Any], ...] = ((op, Obj(tuple(meta))),)
    if not plain and draw(st.integers(0, 20)) == 0:
        items += (("index", Obj(())),)
    return Obj(items)


def line(rnd: random.Random, value: Any, rate: float) -> str:
    return dumped(rnd, value, rate).replace("\n", " ")  # (no raw newline is inside a JSON string)


@st.composite
def bodies(draw: Any, plain: bool = False) -> bytes:
    """A bulk body: of plain pairs only, or (``plain`` False) of plain and any pairs mixed."""
    rnd = random.Random(draw(st.integers(0, 2**32)))  # the spelling: many choices, one draw
    rate = draw(st.sampled_from([0.0, 0.0, 0.02, 0.3]))
    blank = ["", "", "", "\n", "  \n", "\r\n", " \t\n"]
    parts = [rnd.choice(blank)]
    pair = st.tuples(actions(True), documents(True))
    if not plain:
        pair = st.one_of(pair, st.tuples(actions(), documents()), st.tuples(actions(True), documents()))
    for action, doc in draw(st.lists(pair, min_size=1, max_size=3)):
        parts += [line(rnd, action, rate), rnd.choice(["\n", "\r\n", " \n"]), rnd.choice(blank)]
        parts += [line(rnd, doc, rate), rnd.choice(["\n", "\r\n", " \n"]), rnd.choice(blank)]
    if draw(st.booleans()):
        parts[-2] = parts[-2].rstrip("\n")  # the last newline may be missing
    body = "".join(parts).encode("utf-8", "surrogatepass")
    if not plain and draw(st.integers(0, 20)) == 0:
        at = draw(st.integers(0, len(body)))
        body = (
            body[:at] + draw(st.sampled_from([b"\xff", b"\x00", b"\n", b"}", b"\x0b", b"[1]\n"])) + body[at:]
        )
    return body


INDEXES = st.sampled_from([None, "logs-workbench", "é"])
PLAIN_INDEXES = st.sampled_from(["logs-workbench", "é"])
QUERIES = st.sampled_from(
    [{}, {}, {"filter_path": "errors,items.*.status"}, {"filter_path": "items.*._id,took"}]
)


# --- the two paths --------------------------------------------------------------------------------


def request(
    body: bytes, index: str | None, query: dict[str, str] | None = None, end: bytes = END
) -> HttpRequest:
    return HttpRequest("POST", f"/{index}/_bulk" if index else "/_bulk", dict(query or {}), {}, body,
                       params={"index": index} if index else {}, peer_host=PEER, stored_end=end)  # fmt: skip


def codec(fast: bool = True, first_id: int = 0) -> ElasticsearchCodec:
    c = ElasticsearchCodec(fast=fast)
    c._id_prefix = ID_PREFIX
    c._next_id = first_id
    return c


def _without_took(body: bytes) -> bytes:
    return re.sub(rb'"took":\d+', b'"took":0', body)


def check_same(body: bytes, index: str | None = None, query: dict[str, str] | None = None) -> bool:
    """Whether the transcoder took the body; when it did, it stores and answers as the Python
    path, which refuses nothing of it."""
    first_id = 2**40 + 3
    fast, slow = codec(first_id=first_id), codec(fast=False, first_id=first_id)
    req = request(body, index, query)
    with mock.patch.object(es.model, "now_utc", return_value=NOW):
        got = fast._transcoded(req)
        if got is None:
            assert fast._next_id == first_id  # a declined body makes no id
            return False
        want = slow.decode("bulk", req)
    assert isinstance(want, BulkDecoded), f"the transcoder took a body the codec refuses whole: {want}"
    assert not want.errors and all(item.error is None for item in want.items), want.errors[:1]
    assert got.entries == [] and got.count == len(want.entries) and got.end == END
    assert got.jsonl == normalise(want.entries).replace(b"}\n", END)
    assert fast._next_id == slow._next_id
    fast_reply, slow_reply = fast.reply("bulk", req, got), slow.reply("bulk", req, want)
    assert _without_took(fast_reply.body) == _without_took(slow_reply.body)
    assert (fast_reply.status, fast_reply.content_type, fast_reply.headers) == (
        slow_reply.status, slow_reply.content_type, slow_reply.headers)  # fmt: skip
    return True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), INDEXES, QUERIES)
def test_whatever_the_transcoder_takes_it_stores_and_answers_as_the_python_path(
    body: bytes, index: str | None, query: dict[str, str]
) -> None:
    check_same(body, index, query)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(plain=True), PLAIN_INDEXES)
def test_plain_bodies_agree_or_are_declined_for_a_reason(body: bytes, index: str | None) -> None:
    # the plain strategy still declines on purpose: long text, level words with Unicode spaces,
    # seq past int64, stamps out of range, floats msgspec writes otherwise
    check_same(body, index)


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_never_store_what_the_codec_refuses(data: bytes) -> None:
    check_same(b'{"create":{}}\n' + data, "logs")
    check_same(data, "logs")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(-1e17, 1e17), st.floats(-1e-3, 1e-3), st.sampled_from([0.0, -0.0, 1e-4, 1e16])))
def test_floats_are_written_back_as_msgspec_writes_them(x: float) -> None:
    body = b'{"create":{}}\n{"message":"m","v":' + repr(x).encode() + b',"a":[' + repr(x).encode() + b"]}\n"
    taken = check_same(body, "logs")
    assert taken or not (x == 0 or 1e-4 <= abs(x) < 1e16)


# --- what real senders send is taken ---------------------------------------------------------------


def _entries(n: int) -> list[Any]:
    base = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    return [
        model.LogEntry(timestamp=base + dt.timedelta(microseconds=i * 1013), level=model.LEVELS[i % 6],
                       service=f"svc-{i % 3}", message=f'order {i} "quoted" \t ünï \\ 😀', host=f"web-{i % 2}",
                       user_id=None if i % 2 else f"u{i}", session_id="s" if i % 5 == 0 else None,
                       trace_id="0af7651916cd43dd8448eb211c80319c" if i % 4 == 0 else None,
                       attributes={}, client_id="c-1", seq=i)
        for i in range(n)
    ]  # fmt: skip


def test_the_generators_bodies_are_taken() -> None:
    from workbench.generator import protocols

    body = protocols.es_bulk(_entries(300), "c-1")
    index = protocols.ES_INDEX  # (the generator's path: /{ES_INDEX}/_bulk)
    assert check_same(body, index)
    assert check_same(body, None) is False  # the generator names the index in the path only
    got = codec().decode("bulk", request(body, index))
    assert isinstance(got, BulkDecoded) and got.lines == 300 and got.jsonl is not None
    assert b'"seq":7' in got.jsonl and b'"client_id":"c-1"' in got.jsonl


class _Bulk(http.server.BaseHTTPRequestHandler):
    """Answers as our codec does (the client checks the product header) and keeps each bulk body."""

    bodies: ClassVar[list[bytes]] = []
    codec = ElasticsearchCodec()

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header(*es.PRODUCT)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200, msgspec.json.encode(self.codec.info()))

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.bodies.append(body)
        req = HttpRequest("POST", self.path.split("?")[0], {}, {}, body, peer_host=PEER)
        decoded = ElasticsearchCodec(fast=False).decode("bulk", req)
        assert isinstance(decoded, BulkDecoded)
        self._answer(200, self.codec.reply("bulk", req, decoded).body)

    def do_PUT(self) -> None:
        self.do_POST()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_official_clients_bulk_helper_requests_are_taken() -> None:
    elasticsearch = pytest.importorskip("elasticsearch")
    from elasticsearch import helpers

    docs = [
        {"_index": "shop-logs", "@timestamp": f"2025-06-30T21:{i // 60 % 60:02d}:{i % 60:02d}.5Z",
         "message": f"order {i} paid", "log": {"level": "warn" if i % 3 == 0 else "info", "logger": "orders"},
         "service": {"name": "checkout"}, "host": {"name": "box-1"}, "seq": i, "client_id": "es",
         "order": {"id": f"o-{i}", "total": i * 1.5, "items": ["a", "b"]}, "tags": ["x"]}
        for i in range(250)
    ] + [{"_op_type": "create", "_index": "other", "_id": f"given-{i}", "_source": {"message": "m", "n": i}}
         for i in range(50)]  # fmt: skip
    _Bulk.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Bulk)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with elasticsearch.Elasticsearch(
            f"http://127.0.0.1:{server.server_port}", request_timeout=10
        ) as client:
            ok, errors = helpers.bulk(client, docs, chunk_size=100, raise_on_error=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (ok, errors) == (300, [])
    assert len(_Bulk.bodies) == 3
    for body in _Bulk.bodies:
        assert check_same(body), body[:300]


def test_plain_shapes_of_other_senders_are_taken() -> None:
    bodies = [
        b'{"index":{"_index":"a","_id":"1"}}\n{"@timestamp":"2025-06-30T21:59:23+02:00","message":"x"}\n'
        b'{"create":{"_index":"b"}}\r\n\r\n{"timestamp":1751320763123,"msg":{},"level":3,"user.id":5}',
        b'{"create":{}}\n{"log":{"level":"ERROR","file":{"path":"/var/log/a"}},"message":["a",1,null]}\n',
        b'{ "index" : { "_id" : 42 } }\n{ "\\u006dessage" : "\\u00e9\\ud83d\\ude00\\/" , "a.b" : 1 , "a" : { "b" : 2 } }\n',
        b'{"create":{"_index":null,"routing":"r"}}\n{"host":{"hostname":"h"},"service":"s","seq":"0042","e":{}}\n',
    ]
    for body in bodies:
        assert check_same(body, "logs"), body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"update":{"_id":"1"}}\n{"doc":{"a":1}}\n', id="an update"),
        pytest.param(b'{"delete":{"_id":"1"}}\n', id="a delete"),
        pytest.param(b'{"create":{}}\n{"a":{"x":1},"a":{"y":2}}\n', id="a key twice in one object"),
        pytest.param(b'{"create":{}}\n{"a":[{"x":1}]}\n', id="an object in an array"),
        pytest.param(b'{"create":{}}\n{"v":1E3}\n', id="a float msgspec writes longer"),
        pytest.param(b'{"create":{}}\n{"v":1e300}\n', id="a float msgspec writes with an exponent"),
        pytest.param(b'{"create":{}}\n{"@timestamp":"2025-06-30T21:59:23"}\n', id="a stamp without offset"),
        pytest.param(b'{"create":{}}\n{"@timestamp":true}\n', id="a timestamp that is not one"),
        pytest.param(b'{"create":{}}\n{"level":"\\u00a0error"}\n', id="a level with a Unicode space"),
        pytest.param(b'{"create":{}}\n{"seq":"99999999999999999999"}\n', id="seq past int64"),
        pytest.param(b'{"create":{}}\n', id="an action without its source"),
        pytest.param(b'{"create":{}}\n[1]\n', id="a source that is not an object"),
        pytest.param(b'{"create":{},"index":{}}\n{}\n', id="an action with two members"),
        pytest.param(b'{"create":{}}\n{"a":1}\n{"create":{}}\n{"a":\n1}\n', id="a value over two lines"),
        pytest.param(b"\n \n", id="no action"),
    ],
)
def test_what_the_transcoder_leaves_to_the_python_path(body: bytes) -> None:
    assert check_same(body, "logs") is False
    with mock.patch.object(es.model, "now_utc", return_value=NOW):
        codec(fast=False).decode("bulk", request(body, "logs"))  # and the Python path still answers


def test_without_an_index_the_request_is_left_to_the_python_path_which_refuses_it() -> None:
    body = b'{"create":{}}\n{"message":"m"}\n'
    assert check_same(body, None) is False
    reply = codec().decode("bulk", request(body, None))
    assert not isinstance(reply, BulkDecoded) and reply.status == 400


def test_the_answer_counts_seq_nos_across_both_paths() -> None:
    c = codec()
    plain = b'{"create":{}}\n{"message":"a"}\n{"index":{"_id":"x"}}\n{"message":"b"}\n'
    mixed = b'{"create":{}}\n{"message":"c"}\n{"delete":{"_id":"y"}}\n'
    seq_nos = []
    for body in (plain, mixed, plain):
        req = request(body, "logs")
        decoded = c.decode("bulk", req)
        assert isinstance(decoded, BulkDecoded)
        items = msgspec.json.decode(c.reply("bulk", req, decoded).body)["items"]
        seq_nos += [v["_seq_no"] for item in items for v in item.values() if v["status"] == 201]
    assert seq_nos == [0, 1, 2, 3, 4]
