"""Elasticsearch's bulk API, enough of it for log shippers and the official clients: ``/_bulk`` and
``/{index}/_bulk`` (POST or PUT), ``GET /`` (and HEAD) answered as a one-node cluster of version
``VERSION``, ``GET /_cluster/health``; every answer carries ``X-Elastic-Product: Elasticsearch``,
which the official clients check.

A body is NDJSON: an action line, then (but for ``delete``) a source line. ``index`` and
``create`` store the source as an entry; ``update`` and ``delete`` are answered per item with a
400 ``illegal_argument_exception`` and counted as rejections (a log store adds documents only).
A source is flattened (nested objects to dotted keys): ``@timestamp``/``timestamp`` (ISO 8601
or epoch millis; absent: now), ``message``, ``log.level``/``level``, ``service.name``/``service``,
``host.name``/``host`` fill the entry, the rest (with ``_index`` and ``_id``) are attributes.

As Elasticsearch does, a source that fails is a 400 item (``document_parsing_exception``) while
the others are stored, and an action line that does not parse fails the whole request (400).
Documents are never versioned: each is ``created``, version 1; ``_seq_no`` counts per worker.

A body in the plain case (``workbench/speedups/_esbulk.pyx``'s docstring says which) is written
straight into the stored lines by a compiled transcoder, which also writes the answer's items; it
makes the ids this codec makes, from the same counter, so both paths store and answer the same.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import socket
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from workbench import model
from workbench.codecs.base import ENCODING, INVALID, MALFORMED, STORE_DIRECT
from workbench.codecs.timeparse import parse_iso
from workbench.errors import CodecError
from workbench.shippers.base import Decoded, HttpReply, HttpRequest, RecordError, Route, ShipperCodec
from workbench.shippers.mapping import finish, pop_level, pop_text, short, validated

# The version GET / reports. The official Python clients 8 and 9 check only the product header;
# Beats and Logstash compare the number with their own, so the last 8.x minor suits them all.
VERSION = "8.19.0"
LUCENE_VERSION = "9.12.2"
CLUSTER_NAME = "workbench"
PRODUCT = ("X-Elastic-Product", "Elasticsearch")
OPS = ("index", "create", "update", "delete")
TIMESTAMP_KEYS = ("@timestamp", "timestamp")
MESSAGE_KEYS = ("message", "msg", "log")
LEVEL_KEYS = ("log.level", "level")
SERVICE_KEYS = ("service.name", "service")
HOST_KEYS = ("host.name", "host.hostname", "host")
_COMPAT = re.compile(r"compatible-with=(\d+)")
_json = msgspec.json.Decoder()

try:  # the compiled transcoder of the plain case (workbench/speedups/_esbulk.pyx)
    from workbench.speedups._esbulk import bulk_items as _bulk_items
    from workbench.speedups._esbulk import transcode as _transcode
except ImportError:  # not compiled: every document is mapped in Python
    _transcode = _bulk_items = None


@dataclass(slots=True)
class BulkItem:
    op: str
    index: str
    id: str
    error: tuple[str, str] | None = None  # (type, reason): a 400 item


@dataclass(slots=True)
class BulkDecoded(Decoded):
    """The request's entries and, for the answer, every action in order."""

    items: list[BulkItem] = field(default_factory=list)
    started: float = 0.0  # perf_counter when decoding began: the answer's ``took``
    # when the transcoder wrote the request (``lines`` documents, every one stored): the answer's
    # items up to their ``_seq_no``, for ``_esbulk.bulk_items``; ``items`` is then empty
    heads: bytes | None = None


