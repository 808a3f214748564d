"""Loki's push API: ``POST /loki/api/v1/push`` (and ``/api/prom/push``), as JSON or as a
snappy-compressed ``PushRequest`` protobuf (a gzip or deflate ``Content-Encoding`` replaces
snappy, as in Loki); ``GET /ready``.

Each entry's labels and structured metadata (metadata wins on a clash) fill the entry:
``service_name``/``job``/``app`` the service, ``level``/``severity``/``detected_level`` the level,
``host``/``hostname``/``instance`` the host, ``seq``/``client_id`` those fields; the rest are
attributes. The line is the message and its nanosecond timestamp the timestamp.

A compiled transcoder (``workbench/speedups/_loki.pyx``) writes the stored lines of a plain push
(JSON, or protobuf once inflated) straight from its bytes when the ingestor asks for them; it
declines anything else, which the Python path below maps.

As in Loki, bad entries are answered with a 400 that names them while the good ones are
stored; a body that does not parse is a 400 with a text message; success is a 204. A snappy
block's declared size is read before it is inflated: over ``max_inflated_bytes`` (the
constructor's; ``MAX_INFLATED_BYTES`` by default) the request is refused with a 413, unread.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import cramjam
import msgspec
from google.protobuf.message import DecodeError

from workbench.codecs.base import ENCODING, INVALID, MALFORMED, STORE_DIRECT, TOO_LARGE
from workbench.codecs.timeparse import format_iso, parse_iso
from workbench.shippers.base import (
    Decoded,
    HttpReply,
    HttpRequest,
    RecordError,
    Route,
    ShipperCodec,
    timestamp_from_nanos,
)
from workbench.shippers.mapping import finish, pop_level, pop_text, short, validated

MAX_INFLATED_BYTES = 64 << 20  # as the ingestor's max_inflated_bytes default
SERVICE_KEYS = ("service_name", "job", "app")
LEVEL_KEYS = ("level", "severity", "detected_level")
HOST_KEYS = ("host", "hostname", "instance")
TEXT = "text/plain; charset=utf-8"
_json = msgspec.json.Decoder()

try:  # the compiled transcoder of the plain case (workbench/speedups/_loki.pyx)
    from workbench.speedups._loki import transcode_json as _transcode_json
    from workbench.speedups._loki import transcode_push as _transcode_push
except ImportError:  # not compiled: every entry is mapped in Python
    _transcode_json = _transcode_push = None

# Loki's push.proto (pkg/push), the fields a push carries; strings are read as bytes so that
# an entry that is not UTF-8 is one rejection, not a body that does not parse:
#   message PushRequest   { repeated StreamAdapter streams = 1; }
#   message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; }
#   message EntryAdapter  { google.protobuf.Timestamp timestamp = 1; string line = 2;
#                           repeated LabelPairAdapter structuredMetadata = 3; }
#   message LabelPairAdapter { string name = 1; string value = 2; }
#   message Timestamp     { int64 seconds = 1; int32 nanos = 2; }   (google.protobuf's)
_MESSAGES: dict[str, list[tuple[int, str, str, bool]]] = {  # number, name, type, repeated
    "Timestamp": [(1, "seconds", "int64", False), (2, "nanos", "int32", False)],
    "LabelPair": [(1, "name", "bytes", False), (2, "value", "bytes", False)],
    "Entry": [(1, "timestamp", "Timestamp", False), (2, "line", "bytes", False),
              (3, "structuredMetadata", "LabelPair", True)],
    "Stream": [(1, "labels", "bytes", False), (2, "entries", "Entry", True)],
    "PushRequest": [(1, "streams", "Stream", True)],
}  # fmt: skip


@functools.cache
def push_request_class() -> Any:
    """The ``PushRequest`` message class (upb), built from ``_MESSAGES`` on first use."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FieldDescriptorProto
    scalar = {"int64": proto.TYPE_INT64, "int32": proto.TYPE_INT32, "bytes": proto.TYPE_BYTES}
    file = descriptor_pb2.FileDescriptorProto(name="workbench/loki_push.proto", package="workbench.loki",
                                              syntax="proto3")  # fmt: skip
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for number, field_name, kind, repeated in fields:
            field = message.field.add(name=field_name, number=number,
                                      label=proto.LABEL_REPEATED if repeated else proto.LABEL_OPTIONAL)  # fmt: skip
            if kind in scalar:
                field.type = scalar[kind]
            else:
                field.type, field.type_name = proto.TYPE_MESSAGE, f".workbench.loki.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(file.SerializeToString())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("workbench.loki.PushRequest"))


