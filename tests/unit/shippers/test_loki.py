"""Loki push: JSON and snappy protobuf bodies mapped field by field, labels and structured
metadata, the bound on a snappy block's declared size, and the answers (204; 400 naming the bad
entries while the good ones are stored; 400 for a body that does not parse).

The protobuf bodies are written by a small encoder here, straight from the field numbers of
Loki's ``pkg/push/push.proto``, so the codec's message classes are checked against them rather
than against themselves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import cramjam
import msgspec
import pytest

from workbench.codecs.base import ENCODING, INVALID, MALFORMED, TOO_LARGE
from workbench.shippers.base import Decoded, HttpReply, HttpRequest
from workbench.shippers.loki import LokiCodec, parse_labels, push_request_class

CODEC = LokiCodec(default_service="fallback-svc", worker_id=0)
T0 = 1751320763_123456_000  # 2025-06-30T21:59:23.123456Z in ns
T0_DT = dt.datetime(2025, 6, 30, 21, 59, 23, 123456, tzinfo=dt.UTC)


# --- a protobuf writer from Loki's field numbers ---------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def entry(nanos: int, line: bytes, metadata: dict[bytes, bytes] | None = None) -> bytes:
    ts = field(1, nanos // 1_000_000_000) + field(2, nanos % 1_000_000_000)  # google.protobuf.Timestamp
    out = field(1, ts) + field(2, line)  # EntryAdapter.timestamp = 1, line = 2
    for name, value in (metadata or {}).items():
        out += field(3, field(1, name) + field(2, value))  # structuredMetadata = 3: LabelPairAdapter
    return out


def stream(labels: bytes, *entries: bytes, hash_: int = 0) -> bytes:
    out = field(1, labels) + b"".join(field(2, e) for e in entries)  # StreamAdapter.labels = 1, entries = 2
    return out + (field(3, hash_) if hash_ else b"")  # hash = 3: ignored


def push(*streams: bytes) -> bytes:
    return b"".join(field(1, s) for s in streams)  # PushRequest.streams = 1


def proto_request(
    message: bytes, compress: bool = True, headers: dict[str, str] | None = None
) -> HttpRequest:
    body = bytes(cramjam.snappy.compress_raw(message)) if compress else message
    all_headers = {"content-type": "application/x-protobuf", **(headers or {})}
    return HttpRequest("POST", "/loki/api/v1/push", {}, all_headers, body, peer_host="10.4.4.4")


def json_request(body: Any, path: str = "/loki/api/v1/push") -> HttpRequest:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return HttpRequest(
        "POST", path, {}, {"content-type": "application/json; charset=utf-8"}, raw, peer_host="10.4.4.4"
    )


def run(req: HttpRequest, codec: LokiCodec = CODEC) -> tuple[Decoded, HttpReply]:
    decoded = codec.decode("push", req)
    assert isinstance(decoded, Decoded), decoded
    return decoded, codec.reply("push", req, decoded)


# --- mapping ------------------------------------------------------------------------------------


def test_routes() -> None:
    table = {(r.method, r.path): r.action for r in LokiCodec.routes}
    assert table[("POST", "/loki/api/v1/push")] == "push"
    assert table[("POST", "/api/prom/push")] == "push"
    assert LokiCodec.name == "loki"


def test_protobuf_entry_maps_every_field() -> None:
    labels = b'{service_name="checkout", level="warning", hostname="node-7", env="prod", client_id="gen-2"}'
    message = push(stream(labels, entry(T0, b"payment declined", {b"seq": b"41", b"trace_id": b"abc", b"k": b"v"}),
                          hash_=12345))  # fmt: skip
    decoded, reply = run(proto_request(message))
    assert decoded.errors == []
    [e] = decoded.entries
    assert e.timestamp == T0_DT
    assert (e.level, e.service, e.host, e.message) == ("WARN", "checkout", "node-7", "payment declined")
    assert (e.seq, e.client_id, e.trace_id) == (41, "gen-2", "abc")
    assert e.attributes == {"env": "prod", "k": "v"}
    assert (reply.status, reply.body) == (204, b"")


@pytest.mark.parametrize(
    ("labels", "service", "level", "host"),
    [
        ('{job="varlogs", severity="err", instance="i-1"}', "varlogs", "ERROR", "i-1"),
        ('{app="web", detected_level="debug", host="h"}', "web", "DEBUG", "h"),
        ('{service_name="a", job="b", app="c"}', "a", "INFO", "10.4.4.4"),
        ("{}", "fallback-svc", "INFO", "10.4.4.4"),
    ],
)
def test_recognised_labels(labels: str, service: str, level: str, host: str) -> None:
    [e] = run(proto_request(push(stream(labels.encode(), entry(T0, b"x")))))[0].entries
    assert (e.service, e.level, e.host) == (service, level, host)


def test_labels_not_taken_stay_attributes() -> None:
    message = push(stream(b'{service_name="a", job="b", level="verbose", seq="x1"}', entry(T0, b"x")))
    [e] = run(proto_request(message))[0].entries
    assert e.attributes == {"job": "b", "level": "verbose", "seq": "x1"}
    assert e.level == "INFO" and e.seq is None


def test_structured_metadata_wins_over_a_label() -> None:
    message = push(stream(b'{app="a", level="info"}', entry(T0, b"x", {b"level": b"error", b"app": b"b"})))
    [e] = run(proto_request(message))[0].entries
    assert (e.level, e.service) == ("ERROR", "b")


def test_json_push_with_and_without_metadata() -> None:
    body = {"streams": [
        {"stream": {"service_name": "api", "level": "error", "region": "eu"},
         "values": [[str(T0), "first"], [str(T0 + 1000), "second", {"seq": "2", "client_id": "j"}]]},
        {"stream": {"app": "other"}, "values": [[str(T0), "third"]]},
    ]}  # fmt: skip
    decoded, reply = run(json_request(body))
    a, b, c = decoded.entries
    assert (a.service, a.level, a.message, a.timestamp, a.attributes) == (
        "api",
        "ERROR",
        "first",
        T0_DT,
        {"region": "eu"},
    )
    assert (b.seq, b.client_id, b.timestamp) == (2, "j", T0_DT + dt.timedelta(microseconds=1))
    assert (c.service, c.host, c.level) == ("other", "10.4.4.4", "INFO")
    assert reply.status == 204


def test_json_legacy_form_on_the_prom_path() -> None:
    body = {
        "streams": [
            {"labels": '{app="legacy"}', "entries": [{"ts": "2025-06-30T21:59:23.123456Z", "line": "old"}]}
        ]
    }
    [e] = run(json_request(body, "/api/prom/push"))[0].entries
    assert (e.service, e.message, e.timestamp) == ("legacy", "old", T0_DT)


def test_gzip_content_encoding_means_no_snappy() -> None:
    message = push(stream(b'{app="z"}', entry(T0, b"plain")))
    req = proto_request(
        message, compress=False, headers={"content-encoding": "gzip"}
    )  # the server undid gzip
    [e] = run(req)[0].entries
    assert e.message == "plain"


def test_codec_message_classes_read_what_they_write() -> None:
    """The codec's classes (built from the same field numbers) round-trip, so tests may use either."""
    cls = push_request_class()
    parsed = cls.FromString(push(stream(b'{a="b"}', entry(T0, b"l", {b"m": b"n"}))))
    assert parsed.streams[0].labels == b'{a="b"}'
    assert parsed.streams[0].entries[0].structuredMetadata[0].value == b"n"
    assert parsed.streams[0].entries[0].timestamp.nanos == T0 % 1_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{a="b", c="d"}', {"a": "b", "c": "d"}),
        (' { a = "x" ,b="y" } ', {"a": "x", "b": "y"}),
        (
            r'{q="say \"hi\"", p="back\\slash", n="line\nbreak"}',
            {"q": 'say "hi"', "p": "back\\slash", "n": "line\nbreak"},
        ),
        ('{a="b",}', {"a": "b"}),
        ("{}", {}),
        ('{a="}"}', {"a": "}"}),
        ("a=b", None),
        ("{a=b}", None),
        ('{1a="b"}', None),
        ('{a="b" c="d"}', None),
    ],
)
def test_label_syntax(text: str, expected: dict[str, str] | None) -> None:
    assert parse_labels(text) == expected


