"""Write the seed corpora of the fuzz targets: ``python tests/fuzz/seeds.py`` (into ``corpus/``).

Seeds are made by our own encoders (the codecs' ``encode``) from a few entries that reach the
transcoders' corners: escapes and control characters, non-ASCII text, offsets and fractions in
timestamps, no optional fields, many attributes, a header of ``syslog.*`` attributes. The
reproducers of past findings are seeds too (``FINDINGS``), so every run starts from them. Each
seed is the target's selector byte (the tail, see ``targets.py``) and a payload; the corpora are
small (a few KiB a target) and committed, and ``test_sanitizers.py`` checks they are current.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from workbench import model  # noqa: E402
from workbench.codecs.avro import AvroCodec  # noqa: E402
from workbench.codecs.json import JsonCodec  # noqa: E402
from workbench.codecs.proto import LogBatch, ProtoCodec  # noqa: E402
from workbench.codecs.raw import RawCodec  # noqa: E402
from workbench.codecs.syslog import SyslogCodec  # noqa: E402

UTC = dt.UTC
BASE = dt.datetime(2025, 6, 30, 21, 59, 23, tzinfo=UTC)

# reproducers of findings (hex), by target: each stays a seed and a regression test
FINDINGS: dict[str, list[str]] = {
    # issue 16, 1: the msgid separator written without room (output filling the buffer exactly)
    "syslog_octet": [
        "00"
        "3533203c31343e3120323032352d30362d33305432313a30303a30305a206820617070202d204d4944202d20"
        "010101010101010101010101",
        "00"
        "3635203c31343e3120323032352d30362d33305432313a30303a30305a20682073737373737373737373202d"
        "204d202d2061616161610101010101010101010101010101",
    ],
    # issue 16, 2: block counts of -2^63 and 2^63-1 (signed overflow); the 5 leading bytes are the
    # codec's header, which avro_target skips as the codec does
    "avro": [
        "000000000000ffffffffffffffffff010000",
        "00000000000002000402730000000000ffffffffffffffffff010000",
        "0000000000000200040273000000000002026b0276feffffffffffffffff010000",
    ],
}


def entries() -> list[Any]:
    e = model.LogEntry
    return [
        e(timestamp=BASE, level="INFO", service="checkout", message="order 1 processed in 12 ms",
          host="web-1", user_id="u1", session_id="s-9", trace_id="t-1", attributes={"region": "eu-west"},
          client_id="c1", seq=1),
        e(timestamp=BASE + dt.timedelta(microseconds=120000), level="ERROR", service="api",
          message='tab\there "quoted" back\\slash\nnew line \x01\x1f', host="", attributes={}),
        e(timestamp=BASE.astimezone(dt.timezone(dt.timedelta(hours=-7, minutes=-30))), level="WARN",
          service="zürich", message="naïve café ✓ 😀", host="hôte", seq=9223372036854775807),
        e(timestamp=BASE, level="DEBUG", service="s", message="", host="h",
          attributes={f"k{i}": "v" * (i % 7) for i in range(128)}),
        e(timestamp=BASE, level="TRACE", service="svc", message="x" * 300, host="h",
          attributes={"syslog.procid": "4242", "syslog.msgid": "MID", "syslog.facility": "16", "a b": "c=d"}),
        e(timestamp=BASE, level="FATAL", service="s", message="k=v key=value attr.x=1", host="h", seq=0),
    ]  # fmt: skip


def proto_encode(es: list[Any]) -> bytes:
    """ProtoCodec's bytes with map entries in key order (protobuf's map order varies by process)."""
    return LogBatch.FromString(ProtoCodec().encode(es)).SerializeToString(deterministic=True)


def otlp_encode(es: list[Any]) -> bytes:
    """An ExportLogsServiceRequest of the entries, one resource per entry, with the fields the
    OTLP mapping reads: resource service and host, a scope, severity, body, attributes (the
    optional fields among them), a trace and span id."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    req = ExportLogsServiceRequest()
    for i, e in enumerate(es):
        rl = req.resource_logs.add()
        rl.resource.attributes.extend([KeyValue(key="service.name", value=AnyValue(string_value=e.service)),
                                       KeyValue(key="host.name", value=AnyValue(string_value=e.host)),
                                       KeyValue(key="process.pid", value=AnyValue(int_value=-i))])  # fmt: skip
        sl = rl.scope_logs.add()
        sl.scope.name, sl.scope.version = "seed", "1.0"
        r = sl.log_records.add()
        r.time_unix_nano = int(e.timestamp.timestamp() * 1_000_000) * 1000
        r.severity_number = model.LEVELS.index(e.level) * 4 + 1  # type: ignore[assignment]
        r.body.string_value = e.message
        extra = {"user_id": e.user_id, "session.id": e.session_id, "client_id": e.client_id, **e.attributes}
        r.attributes.extend(
            KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in extra.items() if v is not None
        )
        if e.seq is not None:
            r.attributes.add(key="seq", value=AnyValue(int_value=e.seq))
        r.attributes.add(key="ok", value=AnyValue(bool_value=bool(i % 2)))
        r.attributes.add(key="raw", value=AnyValue(bytes_value=bytes([i, 255])))
        r.trace_id, r.span_id = bytes(range(16)), bytes(range(8))
    return req.SerializeToString()