class LokiCodec(ShipperCodec):
    name = "loki"
    routes = (
        Route("POST", "/loki/api/v1/push", "push"),
        Route("POST", "/api/prom/push", "push"),
        Route("GET", "/ready", "ready"),
    )

    def __init__(self, default_service: str = "raw", worker_id: int = 0, max_inflated_bytes: int = MAX_INFLATED_BYTES,
                 fast: bool = True) -> None:  # fmt: skip
        super().__init__(default_service, worker_id)
        self.max_inflated_bytes = max_inflated_bytes
        # pushes go to the compiled transcoder first while the loaded schema is the one its
        # checks enforce (``STORE_DIRECT``); it declines anything outside the plain case
        self.fast = fast and STORE_DIRECT and _transcode_json is not None
        self._service = default_service.encode("utf-8", "surrogatepass")

    def decode(self, action: str, request: HttpRequest) -> Decoded | HttpReply:
        if action == "ready":
            return HttpReply(200, b"ready\n", TEXT)
        if request.content_type == "application/json":
            return self._json_push(request)
        return self._proto_push(request)

    def reply(self, action: str, request: HttpRequest, decoded: Decoded) -> HttpReply:
        if not decoded.errors:
            return HttpReply(204, b"", TEXT)
        if decoded.errors[0].reason == TOO_LARGE:
            return self.too_large(request, decoded.errors[0].detail)
        total = len(decoded.entries) + len(decoded.errors)
        lines = [err.detail for err in decoded.errors[:100]]
        if len(decoded.errors) > 100:
            lines.append(f"... and {len(decoded.errors) - 100} more")
        lines.append(f"total ignored: {len(decoded.errors)} out of {total}")
        return HttpReply(400, ("\n".join(lines) + "\n").encode(), TEXT)

    def unauthorized(self, request: HttpRequest) -> HttpReply:
        return HttpReply(401, b"unauthorized: a valid bearer token is required\n", TEXT)

    def too_large(self, request: HttpRequest, detail: str) -> HttpReply:
        return HttpReply(413, f"request too large: {detail}\n".encode(), TEXT)

    def open_route(self, action: str) -> bool:
        return action == "ready"  # Loki's readiness probe takes no token

    def busy(self, request: HttpRequest) -> HttpReply:
        """The answer when the ingestor cannot take the request now (429: Loki clients retry it)."""
        return HttpReply(429, b"the ingestor is over its queue bound; retry\n", TEXT, (("retry-after", "1"),))

    # --- protobuf -------------------------------------------------------------------------

    def _proto_push(self, request: HttpRequest) -> Decoded | HttpReply:
        payload = request.body
        if request.headers.get("content-encoding", "").strip().lower() in ("", "identity"):
            try:
                size = cramjam.snappy.decompress_raw_len(payload)
            except cramjam.DecompressionError as exc:
                return _bad(f"the body is not a snappy block: {exc}")
            if size > self.max_inflated_bytes:
                detail = f"snappy block declares {size} bytes, over the limit of {self.max_inflated_bytes}"
                return Decoded(errors=[RecordError(0, TOO_LARGE, detail, short(payload))])
            try:
                payload = bytes(cramjam.snappy.decompress_raw(payload))
            except cramjam.DecompressionError as exc:
                return _bad(f"the body is not a snappy block: {exc}")
        fast = self._transcoded(_transcode_push, payload, request)
        if fast is not None:
            return fast
        try:
            message = push_request_class().FromString(payload)
        except DecodeError as exc:
            return _bad(f"the body is not a PushRequest: {exc}")
        batch = _Batch(self, request.peer_host)
        for stream in message.streams:
            try:
                labels_text = stream.labels.decode("utf-8")
            except UnicodeDecodeError:
                batch.refuse_stream(len(stream.entries), ENCODING, "the labels are not UTF-8", stream.labels)
                continue
            labels = parse_labels(labels_text)
            if labels is None:
                batch.refuse_stream(len(stream.entries), MALFORMED, f"labels {labels_text!r} do not parse",
                                    stream.labels)  # fmt: skip
                continue
            for entry in stream.entries:
                nanos = entry.timestamp.seconds * 1_000_000_000 + entry.timestamp.nanos
                try:
                    line = entry.line.decode("utf-8")
                    metadata = {
                        p.name.decode("utf-8"): p.value.decode("utf-8") for p in entry.structuredMetadata
                    }
                except UnicodeDecodeError:
                    batch.reject(
                        ENCODING, nanos, "the line or its metadata is not UTF-8", labels_text, entry.line
                    )
                    continue
                batch.add(dict(labels), metadata, nanos, line, labels_text)
        return batch.decoded()

    # --- JSON -----------------------------------------------------------------------------

    def _json_push(self, request: HttpRequest) -> Decoded | HttpReply:
        fast = self._transcoded(_transcode_json, request.body, request)
        if fast is not None:
            return fast
        try:
            body = _json.decode(request.body)
        except msgspec.DecodeError as exc:
            return _bad(f"the body is not JSON: {exc}")
        streams = body.get("streams") if isinstance(body, dict) else None
        if not isinstance(streams, list) or not all(isinstance(s, dict) for s in streams):
            return _bad('the body is not a push request: {"streams": [{"stream": {...}, "values": [...]}]}')
        batch = _Batch(self, request.peer_host)
        for stream in streams:
            if "labels" in stream and "stream" not in stream:  # the legacy form: labels text, entries
                self._legacy_stream(batch, stream)
                continue
            labels = stream.get("stream") or {}
            values = stream.get("values") or []
            labels_text = _labels_text(labels) if isinstance(labels, dict) else repr(labels)
            if not isinstance(labels, dict) or not isinstance(values, list):
                batch.refuse_stream(len(values) if isinstance(values, list) else 1, MALFORMED,
                                    "'stream' must be an object and 'values' a list", _raw(stream))  # fmt: skip
                continue
            for value in values:
                if not (isinstance(value, list) and len(value) in (2, 3) and isinstance(value[1], str)
                        and (len(value) == 2 or isinstance(value[2], dict))):  # fmt: skip
                    batch.reject(MALFORMED, 0, 'an entry must be ["<unix ns>", "<line>"] or with a metadata object',
                                 labels_text, _raw(value))  # fmt: skip
                    continue
                nanos = _nanos(value[0])
                if nanos < 0:
                    batch.reject(INVALID, 0, f"timestamp {value[0]!r} is not unix nanoseconds", labels_text,
                                 _raw(value))  # fmt: skip
                    continue
                batch.add(dict(labels), value[2] if len(value) == 3 else None, nanos, value[1], labels_text)
        return batch.decoded()

    def _transcoded(self, transcode: Any, payload: bytes, request: HttpRequest) -> Decoded | None:
        """The stored lines of a plain push (``_loki.pyx``'s docstring says which), or None. Only
        when the caller asks for lines (the HTTP listener gives their end, with the batch's
        fields); a caller without one gets the entries."""
        if not self.fast or request.stored_end == b"}\n":
            return None
        try:
            peer = request.peer_host.encode()
        except UnicodeEncodeError:
            return None
        got: tuple[bytes, int] | None = transcode(payload, self._service, peer, request.stored_end)
        if got is None:
            return None
        return Decoded(jsonl=got[0], lines=got[1], end=request.stored_end)

    def _legacy_stream(self, batch: _Batch, stream: dict[str, Any]) -> None:
        labels_text = stream["labels"]
        entries = stream.get("entries") or []
        labels = parse_labels(labels_text) if isinstance(labels_text, str) else None
        if labels is None or not isinstance(entries, list):
            batch.refuse_stream(len(entries) if isinstance(entries, list) else 1, MALFORMED,
                                f"labels {labels_text!r} do not parse", _raw(stream))  # fmt: skip
            return
        for entry in entries:
            ts = (
                parse_iso(entry.get("ts", ""))
                if isinstance(entry, dict) and isinstance(entry.get("ts"), str)
                else None
            )
            line = entry.get("line") if isinstance(entry, dict) else None
            if ts is None or not isinstance(line, str):
                batch.reject(MALFORMED, 0, 'an entry must be {"ts": "<RFC 3339>", "line": "<line>"}', labels_text,
                             _raw(entry))  # fmt: skip
                continue
            batch.add(dict(labels), None, -1, line, labels_text, ts)