# --- partial rejections -------------------------------------------------------------------------


def test_bad_entries_are_named_and_the_good_ones_stored() -> None:
    message = push(
        stream(b'{app="a"}', entry(T0, b"ok-0"), entry(T0, b"not utf8 \xff"), entry(0, b"no time"), entry(T0, b"ok-3")),
        stream(b'{app="b"', entry(T0, b"bad labels 4"), entry(T0, b"bad labels 5")),
        stream(b'{app="c"}', entry(T0, b"x" * 70000), entry(T0, b"ok-7")),
    )  # fmt: skip
    decoded, reply = run(proto_request(message))
    assert [e.message for e in decoded.entries] == ["ok-0", "ok-3", "ok-7"]
    assert [(e.index, e.reason) for e in decoded.errors] == [
        (1, ENCODING), (2, INVALID), (4, MALFORMED), (5, MALFORMED), (6, INVALID)
    ]  # fmt: skip
    assert reply.status == 400 and reply.content_type.startswith("text/plain")
    text = reply.body.decode()
    assert "total ignored: 5 out of 8" in text
    assert text.count("ignored, reason") == 5
    assert 'for stream: {app="c"}' in text and "2025-06-30T21:59:23.123456Z" in text


def test_json_entries_of_the_wrong_shape_are_rejected_one_by_one() -> None:
    body = {"streams": [{"stream": {"app": "a"}, "values": [
        [str(T0), "ok"], ["yesterday", "bad time"], [str(T0)], [str(T0), 5], [str(T0), "m", "not an object"], [str(T0), "ok2"],
    ]}]}  # fmt: skip
    decoded, reply = run(json_request(body))
    assert [e.message for e in decoded.entries] == ["ok", "ok2"]
    assert [(e.index, e.reason) for e in decoded.errors] == [
        (1, INVALID),
        (2, MALFORMED),
        (3, MALFORMED),
        (4, MALFORMED),
    ]
    assert "total ignored: 4 out of 6" in reply.body.decode()


