"""The compiled OTLP/JSON transcoder against the codec's Python path: whenever it takes a request,
it stores exactly the lines that msgspec, the codec's mapping and ``normalise`` store (same
fields, order, escapes and timestamps), and nothing the Python path would refuse; and it takes
the requests real senders make (the generator's ``otlp-json``, the OpenTelemetry JavaScript
exporter's).

The bodies are written token by token (``test_hec_fast``'s writer), so the same request comes in
every JSON spelling, with names in either case convention, members in any order, unknown fields
and values of every kind the codec reads or ignores.
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
from unittest import mock

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.shippers.test_hec_fast import SPACES, Num, Obj, dumped
from workbench import model
from workbench.codecs.base import Decoded
from workbench.ingestor.decoding import normalise
from workbench.shippers import otlp
from workbench.shippers.base import HttpRequest
from workbench.shippers.otlp import OtlpCodec

pytestmark = pytest.mark.skipif(
    otlp._transcode_json is None, reason="workbench.speedups._otlpjson is not built"
)

NOW = 1_764_600_000_123_456_789
PEER = "10.1.2.3"
END = b',"received_at":"2026-12-03T12:00:01Z","format":"otlp","transport":"tls","peer":"10.1.2.3:9"}\n'
NODE_CLIENTS = Path(__file__).resolve().parents[2] / "clients" / "node"


# --- the two paths --------------------------------------------------------------------------------


def python_path(body: bytes) -> Decoded | None:
    """What the codec stores without the transcoder; None when it answers with a reply (a 400)."""
    with mock.patch.object(otlp.time, "time_ns", return_value=NOW):
        out = OtlpCodec(fast=False).decode_json(body, PEER)
    return out if isinstance(out, Decoded) else None


def fast_path(body: bytes, end: bytes = b"}\n") -> tuple[bytes, int] | None:
    assert otlp._transcode_json is not None
    got: tuple[bytes, int] | None = otlp._transcode_json(body, b"raw", PEER.encode(), NOW, end)
    return got


def check_same(body: bytes) -> bool:
    """Whether the transcoder took the request; when it did, it agrees with the Python path."""
    got = fast_path(body)
    if got is None:
        return False
    slow = python_path(body)
    assert slow is not None, "the transcoder took a body the codec cannot read"
    assert not slow.errors, f"the transcoder took a request the codec rejects: {slow.errors[0]}"
    lines, count = got
    assert count == len(slow.entries)
    assert lines == (normalise(slow.entries) if slow.entries else b"")
    with_end = fast_path(body, END)  # with the batch's stored fields, as the ingestor asks
    assert with_end is not None and with_end[0] == lines.replace(b"}\n", END)
    return True


# --- requests, token by token ---------------------------------------------------------------------

KEYS = st.sampled_from([
    "seq", "client_id", "user_id", "user.id", "session_id", "session.id", "trace_id", "trace.id", "span_id",
    "otel.scope.name", "event_name", "service.name", "host.name", "region", "k", "é", 'a"b', "", "a/b", "😀",
])  # fmt: skip
WORDS = st.sampled_from([
    "", "0", "42", "007", "9223372036854775807", "9223372036854775808", "-1", "x", "٣", "info", " Warn ",
    "ERROR", "verbose", "\u00a0info", "svc",
])  # fmt: skip
TEXT = st.integers(0, 19).flatmap(
    lambda k: st.text(min_size=250, max_size=260) if k == 0 else WORDS if k < 8 else st.text(max_size=30)
)
INTS = st.one_of(
    st.integers(-10, 10), st.integers(-(2**63), 2**63 - 1), st.sampled_from([2**63, -(2**63) - 1])
)
IGNORED = st.sampled_from(
    [0, 1, "x", None, True, [], [1, "a"], Obj((("a", Obj((("b", [None]),))),)), Num("1.5e3")]
)


def name(draw: Any, camel: str, snake: str) -> str:
    """The lowerCamelCase name, sometimes the proto name (the codec reads both)."""
    return snake if draw(st.integers(0, 9)) == 0 else camel


@st.composite
def any_values(draw: Any, plain: bool) -> Any:
    kind = draw(st.integers(0, 19 if plain else 24))
    if kind < 8:
        return Obj(((name(draw, "stringValue", "string_value"), draw(TEXT)),))
    if kind < 11:
        value = draw(INTS)
        as_text = draw(st.booleans())
        if as_text and draw(st.integers(0, 3)) == 0:
            return Obj((("intValue", f"{value:012d}" if value >= 0 else str(value)),))
        return Obj(((name(draw, "intValue", "int_value"), str(value) if as_text else value),))
    if kind < 13:
        return Obj(((name(draw, "boolValue", "bool_value"), draw(st.booleans())),))
    if kind < 15:
        return Obj(
            ((name(draw, "bytesValue", "bytes_value"), draw(st.sampled_from(["", "AAEC", "3q2+7w=="]))),)
        )
    if kind < 17:
        return draw(st.sampled_from([Obj(()), None, Obj((("newValue", 1),)), "text"]))
    if kind < 20:
        return Obj(((name(draw, "stringValue", "string_value"), draw(TEXT)),))
    return draw(st.sampled_from([
        Obj((("doubleValue", 1.5),)), Obj((("arrayValue", Obj((("values", [Obj((("intValue", "1"),))]),))),)),
        Obj((("kvlistValue", Obj((("values", []),))),)), Obj((("stringValue", 1),)), Obj((("intValue", "1.5"),)),
        Obj((("intValue", " 1"),)), Obj((("boolValue", "true"),)), Obj((("stringValue", "a"), ("intValue", "1"))),
        Obj((("intValue", Num("1.0")),)), Obj((("stringValue", None),)),
    ]))  # fmt: skip


@st.composite
def key_values(draw: Any, plain: bool, max_size: int = 6) -> Any:
    keys = draw(st.lists(KEYS, max_size=max_size, unique=plain))
    out: list[Any] = []
    for k in keys:
        items: list[tuple[str, Any]] = [("key", k)]
        if draw(st.integers(0, 9)):
            items.append(("value", draw(any_values(plain))))
        if draw(st.integers(0, 9)) == 0:
            items.append(("extra", draw(IGNORED)))
        out.append(Obj(tuple(draw(st.permutations(items)))))
    if not plain and draw(st.integers(0, 9)) == 0:
        out.append(draw(st.sampled_from([Obj((("value", Obj(())),)), 1, Obj((("key", 1),))])))
    return out


def nanos(draw: Any, plain: bool) -> Any:
    kind = draw(st.integers(0, 6 if plain else 8))
    if kind < 3:
        return "0" * draw(st.sampled_from([0, 0, 1])) + draw(
            st.sampled_from(["1764600000123456789", "1", "999"])
        )
    if kind == 3:
        return draw(st.sampled_from([1764600000123456789, 1, 0]))
    if kind == 4:
        return draw(st.sampled_from(["", "0", None, "9999999999999999999", "0000000000000000000001"]))
    if kind < 7:
        return f"{draw(st.integers(0, 2**64 - 1)):019d}"
    return draw(
        st.sampled_from(["-5", "1.5", " 1", "abc", -1, 2**64, Num("1.7e18"), True, "18446744073709551616"])
    )


@st.composite
def log_records(draw: Any, plain: bool) -> Obj:
    items: list[tuple[str, Any]] = []
    if draw(st.integers(0, 5)):
        items.append((name(draw, "timeUnixNano", "time_unix_nano"), nanos(draw, plain)))
    if draw(st.booleans()):
        items.append((name(draw, "observedTimeUnixNano", "observed_time_unix_nano"), nanos(draw, plain)))
    if draw(st.integers(0, 4)):
        number = draw(st.integers(-1, 26)) if plain or draw(st.integers(0, 5)) else draw(
            st.sampled_from(["9", 9.0, True, None, 2**70]))  # fmt: skip
        items.append((name(draw, "severityNumber", "severity_number"), number))
    if draw(st.booleans()):
        text = draw(st.sampled_from(["", "INFO", "warning", "Err", "x", "٣", None])) if plain or draw(
            st.integers(0, 5)) else draw(st.sampled_from([5, True]))  # fmt: skip
        items.append((name(draw, "severityText", "severity_text"), text))
    if draw(st.integers(0, 5)):
        items.append(("body", draw(any_values(plain))))
    if draw(st.integers(0, 4)):
        items.append(("attributes", draw(key_values(plain)) if plain or draw(st.integers(0, 9)) else None))
    if draw(st.booleans()):
        ids = ["5b8efff798038103d269b633813fc60c", "5B8EFFF798038103D269B633813FC60C", "", None, "Ab"]
        items.append(
            (name(draw, "traceId", "trace_id"), draw(st.sampled_from(ids if plain else [*ids, 1, "É"])))
        )
    if draw(st.booleans()):
        items.append(
            (name(draw, "spanId", "span_id"), draw(st.sampled_from(["eee19b7ec3c1b174", "EEE1", "", None])))
        )
    if draw(st.integers(0, 3)) == 0:
        items.append((name(draw, "eventName", "event_name"), draw(st.sampled_from(["", "login", None]))))
    for key in ("flags", "droppedAttributesCount", "newField"):
        if draw(st.integers(0, 3)) == 0:
            items.append((key, draw(IGNORED)))
    if not plain and draw(st.integers(0, 9)) == 0:
        items.append(draw(st.sampled_from([("body", None), ("timeUnixNano", "1"), ("time_unix_nano", "2")])))
    return Obj(tuple(draw(st.permutations(items))))


@st.composite
def scope_logs(draw: Any, plain: bool) -> Obj:
    items: list[tuple[str, Any]] = []
    if draw(st.integers(0, 4)):
        scope: list[tuple[str, Any]] = []
        for key, choices in (("name", ["", "my.lib", "ünï", None]), ("version", ["", "1.2.3", None])):
            if draw(st.booleans()):
                scope.append((key, draw(st.sampled_from(choices if plain else [*choices, 1]))))
        if draw(st.integers(0, 3)) == 0:
            scope.append(("attributes", draw(key_values(False))))
        items.append(("scope", Obj(tuple(scope)) if plain or draw(st.integers(0, 9)) else None))
    if draw(st.integers(0, 6)):
        items.append(
            (name(draw, "logRecords", "log_records"), draw(st.lists(log_records(plain), max_size=3)))
        )
    if draw(st.integers(0, 4)) == 0:
        items.append(("schemaUrl", "https://opentelemetry.io/schemas/1.4.0"))
    return Obj(tuple(draw(st.permutations(items))))


@st.composite
def resource_logs(draw: Any, plain: bool) -> Obj:
    items: list[tuple[str, Any]] = []
    if draw(st.integers(0, 4)):
        attrs = draw(key_values(plain))
        if draw(st.booleans()):
            attrs.append(Obj((("key", "service.name"), ("value", Obj((("stringValue", draw(TEXT)),))))))
        resource: list[tuple[str, Any]] = [("attributes", attrs)]
        if draw(st.booleans()):
            resource.append(("droppedAttributesCount", 0))
        items.append(("resource", Obj(tuple(draw(st.permutations(resource)))) if plain or draw(st.integers(0, 9))
                      else None))  # fmt: skip
    items.append((name(draw, "scopeLogs", "scope_logs"), draw(st.lists(scope_logs(plain), max_size=2))))
    return Obj(tuple(draw(st.permutations(items))))


@st.composite
def bodies(draw: Any, plain: bool = False) -> bytes:
    rnd = random.Random(draw(st.integers(0, 2**32)))  # the spelling: many choices, one draw
    rate = draw(st.sampled_from([0.0, 0.0, 0.02, 0.3]))
    top: list[tuple[str, Any]] = [
        (name(draw, "resourceLogs", "resource_logs"), draw(st.lists(resource_logs(plain), max_size=3)))
    ]
    if not plain and draw(st.integers(0, 9)) == 0:
        top.append(
            draw(st.sampled_from([("resourceLogs", []), ("resource_logs", None), ("other", [1, Obj(())])]))
        )
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
@given(bodies())
def test_whatever_the_transcoder_takes_it_stores_as_the_python_path(body: bytes) -> None:
    check_same(body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(plain=True))
def test_plain_requests_agree_or_are_declined_for_a_reason(body: bytes) -> None:
    # the plain strategy still declines on purpose: seq past int64, names shared by a resource and
    # a record, long text, level words beyond ASCII, times past 19 digits
    check_same(body)


@given(st.binary(max_size=200))
@settings(max_examples=100, deadline=None)
def test_arbitrary_bytes_never_store_what_the_codec_refuses(data: bytes) -> None:
    check_same(data)
    check_same(b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[' + data + b"]}]}]}")


def test_a_plain_request_is_taken_in_any_spelling() -> None:
    record = Obj((("timeUnixNano", "1764600000123456789"), ("severityNumber", 9), ("body", Obj((("stringValue", "hi é"),))),
                  ("attributes", [Obj((("key", "seq"), ("value", Obj((("intValue", "7"),)))))])))  # fmt: skip
    request = Obj((("resourceLogs", [Obj((("scopeLogs", [Obj((("logRecords", [record]),))]),))]),))
    rnd = random.Random(7)
    for _ in range(50):
        assert check_same(dumped(rnd, request, 0.3).encode())


# --- what senders send ----------------------------------------------------------------------------


def _entries(n: int) -> list[Any]:
    base = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    return [
        model.LogEntry(timestamp=base + dt.timedelta(microseconds=i * 1013), level=model.LEVELS[i % 6],
                       service=f"svc-{i % 3}", message=f'order {i} "quoted" \t ünï', host=f"web-{i % 2}",
                       user_id=None if i % 2 else f"u{i}", attributes={"region": "eu"} if i % 3 else {},
                       client_id="c-1", seq=i, trace_id="5B8EFFF798038103D269B633813FC60C" if i % 4 == 0 else None)
        for i in range(n)
    ]  # fmt: skip


def test_the_generators_requests_are_taken() -> None:
    from workbench.generator import protocols

    body = protocols.otlp_json(_entries(1000), "c-1")
    assert check_same(body)
    lines, count = fast_path(body)  # type: ignore[misc]
    assert count == 1000 and b'"seq":7}' in lines and b'"client_id":"c-1"' in lines
    assert b'"trace_id":"5b8efff798038103d269b633813fc60c"' in lines


class _Capture(http.server.BaseHTTPRequestHandler):
    """Keeps what is posted to it (the exporter sends chunked bodies) and answers ``{}``."""

    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        if self.headers["content-length"] is not None:
            body = self.rfile.read(int(self.headers["content-length"]))
        else:
            parts = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            body = b"".join(parts)
        self.bodies.append((self.headers["content-type"], body))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_CLIENTS / "node_modules").is_dir(),
    reason="node and tests/clients/node/node_modules (make clients) are needed",
)
def test_the_javascript_exporters_requests_are_taken() -> None:
    _Capture.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1/logs"
        done = subprocess.run(["node", str(NODE_CLIENTS / "otlp_json_send.mjs"), url, "300", "js"],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        server.shutdown()
        server.server_close()
    assert _Capture.bodies
    sent = 0
    for content_type, body in _Capture.bodies:
        assert content_type == "application/json"
        assert check_same(body)
        sent += fast_path(body)[1]  # type: ignore[index]
    assert sent == 300


def test_the_codec_stores_the_transcoders_lines_without_entries() -> None:
    body = msgspec.json.encode({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1764600000123456789", "body": {"stringValue": "a"}},
        {"attributes": [{"key": "seq", "value": {"intValue": "2"}}]}]}]}]})  # fmt: skip
    request = HttpRequest("POST", "/v1/logs", {}, {"content-type": "application/json"}, body, peer_host=PEER,
                          stored_end=END)  # fmt: skip
    out = OtlpCodec().decode("logs", request)
    assert isinstance(out, Decoded) and out.entries == [] and out.count == 2 and out.jsonl is not None
    assert out.jsonl.count(END) == 2


def _request(record: dict[str, Any], resource: list[Any] | None = None) -> bytes:
    rl: dict[str, Any] = {"scopeLogs": [{"scope": {"name": "app"}, "logRecords": [record]}]}
    if resource is not None:
        rl["resource"] = {"attributes": resource}
    return msgspec.json.encode({"resourceLogs": [rl]})


def _kv(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": value}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_request({"attributes": [_kv("k", {"doubleValue": 1.5})]}), id="a double attribute"),
        pytest.param(_request({"body": {"kvlistValue": {"values": []}}}), id="a map body"),
        pytest.param(_request({"attributes": [_kv("k", {"stringValue": "a"}), _kv("k", {"stringValue": "b"})]}),
                     id="an attribute name twice"),
        pytest.param(_request({"attributes": [_kv("seq", {"stringValue": "9" * 20})]}), id="seq past int64"),
        pytest.param(_request({"severityText": "ünï"}), id="a level word beyond ASCII"),
        pytest.param(_request({"traceId": "ÄB"}), id="a trace id beyond ASCII"),
        pytest.param(_request({"timeUnixNano": 1.7e18}), id="a time as a float"),
        pytest.param(_request({"timeUnixNano": "1", "time_unix_nano": "2"}), id="a field in both spellings"),
        pytest.param(_request({"attributes": [_kv("region", {"stringValue": "b"})]},
                              resource=[_kv("region", {"stringValue": "a"})]), id="resource and record share a name"),
        pytest.param(_request({"body": {"stringValue": "x" * 70000}}), id="over the schema's limit"),
        pytest.param(b'{"resourceLogs":[]} x', id="not JSON"),
    ],
)  # fmt: skip
def test_what_the_transcoder_leaves_to_the_python_path(body: bytes) -> None:
    assert fast_path(body) is None
    python_path(body)  # and the Python path still answers (stored, rejected with a reason, or a 400)