class _Batch:
    """The records and rejections of one push, indexed by the entry's place in the request."""

    def __init__(self, codec: LokiCodec, peer_host: str) -> None:
        self.codec = codec
        self.peer_host = peer_host
        self.records: list[dict[str, Any]] = []
        self.indexes: list[int] = []
        self.raws: list[bytes] = []
        self.streams: list[str] = []  # each record's labels, for what an answer says of it
        self.errors: list[RecordError] = []
        self.count = 0

    def add(self, pairs: dict[str, Any], metadata: dict[str, Any] | None, nanos: int, line: str, labels_text: str,
            ts: Any = None) -> None:  # fmt: skip
        if ts is None:
            ts = timestamp_from_nanos(nanos)
            if ts is None:
                self.reject(INVALID, nanos, f"timestamp {nanos} ns is not a time", labels_text, line.encode())
                return
        if metadata:
            pairs.update(metadata)
        record = {
            "timestamp": ts,
            "level": pop_level(pairs, LEVEL_KEYS),
            "service": pop_text(pairs, SERVICE_KEYS) or self.codec.default_service,
            "message": line,
            "host": pop_text(pairs, HOST_KEYS) or self.peer_host,
        }
        self.records.append(finish(record, pairs))
        self.indexes.append(self.count)
        self.raws.append(line.encode())
        self.streams.append(labels_text)
        self.count += 1

    def reject(self, reason: str, nanos: int, why: str, labels_text: str, raw: bytes) -> None:
        self.errors.append(RecordError(self.count, reason, _ignored(nanos, why, labels_text), short(raw)))
        self.count += 1

    def refuse_stream(self, entries: int, reason: str, why: str, raw: bytes) -> None:
        for _ in range(max(entries, 1)):
            self.errors.append(
                RecordError(self.count, reason, f"stream ignored, reason: '{why}'", short(raw))
            )
            self.count += 1

    def decoded(self) -> Decoded:
        decoded = validated(self.records, self.indexes, lambda i: short(self.raws[i]), self.errors)
        if len(decoded.errors) > len(self.errors):  # say it as Loki does: the entry's time and stream
            position = {index: i for i, index in enumerate(self.indexes)}
            for err in decoded.errors:
                i = position.get(err.index)
                if i is not None:
                    when = format_iso(self.records[i]["timestamp"])
                    err.detail = f"entry with timestamp {when} ignored, reason: '{err.detail}' for stream: {self.streams[i]}"
        return decoded