@pytest.mark.parametrize(
    "req",
    [
        json_request(b"{not json"),
        json_request({"streams": "nope"}),
        json_request([1, 2]),
        proto_request(b"\xff\xff\xff", compress=False),  # not a snappy block
        proto_request(b"\x0a\x05ab", compress=True),  # a truncated protobuf inside good snappy
    ],
)
def test_a_body_that_does_not_parse_is_a_400_with_text(req: HttpRequest) -> None:
    reply = CODEC.decode("push", req)
    assert isinstance(reply, HttpReply)
    assert reply.status == 400 and reply.content_type.startswith("text/plain") and reply.body


def test_empty_push_is_204() -> None:
    decoded, reply = run(proto_request(b""))
    assert decoded.entries == [] and reply.status == 204


# --- the snappy bound ---------------------------------------------------------------------------


def test_a_snappy_block_declaring_more_than_the_bound_is_not_inflated() -> None:
    codec = LokiCodec("s", max_inflated_bytes=4096)
    fits = push(stream(b'{app="a"}', *(entry(T0 + i, b"y" * 100) for i in range(30))))
    assert len(fits) < 4096
    assert len(run(proto_request(fits), codec)[0].entries) == 30
    big = push(stream(b'{app="a"}', *(entry(T0 + i, b"y" * 100) for i in range(60))))
    assert len(big) > 4096
    decoded, reply = run(proto_request(big), codec)
    assert decoded.entries == []
    assert [e.reason for e in decoded.errors] == [TOO_LARGE]
    assert reply.status == 413


def test_a_lying_size_header_is_refused_before_any_work() -> None:
    """A 13-byte body that claims 3 GiB: refused from its header, nothing is inflated."""
    codec = LokiCodec("s", max_inflated_bytes=1 << 20)
    body = varint(3 << 30) + b"\x00" * 8
    req = HttpRequest("POST", "/loki/api/v1/push", {}, {"content-type": "application/x-protobuf"}, body)
    decoded, reply = run(req, codec)
    assert decoded.errors[0].reason == TOO_LARGE and "3221225472" in decoded.errors[0].detail
    assert reply.status == 413


def test_default_bound_is_the_ingestors_default() -> None:
    from workbench.shippers import loki

    assert LokiCodec().max_inflated_bytes == loki.MAX_INFLATED_BYTES == 64 << 20


def test_other_answers() -> None:
    ready = CODEC.decode("ready", HttpRequest("GET", "/ready", {}, {}, b""))
    assert isinstance(ready, HttpReply) and ready.status == 200
    req = HttpRequest("POST", "/loki/api/v1/push", {}, {}, b"")
    assert CODEC.unauthorized(req).status == 401
    assert CODEC.too_large(req, "x").status == 413
    assert CODEC.busy(req).status == 429