class RequestError(CodecError):
    """A bulk body Elasticsearch refuses whole (400): its exception type and reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class ElasticsearchCodec(ShipperCodec):
    name = "elasticsearch"
    auth_scheme = "ApiKey"  # the clients' ``api_key=`` (Bearer is taken too)
    routes = (
        Route("GET", "/", "info"),
        Route("GET", "/_cluster/health", "health"),
        Route("POST", "/_bulk", "bulk"),
        Route("PUT", "/_bulk", "bulk"),
        Route("POST", "/{index}/_bulk", "bulk"),
        Route("PUT", "/{index}/_bulk", "bulk"),
    )

    def __init__(self, default_service: str = "raw", worker_id: int = 0, fast: bool = True) -> None:
        super().__init__(default_service, worker_id)
        self._next_seq_no = 0
        self._id_prefix = os.urandom(6) + bytes([worker_id % 256])  # ids stay unique across workers
        self._next_id = 0  # the number in the next id ``_new_id`` (or the transcoder) makes
        # bulk bodies go to the compiled transcoder first while the loaded schema is the one its
        # checks enforce (``STORE_DIRECT``); it declines anything outside the plain case
        self.fast = fast and STORE_DIRECT and _transcode is not None
        self._service = default_service.encode("utf-8", "surrogatepass")
        self.node_name = socket.gethostname()
        self.cluster_uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{CLUSTER_NAME}.{self.node_name}"))

    # --- the protocol ---------------------------------------------------------------------

    def decode(self, action: str, request: HttpRequest) -> Decoded | HttpReply:
        if action == "info":
            return self._json(request, 200, self.info())
        if action == "health":
            return self._json(request, 200, self.health())
        try:
            return self._bulk(request)
        except RequestError as exc:
            return self._json(request, 400, error_body(400, exc.kind, exc.reason))

    def reply(self, action: str, request: HttpRequest, decoded: Decoded) -> HttpReply:
        bulk = decoded if isinstance(decoded, BulkDecoded) else BulkDecoded(started=time.perf_counter())
        if bulk.heads is not None:
            return self._transcoded_reply(request, bulk)
        items: list[dict[str, Any]] = []
        for item in bulk.items:
            if item.error is None:
                result: dict[str, Any] = {
                    "_index": item.index, "_id": item.id, "_version": 1, "result": "created",
                    "_shards": {"total": 1, "successful": 1, "failed": 0},
                    "_seq_no": self._next_seq_no, "_primary_term": 1, "status": 201,
                }  # fmt: skip
                self._next_seq_no += 1
            else:
                kind, reason = item.error
                result = {"_index": item.index, "_id": item.id, "status": 400,
                          "error": {"type": kind, "reason": reason}}  # fmt: skip
            items.append({item.op: result})
        took = round((time.perf_counter() - bulk.started) * 1000)
        return self._json(
            request, 200, {"errors": any(item.error for item in bulk.items), "took": took, "items": items}
        )

    def unauthorized(self, request: HttpRequest) -> HttpReply:
        reason = f"missing authentication credentials for REST request [{request.path}]"
        if request.headers.get("authorization"):
            reason = f"unable to authenticate with provided credentials for REST request [{request.path}]"
        reply = self._json(request, 401, error_body(401, "security_exception", reason))
        reply.headers += (("WWW-Authenticate", "ApiKey"), ("WWW-Authenticate", 'Bearer realm="security"'))
        return reply

    def too_large(self, request: HttpRequest, detail: str) -> HttpReply:
        return self._json(request, 413, error_body(413, "content_too_long_exception", detail))

    def busy(self, request: HttpRequest) -> HttpReply:
        """The answer when the ingestor cannot take the request now: 429, which the clients'
        bulk helpers retry."""
        reason = "rejected execution: the ingestor is over its queue bound"
        return self._json(request, 429, error_body(429, "es_rejected_execution_exception", reason))

    def info(self) -> dict[str, Any]:
        return {
            "name": self.node_name,
            "cluster_name": CLUSTER_NAME,
            "cluster_uuid": self.cluster_uuid,
            "version": {
                "number": VERSION, "build_flavor": "default", "build_type": "tar", "build_snapshot": False,
                "lucene_version": LUCENE_VERSION, "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "You Know, for Search",
        }  # fmt: skip

    def health(self) -> dict[str, Any]:
        return {
            "cluster_name": CLUSTER_NAME, "status": "green", "timed_out": False, "number_of_nodes": 1,
            "number_of_data_nodes": 1, "active_primary_shards": 0, "active_shards": 0, "relocating_shards": 0,
            "initializing_shards": 0, "unassigned_shards": 0, "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0,
        }  # fmt: skip

    def _transcoded_reply(self, request: HttpRequest, bulk: BulkDecoded) -> HttpReply:
        """``reply`` for a request the transcoder wrote: the same answer, its items written in C."""
        items = _bulk_items(bulk.heads, self._next_seq_no)  # type: ignore[misc]
        self._next_seq_no += bulk.lines
        took = round((time.perf_counter() - bulk.started) * 1000)
        body = b'{"errors":false,"took":%d,"items":[%b]}' % (took, items)
        if request.query.get("filter_path"):  # (Beats ask for one) the dict path filters the answer
            return self._json(request, 200, msgspec.json.decode(body))
        return self._encoded(request, 200, body)

    def _json(self, request: HttpRequest, status: int, body: dict[str, Any]) -> HttpReply:
        """An answer in the media type the client accepts, ``filter_path`` applied."""
        paths = request.query.get("filter_path")
        if paths:
            body = filter_path(body, paths)
        return self._encoded(request, status, msgspec.json.encode(body))

    def _encoded(self, request: HttpRequest, status: int, body: bytes) -> HttpReply:
        """An answer already encoded, in the media type the client accepts."""
        accept = request.headers.get("accept", "")
        content_type = "application/json"
        if "vnd.elasticsearch+json" in accept:
            m = _COMPAT.search(accept)
            content_type = "application/vnd.elasticsearch+json" + (
                f";compatible-with={m.group(1)}" if m else ""
            )
        return HttpReply(status, body, content_type, (PRODUCT,))

    # --- bulk -----------------------------------------------------------------------------

    def _bulk(self, request: HttpRequest) -> BulkDecoded:
        started = time.perf_counter()
        # the transcoder writes the stored lines when the caller asks for them (the HTTP listener
        # gives their end, with the batch's fields); a caller without one gets the entries
        if self.fast and request.stored_end != b"}\n":
            fast = self._transcoded(request)
            if fast is not None:
                fast.started = started
                return fast
        lines = [(n, line) for n, line in enumerate(request.body.split(b"\n"), 1) if line.strip()]
        if not lines:
            raise RequestError(
                "action_request_validation_exception", "Validation Failed: 1: no requests added;"
            )
        values = _values([line for _, line in lines])
        out = BulkDecoded(started=started)
        records: list[dict[str, Any]] = []
        positions: list[int] = []  # each record's item
        record_lines: list[bytes] = []
        errors: list[RecordError] = []
        now = model.now_utc()
        default_index = request.params.get("index")
        i = 0
        while i < len(lines):
            lineno, line = lines[i]
            op, meta = _action(lineno, values[i])
            index = meta.get("_index") or default_index
            if not isinstance(index, str) or not index:
                raise RequestError(
                    "action_request_validation_exception", "Validation Failed: 1: index is missing;"
                )
            given = meta.get("_id")
            doc_id = str(given) if given is not None else self._new_id()
            position = len(out.items)
            item = BulkItem(op, index, doc_id)
            out.items.append(item)
            if op == "delete":
                i += 1
                item.error = ("illegal_argument_exception", f"[delete] is not supported: this receiver stores "
                              f"log documents and never deletes them (line [{lineno}])")  # fmt: skip
                errors.append(RecordError(position, INVALID, item.error[1], short(line)))
                continue
            if i + 1 >= len(lines):
                raise RequestError(
                    "illegal_argument_exception", f"the [{op}] action at line [{lineno}] has no source line"
                )
            source_lineno, source_line = lines[i + 1]
            source = values[i + 1]
            i += 2
            if op == "update":
                item.error = ("illegal_argument_exception", f"[update] is not supported: this receiver stores "
                              f"log documents and never changes them (line [{lineno}])")  # fmt: skip
                errors.append(RecordError(position, INVALID, item.error[1], short(source_line)))
                continue
            if isinstance(source, _Unparsed) or not isinstance(source, dict):
                reason = source.reason if isinstance(source, _Unparsed) else "the source is not a JSON object"
                item.error = ("document_parsing_exception", f"[{source_lineno}:1] failed to parse: {reason}")
                kind = ENCODING if isinstance(source, _Unparsed) and source.encoding else MALFORMED
                errors.append(RecordError(position, kind, item.error[1], short(source_line)))
                continue
            record = self._document(source, index, doc_id, now, request.peer_host)
            if isinstance(record, str):
                item.error = ("document_parsing_exception", f"[{source_lineno}:1] {record}")
                errors.append(RecordError(position, INVALID, item.error[1], short(source_line)))
                continue
            records.append(record)
            positions.append(position)
            record_lines.append(source_line)
        decoded = validated(records, positions, lambda k: short(record_lines[k]), errors)
        for err in decoded.errors:
            bad = out.items[err.index]
            if bad.error is None:
                bad.error = (
                    "document_parsing_exception",
                    f"failed to store document with id '{bad.id}': {err.detail}",
                )
        out.entries, out.errors = decoded.entries, decoded.errors
        return out

    def _document(
        self, source: dict[str, Any], index: str, doc_id: str, now: Any, peer_host: str
    ) -> dict[str, Any] | str:
        """A source document as a record, or why its timestamp cannot be read."""
        flat: dict[str, Any] = {}
        _flatten(source, "", flat)
        ts = now
        for key in TIMESTAMP_KEYS:
            if key in flat:
                value = flat.pop(key)
                ts = _timestamp(value)
                if ts is None:
                    return (f"failed to parse field [{key}] of type [date] in document with id '{doc_id}'. "
                            f"Preview of field's value: '{value}'")  # fmt: skip
                break
        message: Any = ""
        for key in MESSAGE_KEYS:
            if key in flat:
                message = flat.pop(key)
                break
        record: dict[str, Any] = {
            "timestamp": ts,
            "level": pop_level(flat, LEVEL_KEYS),
            "service": pop_text(flat, SERVICE_KEYS) or self.default_service,
            "message": message if isinstance(message, str) else msgspec.json.encode(message).decode(),
            "host": pop_text(flat, HOST_KEYS) or peer_host,
        }
        flat["_index"] = index
        flat["_id"] = doc_id
        return finish(record, flat)

    def _transcoded(self, request: HttpRequest) -> BulkDecoded | None:
        """The stored lines of a plain body (``_esbulk.pyx``'s docstring says which), or None."""
        index = request.params.get("index")
        try:
            default_index = index.encode() if index else None
            peer = request.peer_host.encode()
        except UnicodeEncodeError:
            return None
        now = model.micros_from_utc(model.now_utc())
        got: tuple[bytes, int, int, bytes] | None = _transcode(  # type: ignore[misc]
            request.body,
            default_index,
            self._service,
            peer,
            now,
            self._id_prefix,
            self._next_id,
            request.stored_end,
        )
        if got is None:
            return None
        jsonl, count, made, heads = got
        self._next_id += made
        return BulkDecoded(jsonl=jsonl, lines=count, end=request.stored_end, heads=heads)

    def _new_id(self) -> str:
        """A 20-character id as Elasticsearch makes them (URL-safe base64 of 15 bytes)."""
        raw = self._id_prefix + struct.pack(">Q", self._next_id)
        self._next_id += 1
        return base64.urlsafe_b64encode(raw).decode()


# --- the body's lines ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Unparsed:
    """A line that is not JSON (or not UTF-8), with what the parser said."""

    reason: str
    encoding: bool = False


def _values(lines: list[bytes]) -> list[Any]:
    """Each line's JSON value: one C call for them all, line by line only when one fails."""
    try:
        values = _json.decode_lines(b"\n".join(lines))
        if len(values) == len(lines):
            return values
    except msgspec.DecodeError:
        pass
    out: list[Any] = []
    for line in lines:
        try:
            out.append(_json.decode(line))
        except msgspec.DecodeError as exc:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                out.append(_Unparsed("Invalid UTF-8 start byte", encoding=True))
                continue
            out.append(_Unparsed(str(exc)))
    return out


def _action(lineno: int, value: Any) -> tuple[str, dict[str, Any]]:
    """An action line's operation and metadata, or the ``RequestError`` Elasticsearch answers."""
    if isinstance(value, _Unparsed):
        raise RequestError("x_content_parse_exception", f"[{lineno}:1] {value.reason}")
    if not isinstance(value, dict) or len(value) != 1:
        found = (
            "START_ARRAY" if isinstance(value, list) else "VALUE" if not isinstance(value, dict) else "FIELDS"
        )
        raise RequestError("illegal_argument_exception",
                           f"Malformed action/metadata line [{lineno}], expected START_OBJECT with one field "
                           f"but found [{found}]")  # fmt: skip
    op, meta = next(iter(value.items()))
    if op not in OPS:
        raise RequestError("illegal_argument_exception",
                           f"Malformed action/metadata line [{lineno}], expected field [create], [delete], "
                           f"[index] or [update] but found [{op}]")  # fmt: skip
    if not isinstance(meta, dict):
        raise RequestError("illegal_argument_exception",
                           f"Malformed action/metadata line [{lineno}], expected START_OBJECT but found [VALUE]")  # fmt: skip
    return op, meta


def _flatten(doc: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            _flatten(value, f"{prefix}{key}.", out)
        else:
            out[f"{prefix}{key}"] = value


def _timestamp(value: Any) -> Any:
    """``strict_date_optional_time||epoch_millis``, Elasticsearch's default date format."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if value.isdigit() and value.isascii():
            value = int(value)
        else:
            return parse_iso(value)
    if isinstance(value, (int, float)):
        try:
            return model.utc_from_micros(round(value * 1000))
        except (ValueError, OverflowError):
            return None
    return None


def error_body(status: int, kind: str, reason: str) -> dict[str, Any]:
    """Elasticsearch's shape of an error answer."""
    cause = {"type": kind, "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


_DROP = object()


def filter_path(body: dict[str, Any], paths: str) -> dict[str, Any]:
    """The ``filter_path`` query parameter: only the dotted paths named (``*`` and other shell
    wildcards within a name; arrays are passed through), as Elasticsearch filters an answer."""
    kept = _keep(body, [p.split(".") for p in paths.split(",") if p and not p.startswith("-")])
    return kept if isinstance(kept, dict) else {}


def _keep(value: Any, patterns: list[list[str]]) -> Any:
    if any(not p for p in patterns):
        return value
    if isinstance(value, list):
        items = [kept for kept in (_keep(v, patterns) for v in value) if kept is not _DROP]
        return items or _DROP
    if not isinstance(value, dict):
        return _DROP
    out = {}
    for key, sub in value.items():
        rest = [p[1:] for p in patterns if fnmatch.fnmatchcase(key, p[0])]
        if rest:
            kept = _keep(sub, rest)
            if kept is not _DROP:
                out[key] = kept
    return out or _DROP
