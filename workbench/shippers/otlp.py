"""OTLP logs over HTTP: ``POST /v1/logs`` with an ``ExportLogsServiceRequest`` as protobuf
(``application/x-protobuf``) or as OTLP/JSON (``application/json``), gzip bodies undone by the
HTTP handler; the gRPC ``LogsService/Export`` carries the same message.

Mapping (``docs/protocol.md`` has the table): a record's ``time_unix_nano`` (else its
``observed_time_unix_nano``, else the time received) is the timestamp; ``severity_number`` the
level (``severity_text`` when it is 0); the resource's ``service.name`` the service and
``host.name`` the host; the body the message (a string as it is, any other value as JSON); a
16-byte ``trace_id`` the trace id in hex. Record attributes named ``seq`` (an integer or
digits; anything else stays an attribute), ``client_id``, ``user_id``/``user.id`` and
``session_id``/``session.id`` fill those fields (``mapping.promote``, as for every protocol); every other
attribute, the resource's other attributes, ``span_id``, the scope's name and version
(``otel.scope.name``, ``otel.scope.version``) and a non-empty ``event_name`` go to
``attributes`` (strings as they are, other values as JSON).

Strings are valid UTF-8 by then: protobuf and msgspec refuse a body that is not (a 400).
OTLP/JSON follows the spec's rules: lowerCamelCase names (the proto names are accepted too),
trace and span ids in hex, enums as numbers, 64-bit integers as strings or numbers. The answer is
an ``ExportLogsServiceResponse`` in the request's encoding, with ``partial_success`` counting the
rejected records and saying why; a body that does not parse is a 400 with a ``google.rpc.Status``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import msgspec

from workbench.codecs.base import INVALID, STORE_DIRECT
from workbench.shippers.base import (
    Decoded,
    HttpReply,
    HttpRequest,
    RecordError,
    Route,
    ShipperCodec,
    attributes_of,
    level_from_severity,
    timestamp_from_nanos,
)
from workbench.shippers.mapping import json_raw, promote, validated

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_json = msgspec.json.Decoder()

try:  # the compiled transcoder of the plain case (workbench/speedups/_otlp.pyx)
    from workbench.speedups._otlp import transcode as _transcode
except ImportError:  # not compiled: the protobuf runtime decodes every request
    _transcode = None
try:  # and of OTLP/JSON (workbench/speedups/_otlpjson.pyx)
    from workbench.speedups._otlpjson import transcode as _transcode_json
except ImportError:  # not compiled: msgspec and the mapping below decode every JSON request
    _transcode_json = None


def _pb() -> tuple[Any, Any]:
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    return logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse


# --- AnyValue, both encodings ----------------------------------------------------------------


def _pb_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        return v.double_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "bytes_value":
        return v.bytes_value.hex()
    if kind == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    return None  # string_value_strindex: a profiles-only dictionary reference


def _pb_attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in kvs}


def _json_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return None
    for name, value in v.items():
        if name in ("stringValue", "string_value"):
            return value
        if name in ("intValue", "int_value"):
            return int(value)
        if name in ("doubleValue", "double_value"):
            return float(value)
        if name in ("boolValue", "bool_value"):
            return bool(value)
        if name in ("bytesValue", "bytes_value"):
            return value  # base64 in OTLP/JSON: kept as the sender wrote it
        if name in ("arrayValue", "array_value"):
            return [_json_value(x) for x in (value or {}).get("values", [])]
        if name in ("kvlistValue", "kvlist_value"):
            return _json_attributes((value or {}).get("values", []))
    return None


def _json_attributes(kvs: Any) -> dict[str, Any]:
    if not isinstance(kvs, list):
        return {}
    return {kv["key"]: _json_value(kv.get("value")) for kv in kvs if isinstance(kv, dict) and "key" in kv}


def _get(d: dict[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = d.get(camel)
    return d.get(snake, default) if value is None else value


def _nanos(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


# --- the mapping ------------------------------------------------------------------------------


class OtlpCodec(ShipperCodec):
    name = "otlp"
    routes = (Route("POST", "/v1/logs", "logs"),)

    def __init__(self, default_service: str = "raw", worker_id: int = 0, fast: bool = True) -> None:
        super().__init__(default_service, worker_id)
        # requests go to the compiled transcoders first while the loaded schema is the one their
        # checks enforce (``STORE_DIRECT``); they decline anything outside the plain case
        self.fast = fast and STORE_DIRECT and _transcode is not None
        self.fast_json = fast and STORE_DIRECT and _transcode_json is not None
        self._service = default_service.encode()

    def decode(self, action: str, request: HttpRequest) -> Decoded | HttpReply:
        if request.content_type == JSON:
            return self.decode_json(request.body, request.peer_host, request.stored_end)
        if request.content_type in (PROTOBUF, "application/protobuf", ""):
            return self.decode_protobuf(request.body, request.peer_host, request.stored_end)
        return _status(415, f"unsupported content type {request.content_type!r}: use {PROTOBUF} or {JSON}",
                       request.content_type == JSON)  # fmt: skip

    def reply(self, action: str, request: HttpRequest, decoded: Decoded) -> HttpReply:
        as_json = request.content_type == JSON
        return HttpReply(200, self.response(decoded, as_json), JSON if as_json else PROTOBUF)

    # the gRPC handler calls these directly with the message bytes

    def decode_protobuf(self, body: bytes, peer_host: str, end: bytes = b"}\n") -> Decoded | HttpReply:
        """The request's records (``end``: how each stored line ends, for the transcoder)."""
        if self.fast:
            got = _transcode(body, self._service, peer_host.encode(), time.time_ns(), end)  # type: ignore[misc]
            if got is not None:
                return Decoded(jsonl=got[0], lines=got[1], end=end)
        request_type, _ = _pb()
        try:
            message = request_type.FromString(body)
        except Exception as exc:
            return _status(400, f"the body is not an ExportLogsServiceRequest: {exc}", False)
        records: list[dict[str, Any]] = []
        errors: list[RecordError] = []
        now = time.time_ns()
        for rl in message.resource_logs:
            resource = _pb_attributes(rl.resource.attributes)
            for sl in rl.scope_logs:
                scope = (sl.scope.name, sl.scope.version)
                for r in sl.log_records:
                    self._add(records, errors, resource, scope, r.time_unix_nano or r.observed_time_unix_nano or now,
                              r.severity_number, r.severity_text, _pb_value(r.body), _pb_attributes(r.attributes),
                              r.trace_id.hex() if r.trace_id else "", r.span_id.hex() if r.span_id else "",
                              r.event_name, peer_host)  # fmt: skip
        return self._validated(records, errors)

    def decode_json(self, body: bytes, peer_host: str, end: bytes = b"}\n") -> Decoded | HttpReply:
        """The request's records (``end``: how each stored line ends, for the transcoder)."""
        if self.fast_json:
            got = _transcode_json(body, self._service, peer_host.encode(), time.time_ns(), end)  # type: ignore[misc]
            if got is not None:
                return Decoded(jsonl=got[0], lines=got[1], end=end)
        try:
            message = _json.decode(body)
        except msgspec.DecodeError as exc:
            return _status(400, f"the body is not JSON: {exc}", True)
        if not isinstance(message, dict):
            return _status(400, "the body is not an ExportLogsServiceRequest object", True)
        records: list[dict[str, Any]] = []
        errors: list[RecordError] = []
        now = time.time_ns()
        try:
            for rl in _get(message, "resourceLogs", "resource_logs", []):
                resource = _json_attributes((rl.get("resource") or {}).get("attributes"))
                for sl in _get(rl, "scopeLogs", "scope_logs", []):
                    s = sl.get("scope") or {}
                    scope = (s.get("name", ""), s.get("version", ""))
                    for r in _get(sl, "logRecords", "log_records", []):
                        t = _nanos(_get(r, "timeUnixNano", "time_unix_nano")) or _nanos(
                            _get(r, "observedTimeUnixNano", "observed_time_unix_nano")) or now  # fmt: skip
                        number = _get(r, "severityNumber", "severity_number", 0)
                        self._add(records, errors, resource, scope, t, number if isinstance(number, int) else 0,
                                  _get(r, "severityText", "severity_text", ""), _json_value(r.get("body")),
                                  _json_attributes(r.get("attributes")),
                                  str(_get(r, "traceId", "trace_id", "")).lower(),
                                  str(_get(r, "spanId", "span_id", "")).lower(),
                                  _get(r, "eventName", "event_name", ""), peer_host)  # fmt: skip
        except (AttributeError, TypeError, ValueError) as exc:
            return _status(
                400, f"the body does not have the shape of an ExportLogsServiceRequest: {exc}", True
            )
        return self._validated(records, errors)

    def _add(self, records: list[dict[str, Any]], errors: list[RecordError], resource: dict[str, Any],
             scope: tuple[str, str], nanos: int, severity: int, severity_text: str, body: Any,
             attributes: dict[str, Any], trace_id: str, span_id: str, event_name: str,
             peer_host: str) -> None:  # fmt: skip
        index = len(records) + len(errors)
        ts = timestamp_from_nanos(nanos)
        if ts is None:
            errors.append(RecordError(index, INVALID, f"time_unix_nano {nanos} is out of range"))
            return
        rec: dict[str, Any] = {
            "timestamp": ts,
            "level": level_from_severity(severity, severity_text),
            "service": _text(resource.get("service.name")) or self.default_service,
            "host": _text(resource.get("host.name")) or peer_host,
            "message": _text(body) or "",
        }
        extra: dict[str, Any] = {k: v for k, v in resource.items() if k not in ("service.name", "host.name")}
        pairs = dict(attributes)
        promote(rec, pairs)  # seq, client_id, user_id, session_id, trace_id (mapping.KNOWN_FIELDS)
        extra.update(pairs)
        if trace_id:  # the record's own trace id wins over an attribute of that name
            rec["trace_id"] = trace_id
        if span_id:
            extra["span_id"] = span_id
        if scope[0]:
            extra["otel.scope.name"] = scope[0]
        if scope[1]:
            extra["otel.scope.version"] = scope[1]
        if event_name:
            extra["event_name"] = event_name
        if extra:
            rec["attributes"] = attributes_of(extra)
        rec["_index"] = index
        records.append(rec)

    def _validated(self, records: list[dict[str, Any]], errors: list[RecordError]) -> Decoded:
        indexes = [rec.pop("_index") for rec in records]
        return validated(records, indexes, lambda i: json_raw(records[i]), errors)

    def response(self, decoded: Decoded, as_json: bool) -> bytes:
        rejected = len(decoded.errors)
        message = ""
        if rejected:
            first = decoded.errors[0]
            message = f"{rejected} log record(s) rejected; first: record {first.index}: {first.reason}: {first.detail}"
        if as_json:
            if not rejected:
                return b"{}"
            return msgspec.json.encode(
                {"partialSuccess": {"rejectedLogRecords": str(rejected), "errorMessage": message[:1024]}}
            )
        _, response_type = _pb()
        out = response_type()
        if rejected:
            out.partial_success.rejected_log_records = rejected
            out.partial_success.error_message = message[:1024]
        data: bytes = out.SerializeToString()
        return data


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _status(http_status: int, message: str, as_json: bool) -> HttpReply:
    """A ``google.rpc.Status`` answer (code 3, INVALID_ARGUMENT) in the request's encoding."""
    if as_json:
        return HttpReply(http_status, msgspec.json.encode({"code": 3, "message": message}), JSON)
    text = message.encode("utf-8")[:4096]
    from workbench.codecs.proto import varint

    return HttpReply(http_status, b"\x08\x03\x12" + varint(len(text)) + text, PROTOBUF)