def otlp_json_encode(es: list[Any]) -> bytes:
    """An OTLP/JSON ExportLogsServiceRequest of the entries in the shapes senders use, in turn:
    the generator's (``timeUnixNano`` 19 digits, ``seq`` an ``intValue`` of 12 digits, a hex trace
    id in capitals), the OpenTelemetry JavaScript exporter's (JSON integers,
    ``observedTimeUnixNano``, ``droppedAttributesCount``, a scope version, span id and flags), and
    one in proto names with the scope after the records, a bool, a bytes value, an int body, an
    empty value and an escape."""
    import msgspec

    def kv(key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"key": key, "value": value}

    resource_logs: list[dict[str, Any]] = []
    for i, e in enumerate(es):
        nanos = model.micros_from_utc(e.timestamp) * 1000
        severity = model.LEVELS.index(e.level) * 4 + 1
        extra = {"user_id": e.user_id, "session.id": e.session_id, "client_id": e.client_id, **e.attributes}
        attrs = [kv(k, {"stringValue": v}) for k, v in extra.items() if v is not None]
        resource = {"attributes": [kv("service.name", {"stringValue": e.service}),
                                   kv("host.name", {"stringValue": e.host})]}  # fmt: skip
        shape = i % 3
        if shape == 0:
            record: dict[str, Any] = {"timeUnixNano": f"{nanos:019d}", "severityNumber": severity,
                                      "severityText": e.level, "body": {"stringValue": e.message},
                                      "attributes": [kv("seq", {"intValue": f"{e.seq or 0:012d}"}), *attrs]}  # fmt: skip
            if e.trace_id:
                record["traceId"] = e.trace_id.upper()
            resource_logs.append(
                {"resource": resource, "scopeLogs": [{"scope": {"name": "seed"}, "logRecords": [record]}]}
            )
        elif shape == 1:
            record = {"timeUnixNano": str(nanos), "observedTimeUnixNano": str(nanos), "severityNumber": severity,
                      "severityText": e.level, "body": {"stringValue": e.message},
                      "attributes": [kv("seq", {"intValue": e.seq or 0}), *attrs, kv("big", {"intValue": 2**40 + i})],
                      "droppedAttributesCount": 0, "traceId": "5b8efff798038103d269b633813fc60c",
                      "spanId": "eee19b7ec3c1b174", "flags": 1}  # fmt: skip
            resource_logs.append({"resource": {**resource, "droppedAttributesCount": 0},
                                  "scopeLogs": [{"scope": {"name": "frontend-js", "version": "3.1.0"},
                                                 "logRecords": [record]}]})  # fmt: skip
        else:
            record = {"time_unix_nano": nanos, "severity_number": 0, "severity_text": e.level.lower(),
                      "body": {"int_value": str(-i)}, "event_name": "login",
                      "attributes": [kv("ok", {"bool_value": bool(i % 2)}), kv("raw", {"bytes_value": "AAE="}),
                                     kv("none", {}), kv("n\u00e9", {"string_value": 'tab\there "q"'}), *attrs]}  # fmt: skip
            resource_logs.append({"scope_logs": [{"log_records": [record], "scope": {"name": "seed"},
                                                  "schema_url": ""}], "resource": resource})  # fmt: skip
    return msgspec.json.encode({"resourceLogs": resource_logs})


