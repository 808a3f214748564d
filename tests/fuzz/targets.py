"""Fuzz targets for every entry point of ``workbench/speedups/``, and the checks on what they return.

One target per entry point that reads bytes from the network (the blackhole's count included).
A target takes one input, calls its entry point and checks the result:

* every accepted payload gives exactly ``count`` lines, each ending with the tail it was given,
  and each decodes (tail replaced by ``}``) as the schema's ``LogEntry`` with msgspec;
* the octet framer never reaches past the input and stops no later than the plain framer;
* the protobuf count agrees with the transcoder's whenever the transcoder takes the payload;
* what the OTLP and HEC transcoders take, their protocol's parser takes, and the codec's Python
  path stores the same lines;
* nothing else comes out: a decline is ``None``, and an exception is a finding.

The first byte of an input chooses the tail (and, for octet framing, the frame limit), so the
same payload is written into outputs of several sizes. Which build runs is chosen by
``WB_FUZZ_BUILD``: ``sanitize`` (the default: ``python -m workbench.speedups.build --sanitize``,
loaded only in a Python that ``sanitizer_env()`` started) or ``plain`` (the installed modules).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import msgspec

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from workbench import model  # noqa: E402
from workbench.ingestor.decoding import normalise  # noqa: E402
from workbench.speedups.build import sanitized_module  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"
# tails as the ingestor writes them: bare, one short field, the stored fields of a batch
TAILS = (
    b"}\n",
    b',"x":1}\n',
    b',"received_at":"2026-12-01T23:11:00.123456Z","format":"syslog","transport":"tls",'
    b'"peer":"127.0.0.1:54321"}\n',
    b',"received_at":"2026-12-01T23:11:00Z","format":"json","transport":"udp","peer":"[::1]:9"}\n',
)
FRAME_LIMITS = (1 << 20, 64, 0)
_ENTRIES = msgspec.json.Decoder(model.LogEntry)


class Finding(AssertionError):
    """A target returned something its contract rules out."""


def _load(name: str) -> ModuleType:
    build = os.environ.get("WB_FUZZ_BUILD", "sanitize")
    if build == "plain":
        return importlib.import_module(f"workbench.speedups.{name}")
    path = sanitized_module(name)
    spec = importlib.util.spec_from_file_location(f"workbench.speedups.{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_json, _raw, _syslog, _binary, _otlp, _hec, _forward, _loki, _esbulk, _otlpjson, _gelf = (
    _load(n) for n in ("_json", "_raw", "_syslog", "_binary", "_otlp", "_hec", "_forward", "_loki", "_esbulk",
                       "_otlpjson", "_gelf"))  # fmt: skip
# the default service and the peer an OTLP request is transcoded with, chosen by the selector
OTLP_CONTEXTS = ((b"raw", b"127.0.0.1"), (b"s" * 256, b""), (b"\xc3\xa9", b"[::1]"))
OTLP_NOW = 1_764_600_000_123_456_789
# the default service, the default host (the query's host or the peer) and the query's source,
# sourcetype and index a HEC body is transcoded with, chosen by the selector after the tail
HEC_CONTEXTS = (
    (b"raw", b"127.0.0.1", None, None, None),
    (b"s" * 256, b"", b"src", b"_json", b"main"),
    (b"\xc3\xa9", b'h"\n', b"\xc3\xa9", None, b"i"),
)
HEC_NOW = 1_764_600_000_123_456
# the message's tag, the default service and the peer a Forward stream is transcoded with, chosen
# by the selector after the tail
FORWARD_CONTEXTS = (
    (b"docker.web", b"raw", b"127.0.0.1"),
    (b"", b"s" * 256, b""),
    (b"\xc3\xa9", b"\xc3\xa9", b"[::1]"),
)


def split(data: bytes) -> tuple[int, bytes]:
    """(the selector byte, the payload) of an input."""
    return (data[0], data[1:]) if data else (0, b"")


def check_lines(out: bytes, count: int, tail: bytes) -> None:
    """``count`` lines, each ending with ``tail``, each a valid LogEntry once the tail is ``}``."""
    if count == 0:
        if out:
            raise Finding(f"no records but {len(out)} bytes written")
        return
    if not out.endswith(b"\n"):
        raise Finding("output does not end with a newline")
    lines = out[:-1].split(b"\n")
    if len(lines) != count:
        raise Finding(f"count {count} but {len(lines)} lines")
    body = tail[:-2]  # what comes before "}\n"
    fixed = []
    for line in lines:
        if not line.endswith(tail[:-1]):
            raise Finding(f"a line does not end with its tail: {line[-80:]!r}")
        fixed.append(line[: len(line) - len(body) - 1] + b"}")
    try:
        entries = _ENTRIES.decode_lines(b"\n".join(fixed))
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise Finding(f"an accepted line is not a valid entry ({exc})") from exc
    if len(entries) != count:
        raise Finding(f"count {count} but {len(entries)} entries")


def _result(got: Any, tail: bytes) -> bool:
    """Check a transcoder's answer; whether it took the input (not None)."""
    if got is None:
        return False
    out, count = got
    check_lines(out, count, tail)
    return True