@functools.lru_cache(maxsize=4096)
def _parsed_labels(text: str) -> tuple[tuple[str, str], ...] | None:
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        return None
    inner, pos, out = body[1:-1], 0, []
    while inner[pos:].strip():
        m = _LABEL.match(inner, pos)
        if m is None:
            return None
        out.append((m.group(1), _ESCAPE.sub(_unescape, m.group(2))))
        pos = m.end()
    return tuple(out)


def parse_labels(text: str) -> dict[str, str] | None:
    """Prometheus label syntax (``{app="api", env="prod"}``) as a dict; None when it is not."""
    pairs = _parsed_labels(text)
    return None if pairs is None else dict(pairs)


_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "\\": "\\", '"': '"', "t": "\t"}


def _unescape(m: re.Match[str]) -> str:
    return _ESCAPES.get(m.group(1), m.group(0))


def _labels_text(labels: dict[str, Any]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _nanos(value: Any) -> int:
    """A JSON entry's time: unix nanoseconds as digits (Loki's form) or a number; -1 when neither."""
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return -1


def _ignored(nanos: int, why: str, labels_text: str) -> str:
    ts = timestamp_from_nanos(nanos)
    entry = f"entry with timestamp {format_iso(ts)}" if ts is not None else "entry"
    return f"{entry} ignored, reason: '{why}' for stream: {labels_text}"


def _raw(value: Any) -> bytes:
    return short(msgspec.json.encode(value, enc_hook=str))


def _bad(detail: str) -> HttpReply:
    return HttpReply(400, (detail + "\n").encode(), TEXT)