def hec_encode(es: list[Any]) -> bytes:
    """HEC events of the entries in the shapes senders use, in turn: the generator's (a string
    event, ``time`` as text, the entry's fields in ``fields``), Docker's splunk driver (the line in
    an event object, and a parsed ``line`` object), an event object with ``message``, and a number
    ``time`` with whitespace between events."""
    import msgspec

    out = []
    for i, e in enumerate(es):
        micros = model.micros_from_utc(e.timestamp)
        seconds = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
        extra = {k: v for k, v in (("user_id", e.user_id), ("session.id", e.session_id),
                                   ("trace_id", e.trace_id), ("client_id", e.client_id)) if v is not None}  # fmt: skip
        if e.seq is not None:
            extra["seq"] = f"{e.seq:012d}" if i % 2 else e.seq
        fields = {"level": e.level, "service": e.service, **extra, **e.attributes}
        shape = i % 4
        if shape == 0:
            event: dict[str, Any] = {"time": seconds, "host": e.host, "source": "seed", "sourcetype": "_json",
                                     "event": e.message, "fields": fields}  # fmt: skip
        elif shape == 1:
            event = {"event": {"line": e.message, "source": "stdout", "tag": e.service}, "time": seconds,
                     "host": e.host, "fields": {"level": e.level, **extra}}  # fmt: skip
        elif shape == 2:
            event = {"event": {"line": {"msg": e.message, "level": e.level, **extra}, "source": "stderr"},
                     "time": seconds, "host": e.host}  # fmt: skip
        else:
            event = {"event": {"message": e.message, "severity": e.level.lower(), "service.name": e.service},
                     "time": micros / 1e6, "fields": e.attributes or None}  # fmt: skip
        out.append(msgspec.json.encode(event))
    return b"\n".join(out) + b"\n"