def json_target(data: bytes) -> bool:
    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    return _result(_json.transcode(payload, tail), tail)


def raw_target(data: bytes) -> bool:
    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    return _result(_raw.transcode(payload, tail), tail)


def syslog_lines_target(data: bytes) -> bool:
    """``stored_lines`` on the payload, and ``transcode`` on its lines as a list of records."""
    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    took = _result(_syslog.stored_lines(payload, tail), tail)
    records = [r for r in payload.split(b"\n") if r]
    out = _syslog.transcode(records)
    if out is not None:
        check_lines(out, len(records), b"}\n")
    return took


def syslog_octet_target(data: bytes) -> bool:
    """``stored_octet`` and ``octet_frames`` on an octet-counted stream."""
    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    limit = FRAME_LIMITS[(sel // len(TAILS)) % len(FRAME_LIMITS)]
    out, count, pos = _syslog.stored_octet(payload, limit, tail)
    frames, framed = _syslog.octet_frames(payload, limit)
    if not 0 <= pos <= framed <= len(payload):
        raise Finding(f"stored_octet reached {pos}, octet_frames {framed}, of {len(payload)} bytes")
    if count > len(frames):
        raise Finding(f"stored_octet took {count} frames, octet_frames found {len(frames)}")
    if sum(len(f) for f in frames) > framed:
        raise Finding("octet_frames returned more bytes than it consumed")
    check_lines(out, count, tail)
    return count > 0


def proto_target(data: bytes) -> bool:
    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    got = _binary.proto_transcode(payload, tail)
    _result(got, tail)
    counted = _binary.proto_count(payload)
    if counted < -1:
        raise Finding(f"proto_count returned {counted}")
    if got is not None and counted != got[1]:
        raise Finding(f"proto_count {counted} but the transcoder wrote {got[1]} entries")
    return got is not None


def avro_target(data: bytes) -> bool:
    """The array after the codec's 5-byte header (magic byte and schema id), as the codec calls it."""
    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    return _result(_binary.avro_transcode(payload, min(5, len(payload)), tail), tail)


def proto_count_target(data: bytes) -> bool:
    _, payload = split(data)  # (the selector byte is unused: the seeds share proto's shape)
    counted = _binary.proto_count(payload)
    if counted < -1 or counted > len(payload):
        raise Finding(f"proto_count returned {counted} for {len(payload)} bytes")
    return counted >= 0


def otlp_target(data: bytes) -> bool:
    """An ExportLogsServiceRequest; what the transcoder takes, the protobuf runtime parses, with
    as many records as lines written."""
    sel, payload = split(data)
    service, peer = OTLP_CONTEXTS[sel % len(OTLP_CONTEXTS)]
    got = _otlp.transcode(payload, service, peer, OTLP_NOW)
    if not _result(got, b"}\n"):
        return False
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    try:
        request = ExportLogsServiceRequest.FromString(payload)
    except Exception as exc:  # the runtime refuses what the transcoder took
        raise Finding(f"the transcoder took a request protobuf refuses ({exc})") from exc
    records = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    if records != got[1]:
        raise Finding(f"{records} records in the request but {got[1]} lines")
    slow = _otlp_python_path(payload, service, peer)
    if slow.errors or got[0] != (normalise(slow.entries) if slow.entries else b""):
        raise Finding(f"the transcoder and the codec's Python path disagree ({slow.errors[:1]})")
    return True


def _otlp_python_path(payload: bytes, service: bytes, peer: bytes) -> Any:
    """What the OTLP codec stores without the transcoder, at the transcoder's ``now``."""
    from workbench.shippers import otlp

    otlp.time = SimpleNamespace(time_ns=lambda: OTLP_NOW)  # type: ignore[assignment]
    codec = otlp.OtlpCodec(service.decode(), fast=False)
    return codec.decode_protobuf(payload, peer.decode())


def otlp_json_target(data: bytes) -> bool:
    """An OTLP/JSON ExportLogsServiceRequest; what the transcoder takes, msgspec decodes, with as
    many records as lines written, and the codec's Python path stores the same lines."""
    from workbench.shippers.base import Decoded
    from workbench.shippers.otlp import _get

    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    service, peer = OTLP_CONTEXTS[(sel // len(TAILS)) % len(OTLP_CONTEXTS)]
    got = _otlpjson.transcode(payload, service, peer, OTLP_NOW, tail)
    if not _result(got, tail):
        return False
    try:
        message = msgspec.json.decode(payload)
        records = sum(len(_get(sl, "logRecords", "log_records", []))
                      for rl in _get(message, "resourceLogs", "resource_logs", [])
                      for sl in _get(rl, "scopeLogs", "scope_logs", []))  # fmt: skip
    except (msgspec.DecodeError, AttributeError, TypeError) as exc:  # msgspec or the codec refuses it
        raise Finding(f"the transcoder took a body the codec cannot read ({exc!r})") from exc
    if records != got[1]:
        raise Finding(f"{records} records in the request but {got[1]} lines")
    slow = _otlp_json_python_path(payload, service, peer)
    if not isinstance(slow, Decoded):
        raise Finding(f"the transcoder took a request the codec answers with {slow.status}")
    want = normalise(slow.entries).replace(b"}\n", tail) if slow.entries else b""
    if slow.errors or got[0] != want:
        raise Finding(f"the transcoder and the codec's Python path disagree ({slow.errors[:1]})")
    return True


def _otlp_json_python_path(payload: bytes, service: bytes, peer: bytes) -> Any:
    """What the OTLP codec stores of an OTLP/JSON body without the transcoder, at its ``now``."""
    from workbench.shippers import otlp

    otlp.time = SimpleNamespace(time_ns=lambda: OTLP_NOW)  # type: ignore[assignment]
    codec = otlp.OtlpCodec(service.decode(), fast=False)
    return codec.decode_json(payload, peer.decode())


def hec_target(data: bytes) -> bool:
    """HEC event JSON; what the transcoder takes, msgspec decodes, with as many events as lines
    written, and the codec's Python path stores the same lines."""
    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    context = HEC_CONTEXTS[(sel // len(TAILS)) % len(HEC_CONTEXTS)]
    got = _hec.transcode(payload, *context, HEC_NOW, tail)
    if not _result(got, tail):
        return False
    try:
        events = msgspec.json.Decoder().decode_lines(payload)
    except msgspec.DecodeError as exc:  # msgspec refuses what the transcoder took
        raise Finding(f"the transcoder took a body msgspec refuses ({exc})") from exc
    if len(events) != got[1]:
        raise Finding(f"{len(events)} events in the body but {got[1]} lines")
    slow = _hec_python_path(payload, context)
    want = normalise(slow.entries).replace(b"}\n", tail) if slow.entries else b""
    if slow.errors or got[0] != want:
        raise Finding(f"the transcoder and the codec's Python path disagree ({slow.errors[:1]})")
    return True


def _hec_python_path(payload: bytes, context: tuple[bytes, bytes, Any, Any, Any]) -> Any:
    """What the HEC codec stores without the transcoder, at the transcoder's ``now``."""
    from workbench.shippers import hec
    from workbench.shippers.base import HttpRequest

    now = model.utc_from_micros(HEC_NOW)
    hec.model = SimpleNamespace(now_utc=lambda: now, micros_from_utc=model.micros_from_utc)  # type: ignore[assignment]
    service, host, *meta = context
    query = {k: v.decode() for k, v in zip(("source", "sourcetype", "index"), meta, strict=True) if v}
    request = HttpRequest("POST", "/services/collector/event", query, {}, payload, peer_host=host.decode())
    return hec.HecCodec(service.decode(), fast=False).decode("event", request)


def forward_target(data: bytes) -> bool:
    """A PackedForward entries stream; what the transcoder takes, msgpack unpacks into as many
    entries as lines written, and the codec's Python path stores the same lines."""
    from workbench.shippers.forward import ForwardCodec, ForwardError, parse_message

    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    tag, service, peer = FORWARD_CONTEXTS[(sel // len(TAILS)) % len(FORWARD_CONTEXTS)]
    got = _forward.transcode(payload, tag, service, peer, tail)
    if not _result(got, tail):
        return False
    try:
        message = parse_message([tag.decode(), payload], 1 << 26)
    except ForwardError as exc:  # msgpack refuses what the transcoder took
        raise Finding(f"the transcoder took a stream msgpack refuses ({exc})") from exc
    if len(message.events) != got[1]:
        raise Finding(f"{len(message.events)} entries in the stream but {got[1]} lines")
    slow = ForwardCodec(service.decode(), fast=False).events(message, peer.decode())
    want = normalise(slow.entries).replace(b"}\n", tail) if slow.entries else b""
    if slow.errors or got[0] != want:
        raise Finding(f"the transcoder and the codec's Python path disagree ({slow.errors[:1]})")
    return True


# the default service and the peer a Loki push is transcoded with, chosen by the selector after
# the tail
LOKI_CONTEXTS = ((b"raw", b"127.0.0.1"), (b"s" * 256, b""), (b"\xc3\xa9", b"[::1]"))


def loki_json_target(data: bytes) -> bool:
    """A Loki JSON push; what the transcoder takes, msgspec decodes, with as many entries as
    lines written, and the codec's Python path stores the same lines."""
    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    service, peer = LOKI_CONTEXTS[(sel // len(TAILS)) % len(LOKI_CONTEXTS)]
    got = _loki.transcode_json(payload, service, peer, tail)
    if not _result(got, tail):
        return False
    try:
        body = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:  # msgspec refuses what the transcoder took
        raise Finding(f"the transcoder took a body msgspec refuses ({exc})") from exc
    entries = sum(len(s.get("values") or []) for s in body["streams"])
    if entries != got[1]:
        raise Finding(f"{entries} entries in the push but {got[1]} lines")
    return _loki_agrees(got, payload, "application/json", service, peer, tail)


def loki_push_target(data: bytes) -> bool:
    """A Loki ``PushRequest`` (snappy undone); what the transcoder takes, the protobuf runtime
    parses, with as many entries as lines written, and the codec's Python path stores the same
    lines."""
    from workbench.shippers.loki import push_request_class

    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    service, peer = LOKI_CONTEXTS[(sel // len(TAILS)) % len(LOKI_CONTEXTS)]
    got = _loki.transcode_push(payload, service, peer, tail)
    if not _result(got, tail):
        return False
    try:
        message = push_request_class().FromString(payload)
    except Exception as exc:  # the runtime refuses what the transcoder took
        raise Finding(f"the transcoder took a push protobuf refuses ({exc})") from exc
    entries = sum(len(s.entries) for s in message.streams)
    if entries != got[1]:
        raise Finding(f"{entries} entries in the push but {got[1]} lines")
    return _loki_agrees(got, payload, "application/x-protobuf", service, peer, tail)


def _loki_agrees(
    got: Any, payload: bytes, content_type: str, service: bytes, peer: bytes, tail: bytes
) -> bool:
    """Whether the Loki codec's Python path stores what the transcoder wrote (a Finding if not).
    A protobuf payload is sent with ``Content-Encoding: gzip`` so that the codec reads it
    without snappy (as the ingestor hands it over once it has inflated the body)."""
    from workbench.shippers.base import Decoded, HttpRequest
    from workbench.shippers.loki import LokiCodec

    headers = {"content-type": content_type}
    if content_type != "application/json":
        headers["content-encoding"] = "gzip"
    request = HttpRequest("POST", "/loki/api/v1/push", {}, headers, payload, peer_host=peer.decode())
    slow = LokiCodec(service.decode(), fast=False).decode("push", request)
    if not isinstance(slow, Decoded):
        raise Finding(f"the transcoder took a push the codec answers with {slow.status}")
    want = normalise(slow.entries).replace(b"}\n", tail) if slow.entries else b""
    if slow.errors or got[0] != want:
        raise Finding(f"the transcoder and the codec's Python path disagree ({slow.errors[:1]})")
    return True


# the path's index, the default service and the peer a bulk body is transcoded with, chosen by
# the selector after the tail; the ids are made from a fixed prefix and counter
ES_CONTEXTS = ((b"logs", b"raw", b"127.0.0.1"), (None, b"s" * 256, b""), (b"\xc3\xa9", b"\xc3\xa9", b"[::1]"))
ES_NOW = 1_764_600_000_123_456
ES_ID_PREFIX = b"\x9a\x01\xfe\x00\x7f\x80\x03"
ES_FIRST_ID = (1 << 40) + 3
ES_FIRST_SEQ_NO = 7


def es_bulk_target(data: bytes) -> bool:
    """An Elasticsearch bulk body; what the transcoder takes, the codec's Python path stores as the
    same lines with no item refused, makes the same ids for, and answers with the same items."""
    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    context = ES_CONTEXTS[(sel // len(TAILS)) % len(ES_CONTEXTS)]
    index, service, peer = context
    got = _esbulk.transcode(payload, index, service, peer, ES_NOW, ES_ID_PREFIX, ES_FIRST_ID, tail)
    if got is None:
        return False
    out, count, made, heads = got
    check_lines(out, count, tail)
    items = heads.count(0)  # each item's head ends with a NUL
    if items != count:
        raise Finding(f"{count} lines but {items} answer items")
    codec, request, slow = _es_python_path(payload, context)
    if slow is None:
        raise Finding("the transcoder took a body the codec refuses whole")
    if slow.errors or any(item.error for item in slow.items):
        raise Finding(f"the transcoder took a body with a refused item ({slow.errors[:1]})")
    if out != normalise(slow.entries).replace(b"}\n", tail):
        raise Finding("the transcoder and the codec's Python path disagree")
    if codec._next_id != ES_FIRST_ID + made:
        raise Finding(f"the transcoder made {made} ids, the codec {codec._next_id - ES_FIRST_ID}")
    codec._next_seq_no = ES_FIRST_SEQ_NO
    answer = msgspec.json.decode(codec.reply("bulk", request, slow).body)["items"]
    if msgspec.json.encode(answer) != b"[" + _esbulk.bulk_items(heads, ES_FIRST_SEQ_NO) + b"]":
        raise Finding("the transcoder's answer items and the codec's disagree")
    return True


def _es_python_path(payload: bytes, context: tuple[Any, bytes, bytes]) -> tuple[Any, Any, Any]:
    """The codec (its id counter at the transcoder's), the request, and what the codec decodes
    without the transcoder at the transcoder's ``now`` (None for a body it refuses whole)."""
    from workbench.shippers import elasticsearch as es
    from workbench.shippers.base import HttpRequest

    now = model.utc_from_micros(ES_NOW)
    es.model = SimpleNamespace(now_utc=lambda: now, micros_from_utc=model.micros_from_utc,  # type: ignore[assignment]
                               utc_from_micros=model.utc_from_micros)  # fmt: skip
    index, service, peer = context
    codec = es.ElasticsearchCodec(service.decode(), fast=False)
    codec._id_prefix, codec._next_id = ES_ID_PREFIX, ES_FIRST_ID
    params = {"index": index.decode()} if index else {}
    request = HttpRequest("POST", "/_bulk", {}, {}, payload, params=params, peer_host=peer.decode())
    decoded = codec.decode("bulk", request)
    return codec, request, decoded if isinstance(decoded, es.BulkDecoded) else None


# the default service and the peer (the sender's address) GELF messages are transcoded with,
# chosen by the selector after the tail
GELF_CONTEXTS = ((b"raw", b"127.0.0.1"), (b"s" * 256, b""), (b"\xc3\xa9", b"::1"))
GELF_NOW = 1_764_600_000_123_456


def gelf_target(data: bytes) -> bool:
    """GELF messages, NUL-separated as on TCP; what the transcoder takes, msgspec decodes each of
    into one object, with as many messages as lines written, and the codec's Python path stores
    the same lines."""
    sel, payload = split(data)
    tail = TAILS[sel % len(TAILS)]
    service, peer = GELF_CONTEXTS[(sel // len(TAILS)) % len(GELF_CONTEXTS)]
    raws = payload.split(b"\0")
    if raws[-1] == b"":
        raws.pop()  # what follows the last NUL
    got = _gelf.transcode(raws, service, peer, GELF_NOW, tail)
    if not _result(got, tail):
        return False
    if got[1] != len(raws):
        raise Finding(f"{len(raws)} messages but {got[1]} lines")
    for raw in raws:
        try:
            obj = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:  # msgspec refuses what the transcoder took
            raise Finding(f"the transcoder took a message msgspec refuses ({exc})") from exc
        if not isinstance(obj, dict):
            raise Finding(f"the transcoder took a message that is not an object: {raw[:80]!r}")
    slow = _gelf_python_path(raws, service, peer)
    want = normalise(slow.entries).replace(b"}\n", tail) if slow.entries else b""
    if slow.errors or got[0] != want:
        raise Finding(f"the transcoder and the codec's Python path disagree ({slow.errors[:1]})")
    return True


def _gelf_python_path(raws: list[bytes], service: bytes, peer: bytes) -> Any:
    """What the GELF codec stores without the transcoder, at the transcoder's ``now``."""
    from workbench.shippers import gelf

    now = model.utc_from_micros(GELF_NOW)
    gelf.model = SimpleNamespace(now_utc=lambda: now, micros_from_utc=model.micros_from_utc)  # type: ignore[assignment]
    return gelf.GelfCodec(service.decode(), fast=False).messages(raws, peer.decode())


# each checks its entry point's answer and says whether it took the input (the systematic pass counts)
TARGETS: dict[str, Callable[[bytes], bool]] = {
    "json": json_target,
    "raw": raw_target,
    "syslog_lines": syslog_lines_target,
    "syslog_octet": syslog_octet_target,
    "proto": proto_target,
    "avro": avro_target,
    "proto_count": proto_count_target,
    "otlp": otlp_target,
    "otlp_json": otlp_json_target,
    "hec": hec_target,
    "forward": forward_target,
    "loki_json": loki_json_target,
    "loki_push": loki_push_target,
    "es_bulk": es_bulk_target,
    "gelf": gelf_target,
}


def seeds(target: str) -> list[bytes]:
    """The committed seed corpus of a target (``tests/fuzz/seeds.py`` writes it)."""
    folder = CORPUS / target
    return [p.read_bytes() for p in sorted(folder.iterdir())] if folder.is_dir() else []
