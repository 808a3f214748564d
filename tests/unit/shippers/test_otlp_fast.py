"""The compiled OTLP transcoder against the codec's Python path: whenever it takes a request, it
stores exactly the lines the protobuf runtime and ``normalise`` store (same fields, order and
escapes), and nothing the Python path would reject; and it takes the requests real senders make.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from workbench.codecs.base import Decoded
from workbench.ingestor.decoding import normalise
from workbench.shippers import otlp
from workbench.shippers.otlp import OtlpCodec

pytestmark = pytest.mark.skipif(otlp._transcode is None, reason="workbench.speedups._otlp is not built")

NOW = 1_764_600_000_123_456_789
PEER = "10.1.2.3"

KEYS = st.sampled_from([
    "seq", "client_id", "user_id", "user.id", "session_id", "session.id", "trace_id", "trace.id", "span_id",
    "otel.scope.name", "event_name", "service.name", "host.name", "region", "k", "é", "a\"b", "",
])  # fmt: skip
TEXT = st.one_of(
    st.sampled_from(["", "0", "42", "007", "9223372036854775807", "9223372036854775808", "-1", "x", "٣"]),
    st.text(max_size=40),
    st.text(min_size=250, max_size=260),
)


def _value(kind: str, draw: Any) -> AnyValue:
    if kind == "string":
        return AnyValue(string_value=draw(TEXT))
    if kind == "int":
        return AnyValue(int_value=draw(st.integers(-(2**63), 2**63 - 1)))
    if kind == "bool":
        return AnyValue(bool_value=draw(st.booleans()))
    if kind == "bytes":
        return AnyValue(bytes_value=draw(st.binary(max_size=20)))
    if kind == "double":
        return AnyValue(double_value=draw(st.floats(allow_nan=False)))
    if kind == "array":
        return AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a")]))
    return AnyValue()


@st.composite
def values(draw: Any, plain: bool = False) -> AnyValue:
    kinds = ["string", "int", "bool", "bytes", "none"] + ([] if plain else ["double", "array"])
    return _value(draw(st.sampled_from(kinds)), draw)


@st.composite
def pairs(draw: Any, plain: bool = False, max_size: int = 6) -> list[KeyValue]:
    keys = draw(st.lists(KEYS, max_size=max_size, unique=plain))
    return [KeyValue(key=k, value=draw(values(plain))) for k in keys]


@st.composite
def requests(draw: Any, plain: bool = False) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        rl = req.resource_logs.add()
        if draw(st.booleans()):
            rl.resource.attributes.extend(draw(pairs(plain)))
        if draw(st.booleans()):
            rl.resource.attributes.add(
                key="service.name", value=AnyValue(string_value=draw(st.text(max_size=8)))
            )
        for _ in range(draw(st.integers(0, 2))):
            sl = rl.scope_logs.add()
            sl.scope.name = draw(st.sampled_from(["", "my.lib", "ünï"]))
            sl.scope.version = draw(st.sampled_from(["", "1.2.3"]))
            for _ in range(draw(st.integers(0, 3))):
                r = sl.log_records.add()
                r.time_unix_nano = draw(st.sampled_from([0, 1, 999, NOW, 2**64 - 1]))
                r.observed_time_unix_nano = draw(st.sampled_from([0, NOW + 5000]))
                r.severity_number = draw(st.integers(0, 26))  # type: ignore[assignment]
                r.severity_text = draw(
                    st.sampled_from(["", "" if plain else "warning", "" if plain else "x"])
                )
                if draw(st.booleans()):
                    r.body.CopyFrom(draw(values(plain)))
                r.attributes.extend(draw(pairs(plain)))
                r.trace_id = draw(st.sampled_from([b"", bytes(range(16))]))
                r.span_id = draw(st.sampled_from([b"", bytes(range(8))]))
                r.event_name = draw(st.sampled_from(["", "login"]))
                r.flags = draw(st.sampled_from([0, 1]))
    return req


def python_path(body: bytes) -> Decoded:
    with mock.patch.object(otlp.time, "time_ns", return_value=NOW):
        out = OtlpCodec(fast=False).decode_protobuf(body, PEER)
    assert isinstance(out, Decoded)
    return out


def fast_path(body: bytes) -> tuple[bytes, int] | None:
    assert otlp._transcode is not None
    # lines ending with }\n, as normalise writes them
    return otlp._transcode(body, b"raw", PEER.encode(), NOW)


def check_same(body: bytes) -> bool:
    """Whether the transcoder took the request; when it did, it agrees with the Python path."""
    got = fast_path(body)
    if got is None:
        return False
    slow = python_path(body)
    assert not slow.errors, f"the transcoder took a request the codec rejects: {slow.errors[0]}"
    lines, count = got
    assert count == len(slow.entries)
    assert lines == (normalise(slow.entries) if slow.entries else b"")
    return True


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_whatever_the_transcoder_takes_it_stores_as_the_python_path(req: ExportLogsServiceRequest) -> None:
    check_same(req.SerializeToString())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(plain=True))
def test_plain_requests_agree_or_are_declined_for_a_reason(req: ExportLogsServiceRequest) -> None:
    # the plain strategy still makes declines on purpose: seq digits past 2^63-1, names shared by
    # a resource and a record, long text; everything it takes agrees
    check_same(req.SerializeToString())


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_store_what_the_runtime_refuses(data: bytes) -> None:
    got = fast_path(data)
    if got is None:
        return
    try:
        ExportLogsServiceRequest.FromString(data)
    except Exception as exc:  # any refusal by the runtime is the finding
        pytest.fail(f"the transcoder took {data!r}, which protobuf refuses: {exc}")
    check_same(data)


def _record(**kw: Any) -> LogRecord:
    fields: dict[str, Any] = {
        "time_unix_nano": NOW,
        "severity_number": 9,
        "body": AnyValue(string_value="hello"),
    }
    return LogRecord(**(fields | kw))


def _request(*records: LogRecord, resource: list[KeyValue] | None = None) -> bytes:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(
        resource or [KeyValue(key="service.name", value=AnyValue(string_value="checkout"))]
    )
    sl = rl.scope_logs.add()
    sl.scope.name = "app"
    sl.log_records.extend(records)
    return req.SerializeToString()


def kv(key: str, **value: Any) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def test_the_generator_and_sdk_shapes_are_taken() -> None:
    import datetime as dt

    from workbench import model
    from workbench.generator import protocols

    base = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    entries = [
        model.LogEntry(timestamp=base + dt.timedelta(microseconds=i * 1013), level=model.LEVELS[i % 6],
                       service=f"svc-{i % 3}", message=f'order {i} "quoted" \t ünï', host=f"web-{i % 2}",
                       user_id=None if i % 2 else f"u{i}", attributes={"region": "eu"} if i % 3 else {},
                       client_id="c-1", seq=i)
        for i in range(50)
    ]  # fmt: skip
    assert check_same(protocols.otlp_protobuf(entries, "c-1"))
    sdk_like = _request(
        _record(attributes=[kv("seq", int_value=7), kv("client_id", string_value="c-9"), kv("code.lineno", int_value=3)],
                trace_id=bytes(range(16)), span_id=bytes(range(8)), flags=1, severity_text="INFO",
                observed_time_unix_nano=NOW),
        resource=[kv("telemetry.sdk.language", string_value="python"), kv("service.name", string_value="svc"),
                  kv("telemetry.sdk.version", string_value="1.30.0"), kv("process.pid", int_value=4242)],
    )  # fmt: skip
    assert check_same(sdk_like)
    line = fast_path(sdk_like)[0]  # type: ignore[index]
    assert b'"service":"svc"' in line and b'"seq":7' in line and b'"client_id":"c-9"' in line
    assert (
        b'"trace_id":"000102030405060708090a0b0c0d0e0f"' in line and b'"span_id":"0001020304050607"' in line
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_request(_record(attributes=[kv("k", double_value=1.5)])), id="a double attribute"),
        pytest.param(_request(_record(attributes=[kv("k", string_value="a"), kv("k", string_value="b")])),
                     id="an attribute name twice"),
        pytest.param(_request(_record(attributes=[kv("seq", string_value="9" * 20)])), id="seq past int64"),
        pytest.param(_request(_record(attributes=[kv("user_id", string_value="a"), kv("user.id", string_value="b")])),
                     id="a promoted field twice"),
        pytest.param(_request(_record(severity_number=0, severity_text="warning")), id="a level only in text"),
        pytest.param(_request(_record(attributes=[kv("region", string_value="b")]),
                              resource=[kv("region", string_value="a")]), id="resource and record share a name"),
        pytest.param(_request(_record()) + b"\x12\x00", id="a field the request does not have"),
    ],
)  # fmt: skip
def test_what_the_transcoder_leaves_to_the_python_path(body: bytes) -> None:
    assert fast_path(body) is None
    python_path(body)  # and the Python path still answers (stored or rejected with a reason)


def test_a_record_over_the_schema_limits_is_rejected_by_the_python_path() -> None:
    body = _request(_record(body=AnyValue(string_value="x" * 70000)), _record())
    assert fast_path(body) is None
    slow = python_path(body)
    assert len(slow.entries) == 1 and [e.index for e in slow.errors] == [0]


def test_the_codec_stores_the_transcoders_lines_without_entries() -> None:
    body = _request(_record(), _record(attributes=[kv("seq", int_value=2)]))
    out = OtlpCodec().decode_protobuf(body, PEER)
    assert isinstance(out, Decoded) and out.entries == [] and out.count == 2 and out.jsonl is not None
    assert out.jsonl.count(b"}\n") == 2