def forward_encode(es: list[Any]) -> bytes:
    """A PackedForward entries stream (``[time, record]`` arrays) of the entries in the shapes
    senders use, in turn: the generator's (an EventTime, the entry's fields as keys, ``seq`` as
    12 digits), Docker's fluentd driver (``log``, ``container_name`` with its slash, ``source``,
    an integer time), and Fluent Bit's (``log``, a level word, a bin value, an integer seq, nil)."""
    import msgpack

    out = []
    for i, e in enumerate(es):
        micros = model.micros_from_utc(e.timestamp)
        stamp = msgpack.ExtType(
            0, (micros // 1_000_000).to_bytes(4, "big") + (micros % 1_000_000 * 1000).to_bytes(4, "big")
        )
        extra = {k: v for k, v in (("user_id", e.user_id), ("session.id", e.session_id),
                                   ("trace_id", e.trace_id), ("client_id", e.client_id)) if v is not None}  # fmt: skip
        shape = i % 3
        if shape == 0:
            record: dict[str, Any] = {"message": e.message, "level": e.level, "service": e.service, "host": e.host,
                                      **({"seq": f"{e.seq:012d}"} if e.seq is not None else {}), **extra, **e.attributes}  # fmt: skip
            entry = [stamp, record]
        elif shape == 1:
            record = {"container_id": "4f1c0e6d2a9b", "container_name": "/" + e.service, "source": "stdout",
                      "log": e.message}  # fmt: skip
            entry = [micros // 1_000_000, record]
        else:
            record = {"log": e.message, "level": e.level.lower(), "raw": e.host.encode(), "seq": e.seq, "none": None,
                      **extra}  # fmt: skip
            entry = [stamp, record]
        out.append(msgpack.packb(entry, use_bin_type=True))
    return b"".join(out)


def loki_json_encode(es: list[Any]) -> bytes:
    """A Loki JSON push of the entries in the shapes senders use, in turn: the generator's (one
    stream per service and host, ``[ns, line, metadata]``), winston-loki's (a stream per entry,
    its labels level, job, host, seq and client_id, the line with a trailing space, an empty
    metadata object), and an integer time, without labels or with escapes and a null in them."""
    import msgspec

    streams: list[dict[str, Any]] = []
    for i, e in enumerate(es):
        nanos = model.micros_from_utc(e.timestamp) * 1000
        extra = {k: v for k, v in (("user_id", e.user_id), ("session.id", e.session_id),
                                   ("trace_id", e.trace_id), ("client_id", e.client_id)) if v is not None}  # fmt: skip
        if e.seq is not None:
            extra["seq"] = f"{e.seq:012d}"
        shape = i % 3
        if shape == 0:
            streams.append({"stream": {"service_name": e.service, "host": e.host},
                            "values": [[f"{nanos:019d}", e.message, {"level": e.level, **extra, **e.attributes}]]})  # fmt: skip
        elif shape == 1:
            streams.append({"stream": {"level": e.level.lower(), "job": e.service, "host": e.host, **extra},
                            "values": [[str(nanos // 1_000_000) + "000000", e.message + " ", {}]]})  # fmt: skip
        else:
            streams.append({"values": [[nanos, e.message]]} if not e.attributes else
                           {"stream": {"app": e.service, "instance": e.host, "detected_level": e.level,
                                       "n\u00e9": "tab\there \"q\"", "none": None}, "values": [[nanos, e.message]]})  # fmt: skip
    return msgspec.json.encode({"streams": streams})


def loki_push_encode(es: list[Any]) -> bytes:
    """A Loki ``PushRequest`` (uncompressed) of the entries in the shapes senders use, in turn: the
    generator's (labels ``{service_name="...", host="..."}``, a Timestamp of over-long varints,
    the level, seq and client_id as structured metadata), winston-loki's (every field a label:
    ``{level="info",job="...",...}``, no metadata), and one with the labels after the entries, an
    escaped label value, the stream's hash and a trailing comma."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    def over_long(n: int) -> bytes:
        return bytes(
            [n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14 & 0x7F | 0x80, n >> 21 & 0x7F | 0x80, n >> 28]
        )

    streams = []
    for i, e in enumerate(es):
        micros = model.micros_from_utc(e.timestamp)
        seconds, nanos = divmod(micros * 1000, 1_000_000_000)
        extra = {k: v for k, v in (("user_id", e.user_id), ("session.id", e.session_id),
                                   ("trace_id", e.trace_id), ("client_id", e.client_id)) if v is not None}  # fmt: skip
        if e.seq is not None:
            extra["seq"] = f"{e.seq:012d}"
        shape = i % 3
        if shape == 0:
            stamp = b"\x08" + over_long(seconds) + b"\x10" + over_long(nanos)
            metadata = b"".join(field(3, field(1, k.encode()) + field(2, v.encode()))
                                for k, v in {"level": e.level, **extra, **e.attributes}.items())  # fmt: skip
            labels = f'{{service_name="{e.service}", host="{e.host}"}}'.encode()
            streams.append(
                field(1, labels) + field(2, field(1, stamp) + field(2, e.message.encode()) + metadata)
            )
        elif shape == 1:
            stamp = b"\x08" + varint(seconds) + b"\x10" + varint(nanos // 1_000_000 * 1_000_000)
            labels = ",".join(f'{k}="{v}"' for k, v in {"level": e.level.lower(), "job": e.service,
                                                           "host": e.host, **extra}.items())  # fmt: skip
            streams.append(
                field(1, ("{" + labels + "}").encode())
                + field(2, field(1, stamp) + field(2, e.message.encode()))
            )
        else:
            stamp = b"\x08" + varint(seconds) + b"\x10" + varint(nanos)
            labels = f'{{ app = "{e.service}",\tinstance="{e.host}", q="a\\"b\\\\c\\n", }}'.encode()
            streams.append(
                field(2, field(2, e.message.encode()) + field(1, stamp)) + field(1, labels) + b"\x18\x07"
            )
    return b"".join(field(1, s) for s in streams)


def es_bulk_encode(es: list[Any]) -> bytes:
    """Bulk bodies of the entries in the shapes senders use, in turn: the generator's (``create``,
    flat dotted keys, ``@timestamp`` RFC 3339), the official client's ``helpers.bulk`` (``index``
    with ``_index``, nested ECS objects, a float, an array), an action with its ``_id`` and epoch
    millis, and an offset stamp with whitespace and CRLF between the lines."""
    import msgspec

    enc = msgspec.json.encode
    out = []
    for i, e in enumerate(es):
        micros = model.micros_from_utc(e.timestamp)
        stamp = model.utc_from_micros(micros).isoformat().replace("+00:00", "Z")
        extra = {k: v for k, v in (("user_id", e.user_id), ("session.id", e.session_id),
                                   ("trace_id", e.trace_id), ("client_id", e.client_id)) if v is not None}  # fmt: skip
        if e.seq is not None:
            extra["seq"] = f"{e.seq:012d}" if i % 2 else e.seq
        extra.update(e.attributes)
        kind = i % 4
        if kind == 0:
            doc = {"@timestamp": stamp, "message": e.message, "log.level": e.level, "service.name": e.service,
                   "host.name": e.host, **extra}  # fmt: skip
            out += [b'{"create":{}}', enc(doc)]
        elif kind == 1:
            doc = {"@timestamp": stamp, "message": e.message, "log": {"level": e.level, "logger": "app"},
                   "service": {"name": e.service}, "host": {"name": e.host}, "order": {"total": 13.5, "n": i},
                   "tags": ["a", "b"], **extra}  # fmt: skip
            out += [b'{"index":{"_index":"shop-logs"}}', enc(doc)]
        elif kind == 2:
            doc = {"timestamp": micros // 1000, "msg": e.message, "level": e.level, "service": e.service,
                   "host": e.host, **extra}  # fmt: skip
            out += [enc({"create": {"_index": "logs", "_id": f"id-{i}"}}), enc(doc)]
        else:
            doc = {"@timestamp": "2025-06-30T23:59:23.5+02:00", "message": e.message, "level": e.level,
                   "service.name": e.service, "host": {"hostname": e.host}, **extra}  # fmt: skip
            out += [b'{ "index" : { } }', b"  " + enc(doc) + b" \r"]
    return b"\n".join(out) + b"\n"


def gelf_encode(es: list[Any]) -> bytes:
    """GELF messages of the entries, NUL-separated (TCP's framing), in the shapes senders use, in
    turn: the generator's (``timestamp`` as seconds with 6 decimals, a syslog level, the entry's
    fields as ``_`` fields, ``_seq`` as 12 digits), Docker's gelf driver (``_container_name``,
    ``_container_id``, ``_image_name``, ``_command``, ``_tag``, ``_created``, level 6 or 3, a
    float time), pygelf's (``json.dumps``: non-ASCII as ``\\u`` escapes, a float time of 7
    decimals, null extras) and graypy's (``file``, ``line``, ``facility``, ``full_message``, an
    integer time, whitespace around the object)."""
    import json

    import msgspec

    severity = {"TRACE": 7, "DEBUG": 7, "INFO": 6, "WARN": 4, "ERROR": 3, "FATAL": 2}
    out = []
    for i, e in enumerate(es):
        micros = model.micros_from_utc(e.timestamp)
        extra = {f"_{k}": v for k, v in (("user_id", e.user_id), ("session_id", e.session_id),
                                         ("trace_id", e.trace_id), ("client_id", e.client_id)) if v is not None}  # fmt: skip
        if e.seq is not None:
            extra["_seq"] = f"{e.seq:012d}"
        attributes = {f"_{k}": v for k, v in e.attributes.items()}
        shape = i % 4
        if shape == 0:
            message: dict[str, Any] = {"version": "1.1", "host": e.host, "short_message": e.message,
                                       "timestamp": msgspec.Raw(b"%d.%06d" % divmod(micros, 1_000_000)),
                                       "level": severity[e.level], "_service": e.service, **extra, **attributes}  # fmt: skip
            out.append(msgspec.json.encode(message))
        elif shape == 1:
            message = {"version": "1.1", "host": e.host, "short_message": e.message, "timestamp": micros / 1e6,
                       "level": 3 if e.level == "ERROR" else 6, "_command": "nginx -g 'daemon off;'",
                       "_container_id": "4f1c0e6d2a9b" * 5 + "abcd", "_container_name": e.service,
                       "_created": "2025-06-30T21:00:00.123456789Z", "_image_id": "sha256:" + "ab" * 32,
                       "_image_name": "shop/web:1.4", "_tag": "4f1c0e6d2a9b"}  # fmt: skip
            out.append(msgspec.json.encode(message))
        elif shape == 2:
            message = {"version": "1.1", "short_message": e.message, "timestamp": micros / 1e6 + 1e-7,
                       "level": severity[e.level], "host": e.host, "_logger": "shop.orders", "_stack_info": None,
                       "_service": e.service, **extra}  # fmt: skip
            out.append(json.dumps(message, separators=(",", ":")).encode())
        else:
            message = {"version": "1.0", "host": e.host, "short_message": e.message, "full_message": e.message,
                       "timestamp": micros // 1_000_000, "level": severity[e.level], "facility": e.service,
                       "file": "/srv/app/orders.py", "line": 42, "_pid": 4242, **extra}  # fmt: skip
            out.append(b" " + json.dumps(message).encode() + b"\n")
    return b"\0".join(out)


def payloads() -> dict[str, list[bytes]]:
    es = entries()
    syslog_lines = SyslogCodec(octet_counting=False)
    syslog_octet = SyslogCodec(octet_counting=True)
    out: dict[str, list[bytes]] = {}
    for name, encode in (
        ("json", JsonCodec().encode),
        ("raw", RawCodec().encode),
        ("syslog_lines", syslog_lines.encode),
        ("syslog_octet", syslog_octet.encode),
        ("proto", proto_encode),
        ("avro", AvroCodec().encode),
    ):
        out[name] = [encode(es), *(encode([e]) for e in es)]
    out["proto_count"] = list(out["proto"])
    out["otlp"] = [otlp_encode(es), *(otlp_encode([e]) for e in es)]
    out["otlp_json"] = [otlp_json_encode(es), *(otlp_json_encode([e]) for e in es)]
    out["hec"] = [hec_encode(es), *(hec_encode([e]) for e in es)]
    out["forward"] = [forward_encode(es), *(forward_encode([e]) for e in es)]
    out["loki_json"] = [loki_json_encode(es), *(loki_json_encode([e]) for e in es)]
    out["loki_push"] = [loki_push_encode(es), *(loki_push_encode([e]) for e in es)]
    out["es_bulk"] = [es_bulk_encode(es), *(es_bulk_encode([e]) for e in es)]
    out["gelf"] = [gelf_encode(es), *(gelf_encode([e]) for e in es)]
    return out


def write(corpus: Path) -> int:
    """Write every seed (named by its digest) into ``corpus/<target>/``; how many."""
    n = 0
    for target, items in payloads().items():
        folder = corpus / target
        folder.mkdir(parents=True, exist_ok=True)
        seeds = [bytes([sel]) + p for p in items for sel in (0, 2)] + [
            bytes.fromhex(h) for h in FINDINGS.get(target, [])
        ]
        for seed in seeds:
            (folder / hashlib.sha1(seed).hexdigest()[:16]).write_bytes(seed)
            n += 1
    return n


if __name__ == "__main__":
    print(f"{write(HERE / 'corpus')} seeds written to {HERE / 'corpus'}")
