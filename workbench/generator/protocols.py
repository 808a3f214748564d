"""The shippers' protocols the generator speaks: how the bytes of one batch are built.

Each protocol is a spec: a ``body`` function that encodes a batch of entries whose
``timestamp``, ``seq`` and ``client_id`` hold the pool's sentinels (``pool.SENTINEL_*``), and the
kinds of those slots. ``requestpool.RequestPool`` finds the sentinels in the encoded bytes (one
of each per record, in order) and patches them per send, so every slot must have a fixed width
whatever value it later holds. ``RequestSpec`` (HTTP/1.1 or gRPC requests, each answer an ack):

* ``otlp-http`` / ``otlp-grpc``: an ``ExportLogsServiceRequest`` (opentelemetry-proto's classes),
  one ``ResourceLogs`` per service and host; ``time_unix_nano`` is fixed64 (8 bytes), ``seq`` an
  int attribute whose varint is 6 bytes for the sentinel and stays 6 bytes padded, ``client_id``
  a string attribute;
* ``otlp-json``: the same message in OTLP/JSON (hex trace ids, int64 as strings): ``timeUnixNano``
  19 digits, ``seq`` an ``intValue`` of 12 zero-padded digits;
* ``hec``: one event object per record, ``time`` as ``SSSSSSSSSS.uuuuuu`` epoch seconds, ``seq``
  and ``client_id`` in ``fields`` (``seq`` as 12 digits: HEC's ``fields`` are strings);
* ``elasticsearch``: a ``create`` action and a source per record, ``@timestamp`` RFC 3339 with
  microseconds, ``seq`` 12 digits;
* ``loki``: a JSON push, one stream per service and host, ``[ns, line, metadata]`` per record,
  the time 19 digits of nanoseconds, ``seq`` and ``client_id`` in the structured metadata;
* ``loki-protobuf``: the same push as Loki's ``logproto.PushRequest`` (written here field by
  field), the ``Timestamp``'s two varints over-long (5 bytes each); its body is snappy-compressed
  per send (``encoding``), after the patching.

``StreamSpec`` (messages on a connection or datagrams, no request head):

* ``forward``: one PackedForward message per batch, ``[tag, bin, {"size": n}]``, the bin a
  MessagePack stream of ``[EventTime, record]`` (EventTime: fixext 8, type 0, fixed width); the
  record holds ``message``, ``level``, ``service``, ``host``, ``seq`` (12 digits), ``client_id``
  and the rest as keys; in ack mode the option map ends with ``"chunk"``, a 16-byte placeholder
  that is the last bytes of the message (``CHUNK_BYTES``), written per send;
* ``gelf-tcp`` / ``gelf-udp``: one GELF 1.1 object per record, each ended by NUL (the UDP sender
  splits them into datagrams): ``timestamp`` a number ``SSSSSSSSSS.uuuuuu``, ``level`` the
  syslog severity, ``_service``, ``_seq`` (12 digits), ``_client_id``, ``_user_id``... and every
  attribute as ``_<key>``.

What each decoder makes of these fields is in ``workbench/shippers/*.py``; the stored entry has
the generated ``seq`` and ``client_id``, so scenario accounting stays exact.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import msgspec

from workbench import model
from workbench.codecs.proto import varint
from workbench.errors import ConfigError
from workbench.generator.pool import iso_bytes, ts_slot

SEVERITY = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}
SYSLOG_SEVERITY = {"TRACE": 7, "DEBUG": 7, "INFO": 6, "WARN": 4, "ERROR": 3, "FATAL": 2}  # GELF's level
SCOPE = "workbench.generator"
ES_INDEX = "logs-workbench"
FORWARD_TAG = "workbench"
CHUNK_BYTES = 16  # a Forward chunk id: 16 hex digits
CHUNK_PLACEHOLDER = "?" * CHUNK_BYTES


@dataclass(frozen=True)
class RequestSpec:
    name: str
    method: str
    path: str
    content_type: str
    auth_scheme: str  # what precedes the token in Authorization
    ts_kind: str  # how the timestamp slot is written (``pool.ts_slot``)
    seq_kind: str  # digits-zero | varint
    body: Callable[[Sequence[Any], str], bytes]  # entries (with sentinels), sentinel client id
    grpc: bool = False
    success: tuple[int, ...] = (200,)
    encoding: str | None = None  # the body's own compression, applied per send (snappy for Loki)

    def ts_sentinel(self, micros: int) -> bytes:
        """The timestamp sentinel as the body holds it (the slot's bytes)."""
        return ts_slot(self.ts_kind, micros)


@dataclass(frozen=True)
class StreamSpec:
    """A protocol of messages on a connection (or datagrams): no head, no answer per batch."""

    name: str
    transport: str  # tcp | udp
    ts_kind: str
    seq_kind: str
    body: Callable[[Sequence[Any], str], bytes]

    def ts_sentinel(self, micros: int) -> bytes:
        return ts_slot(self.ts_kind, micros)


def _groups(entries: Sequence[Any]) -> dict[tuple[str, str], list[Any]]:
    """Entries by (service, host), in order of first appearance."""
    out: dict[tuple[str, str], list[Any]] = {}
    for e in entries:
        out.setdefault((e.service, e.host), []).append(e)
    return out


def _optional(e: Any) -> dict[str, str]:
    """The entry's optional string fields and attributes, as the protocols' key/value pairs."""
    out = {k: getattr(e, k) for k in ("user_id", "session_id") if getattr(e, k)}
    out.update(e.attributes or {})
    return out


# --- OTLP ------------------------------------------------------------------------------------


def otlp_protobuf(entries: Sequence[Any], cid: str) -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    for (service, host), group in _groups(entries).items():
        rl = request.resource_logs.add()
        for key, value in (("service.name", service), ("host.name", host)):
            kv = rl.resource.attributes.add()
            kv.key, kv.value.string_value = key, value
        sl = rl.scope_logs.add()
        sl.scope.name = SCOPE
        for e in group:
            r = sl.log_records.add()
            r.time_unix_nano = model.micros_from_utc(e.timestamp) * 1000
            r.severity_number = SEVERITY[e.level]
            r.severity_text = e.level
            r.body.string_value = e.message
            if e.trace_id:
                r.trace_id = bytes.fromhex(e.trace_id)
            seq = r.attributes.add()
            seq.key, seq.value.int_value = "seq", e.seq
            client = r.attributes.add()
            client.key, client.value.string_value = "client_id", cid
            for key, value in _optional(e).items():
                kv = r.attributes.add()
                kv.key, kv.value.string_value = key, value
    data: bytes = request.SerializeToString()
    return data


def _kv(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": value}


def otlp_json(entries: Sequence[Any], cid: str) -> bytes:
    resource_logs = []
    for (service, host), group in _groups(entries).items():
        records = []
        for e in group:
            rec: dict[str, Any] = {
                "timeUnixNano": f"{model.micros_from_utc(e.timestamp) * 1000:019d}",
                "severityNumber": SEVERITY[e.level],
                "severityText": e.level,
                "body": {"stringValue": e.message},
                "attributes": [
                    _kv("seq", {"intValue": f"{e.seq:012d}"}),
                    _kv("client_id", {"stringValue": cid}),
                ]
                + [_kv(k, {"stringValue": v}) for k, v in _optional(e).items()],
            }
            if e.trace_id:
                rec["traceId"] = e.trace_id
            records.append(rec)
        resource_logs.append({
            "resource": {"attributes": [_kv("service.name", {"stringValue": service}),
                                        _kv("host.name", {"stringValue": host})]},
            "scopeLogs": [{"scope": {"name": SCOPE}, "logRecords": records}],
        })  # fmt: skip
    return msgspec.json.encode({"resourceLogs": resource_logs})


# --- HEC, Elasticsearch, Loki ----------------------------------------------------------------


def _pairs(e: Any, cid: str) -> dict[str, str]:
    out = {"seq": f"{e.seq:012d}", "client_id": cid}
    if e.trace_id:
        out["trace_id"] = e.trace_id
    out.update(_optional(e))
    return out


def hec_events(entries: Sequence[Any], cid: str) -> bytes:
    enc = msgspec.json.encode
    parts = []
    for e in entries:
        micros = model.micros_from_utc(e.timestamp)
        fields = {"level": e.level, "service": e.service, **_pairs(e, cid)}
        parts.append(enc({"time": f"{micros // 1_000_000}.{micros % 1_000_000:06d}", "host": e.host, "source": SCOPE,
                          "sourcetype": "_json", "event": e.message, "fields": fields}))  # fmt: skip
    return b"\n".join(parts) + b"\n"


def es_bulk(entries: Sequence[Any], cid: str) -> bytes:
    enc = msgspec.json.encode
    action = b'{"create":{}}'
    parts = []
    for e in entries:
        source = {"@timestamp": iso_bytes(model.micros_from_utc(e.timestamp)).decode(), "message": e.message,
                  "log.level": e.level, "service.name": e.service, "host.name": e.host, **_pairs(e, cid)}  # fmt: skip
        parts += [action, enc(source)]
    return b"\n".join(parts) + b"\n"


def loki_push(entries: Sequence[Any], cid: str) -> bytes:
    streams = []
    for (service, host), group in _groups(entries).items():
        values = [
            [
                f"{model.micros_from_utc(e.timestamp) * 1000:019d}",
                e.message,
                {"level": e.level, **_pairs(e, cid)},
            ]
            for e in group
        ]
        streams.append({"stream": {"service_name": service, "host": host}, "values": values})
    return msgspec.json.encode({"streams": streams})


def _labels(labels: dict[str, str]) -> str:
    """Prometheus label syntax, as Loki's ``labels`` string holds it."""

    def quoted(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ", ".join(f'{k}="{quoted(v)}"' for k, v in labels.items()) + "}"


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return bytes([number << 3 | 2]) + varint(len(payload)) + payload


def loki_protobuf(entries: Sequence[Any], cid: str) -> bytes:
    """``PushRequest{streams: [StreamAdapter{labels, entries: [EntryAdapter{timestamp, line,
    structuredMetadata}]}]}``, uncompressed (snappy comes per send)."""
    streams = []
    for (service, host), group in _groups(entries).items():
        parts = [_field(1, _labels({"service_name": service, "host": host}).encode())]
        for e in group:
            stamp = ts_slot("proto-timestamp", model.micros_from_utc(e.timestamp))
            metadata = b"".join(_field(3, _field(1, k.encode()) + _field(2, v.encode()))
                                for k, v in {"level": e.level, **_pairs(e, cid)}.items())  # fmt: skip
            parts.append(_field(2, _field(1, stamp) + _field(2, e.message.encode()) + metadata))
        streams.append(_field(1, b"".join(parts)))
    return b"".join(streams)


# --- Fluent Forward, GELF ----------------------------------------------------------------------


def _event_time(e: Any) -> msgpack.ExtType:
    return msgpack.ExtType(0, ts_slot("eventtime", model.micros_from_utc(e.timestamp)))


def forward_packed(entries: Sequence[Any], cid: str, *, chunk: bool = False) -> bytes:
    """One PackedForward message; with ``chunk`` its option map ends with the chunk placeholder."""
    packer = msgpack.Packer(use_bin_type=True)
    stream = b"".join(
        packer.pack([_event_time(e), {"message": e.message, "level": e.level, "service": e.service,
                                      "host": e.host, **_pairs(e, cid)}])
        for e in entries
    )  # fmt: skip
    option: dict[str, Any] = {"size": len(entries)}
    if chunk:
        option["chunk"] = CHUNK_PLACEHOLDER
    data: bytes = packer.pack([FORWARD_TAG, stream, option])
    if chunk and not data.endswith(CHUNK_PLACEHOLDER.encode()):  # the sender writes the id over these bytes
        raise ConfigError("Forward pool: the chunk placeholder is not the end of the message")
    return data


def gelf_messages(entries: Sequence[Any], cid: str) -> bytes:
    """GELF 1.1 objects, each ended by NUL (TCP's framing; the UDP sender cuts them apart)."""
    enc = msgspec.json.encode
    parts = []
    for e in entries:
        stamp = msgspec.Raw(ts_slot("epoch-us", model.micros_from_utc(e.timestamp)))
        message: dict[str, Any] = {"version": "1.1", "host": e.host, "short_message": e.message,
                                   "timestamp": stamp, "level": SYSLOG_SEVERITY[e.level], "_service": e.service}  # fmt: skip
        message.update((f"_{k}", v) for k, v in _pairs(e, cid).items() if k != "id")  # GELF forbids _id
        parts.append(enc(message))
    return b"\0".join(parts) + b"\0"


SPECS: dict[str, RequestSpec] = {
    spec.name: spec
    for spec in (
        RequestSpec("otlp-http", "POST", "/v1/logs", "application/x-protobuf", "Bearer", "fixed64-ns", "varint",
                    otlp_protobuf),
        RequestSpec("otlp-grpc", "POST", "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                    "application/grpc", "Bearer", "fixed64-ns", "varint", otlp_protobuf, grpc=True),
        RequestSpec("otlp-json", "POST", "/v1/logs", "application/json", "Bearer", "nanos", "digits-zero", otlp_json),
        RequestSpec("hec", "POST", "/services/collector/event", "application/json", "Splunk", "epoch-us",
                    "digits-zero", hec_events),
        RequestSpec("elasticsearch", "POST", f"/{ES_INDEX}/_bulk", "application/x-ndjson", "ApiKey", "iso",
                    "digits-zero", es_bulk),
        RequestSpec("loki", "POST", "/loki/api/v1/push", "application/json", "Bearer", "nanos", "digits-zero",
                    loki_push, success=(204, 200)),
        RequestSpec("loki-protobuf", "POST", "/loki/api/v1/push", "application/x-protobuf", "Bearer",
                    "proto-timestamp", "digits-zero", loki_protobuf, success=(204, 200), encoding="snappy"),
    )
}  # fmt: skip
STREAM_SPECS: dict[str, StreamSpec] = {
    spec.name: spec
    for spec in (
        StreamSpec("forward", "tcp", "eventtime", "digits-zero", forward_packed),
        StreamSpec("gelf-tcp", "tcp", "epoch-us", "digits-zero", gelf_messages),
        StreamSpec("gelf-udp", "udp", "epoch-us", "digits-zero", gelf_messages),
    )
}
# the request protocols whose pool holds each request as it goes on the wire (head and body);
# the others' bodies are compressed per send (``requestpool.finisher``)
PROTOCOL_NAMES: tuple[str, ...] = tuple(name for name, spec in SPECS.items() if spec.encoding is None)


def spec_of(protocol: str, ack: bool = False) -> RequestSpec | StreamSpec:
    """The spec of a generator protocol (Forward in ack mode: its messages carry a chunk)."""
    if protocol in SPECS:
        return SPECS[protocol]
    spec = STREAM_SPECS[protocol]
    if protocol == "forward" and ack:
        return dataclasses.replace(spec, body=functools.partial(forward_packed, chunk=True))
    return spec


def rejected_in(protocol: str, body: bytes) -> int:
    """Records a success answer still says were rejected (OTLP ``partial_success``, bulk items
    with an error); 0 for the protocols whose success means every record was taken."""
    if protocol in ("otlp-http", "otlp-grpc"):
        if not body:
            return 0
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

        return int(ExportLogsServiceResponse.FromString(body).partial_success.rejected_log_records)
    if protocol == "otlp-json":
        if body.strip() in (b"", b"{}"):
            return 0
        part = msgspec.json.decode(body).get("partialSuccess") or {}
        return int(part.get("rejectedLogRecords") or 0)
    if protocol == "elasticsearch" and b'"errors":true' in body:
        items = msgspec.json.decode(body).get("items") or []
        return sum(1 for item in items for result in item.values() if result.get("error"))
    return 0
