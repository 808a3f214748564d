"""The shippers' protocols the generator speaks: how one request body of a batch is built.

Each protocol is a ``RequestSpec``: its route, content type, token scheme and a ``body``
function that encodes a batch of entries whose ``timestamp``, ``seq`` and ``client_id`` hold the
pool's sentinels (``pool.SENTINEL_*``). ``requestpool.RequestPool`` finds those sentinels in the
encoded body (one of each per record, in body order) and patches them per send, so every slot
must have a fixed width whatever value it later holds:

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
  the time 19 digits of nanoseconds, ``seq`` and ``client_id`` in the structured metadata.

What each decoder makes of these fields is in ``workbench/shippers/*.py``; the stored entry has
the generated ``seq`` and ``client_id``, so scenario accounting stays exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from workbench import model
from workbench.formats import GENERATOR_PROTOCOLS

PROTOCOL_NAMES = GENERATOR_PROTOCOLS
SEVERITY = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}
SCOPE = "workbench.generator"
ES_INDEX = "logs-workbench"


@dataclass(frozen=True)
class RequestSpec:
    name: str
    method: str
    path: str
    content_type: str
    auth_scheme: str  # what precedes the token in Authorization
    ts_kind: str  # how the timestamp slot is written (``pool.Pool._ts_bytes``)
    seq_kind: str  # digits-zero | varint
    body: Callable[[Sequence[Any], str], bytes]  # entries (with sentinels), sentinel client id
    grpc: bool = False
    success: tuple[int, ...] = (200,)

    def ts_sentinel(self, micros: int) -> bytes:
        """The timestamp sentinel as the body holds it (the slot's bytes)."""
        nanos = micros * 1000
        if self.ts_kind == "fixed64-ns":
            return nanos.to_bytes(8, "little")
        if self.ts_kind == "nanos":
            return b"%019d" % nanos
        if self.ts_kind == "epoch-us":
            return b"%d.%06d" % divmod(micros, 1_000_000)
        from workbench.generator.pool import iso_bytes

        return iso_bytes(micros)


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
    from workbench.generator.pool import iso_bytes

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
    )
}  # fmt: skip


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
