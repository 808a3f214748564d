"""Splunk HTTP Event Collector: ``/services/collector/event`` (also ``/services/collector`` and
``/event/1.0``), ``/raw``, ``/health`` and ``/ack``, answered with HEC's ``{"text","code"}`` bodies.

An event body is JSON event objects one after another (whitespace between them or none). The
``event`` (a string, or an object whose ``message``/``msg``/``log``/``line`` string is the
message, its other keys attributes; an object without one is the message as JSON; a ``line``
that is itself an object, as Docker's splunk driver sends with ``splunk-format=json``, has its
keys read as the event's), ``time``
(epoch seconds; absent: now), ``host``, and ``fields`` (attributes; ``level``/``severity``,
``service`` and ``seq``/``client_id`` fill the entry) map onto the entry; ``source``,
``sourcetype`` and ``index`` are attributes. A raw body is lines, each an entry, with its
metadata from the query. ``docs/protocol.md`` has the table.

Like Splunk, a request is read up to its first bad event: the events before it are stored, it and
the rest are not, and the answer is a 400 naming it (``invalid-event-number``, 0-based). Each
event not stored is a rejection, so a sender's count and ours agree.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from workbench import model
from workbench.codecs.base import ENCODING, INVALID, MALFORMED, STORE_DIRECT, split_lines
from workbench.shippers.base import (
    Decoded,
    HttpReply,
    HttpRequest,
    RecordError,
    Route,
    ShipperCodec,
    timestamp_from_seconds,
)
from workbench.shippers.mapping import finish, json_raw, pop_level, pop_text, short, validated

# HEC's status codes (Splunk's "Troubleshoot HTTP Event Collector" table) and their HTTP status
SUCCESS, TOKEN_REQUIRED, INVALID_AUTHORIZATION, INVALID_TOKEN, NO_DATA, INVALID_DATA_FORMAT = 0, 2, 3, 4, 5, 6
SERVER_BUSY, CHANNEL_MISSING, INVALID_CHANNEL, EVENT_REQUIRED, EVENT_BLANK = 9, 10, 11, 12, 13
INDEXED_FIELDS_ERROR, HEALTHY = 15, 17
TEXT = {
    SUCCESS: "Success", TOKEN_REQUIRED: "Token is required", INVALID_AUTHORIZATION: "Invalid authorization",
    INVALID_TOKEN: "Invalid token", NO_DATA: "No data", INVALID_DATA_FORMAT: "Invalid data format",
    SERVER_BUSY: "Server is busy", CHANNEL_MISSING: "Data channel is missing",
    INVALID_CHANNEL: "Invalid data channel", EVENT_REQUIRED: "Event field is required",
    EVENT_BLANK: "Event field cannot be blank", INDEXED_FIELDS_ERROR: "Error in handling indexed fields",
    HEALTHY: "HEC is healthy",
}  # fmt: skip
# every other code is a 400
HTTP_STATUS = {SUCCESS: 200, TOKEN_REQUIRED: 401, INVALID_AUTHORIZATION: 401, INVALID_TOKEN: 403,
               SERVER_BUSY: 503, HEALTHY: 200}  # fmt: skip

MESSAGE_KEYS = ("message", "msg", "log", "line")
LEVEL_KEYS = ("level", "severity")
SERVICE_KEYS = ("service", "service.name")
METADATA = ("source", "sourcetype", "index")
CHANNEL_HEADER = "x-splunk-request-channel"
_WORKER_SLOTS = 256  # ackIds of different workers differ in their value modulo this
_ACK_EPOCH_MS = 1_577_836_800_000  # 2020-01-01: keeps ackIds below 2**53 (JavaScript clients) for centuries

Refusal = tuple[int, str, str]  # why HEC refuses an event: its HEC code, our reason, a detail

_lines = msgspec.json.Decoder()
_scanner = json.JSONDecoder()

try:  # the compiled transcoder of the plain case (workbench/speedups/_hec.pyx)
    from workbench.speedups._hec import transcode as _transcode
except ImportError:  # not compiled: every event is mapped in Python
    _transcode = None


@dataclass(slots=True)
class HecDecoded(Decoded):
    """The request's entries, and what its answer says: the HEC code of its first bad event."""

    code: int = SUCCESS


def answer(code: int, **extra: Any) -> HttpReply:
    body = {"text": TEXT[code], "code": code, **extra}
    return HttpReply(HTTP_STATUS.get(code, 400), msgspec.json.encode(body))


class HecCodec(ShipperCodec):
    name = "hec"
    auth_scheme = "Splunk"
    routes = (
        Route("POST", "/services/collector/event", "event"),
        Route("POST", "/services/collector", "event"),
        Route("POST", "/services/collector/event/1.0", "event"),
        Route("POST", "/services/collector/raw", "raw"),
        Route("POST", "/services/collector/raw/1.0", "raw"),
        Route("GET", "/services/collector/health", "health"),
        Route("GET", "/services/collector/health/1.0", "health"),
        Route("POST", "/services/collector/ack", "ack"),
    )

    def __init__(self, default_service: str = "raw", worker_id: int = 0, fast: bool = True) -> None:
        super().__init__(default_service, worker_id)
        self._last_ack = -1
        # event bodies go to the compiled transcoder first while the loaded schema is the one its
        # checks enforce (``STORE_DIRECT``); it declines anything outside the plain case
        self.fast = fast and STORE_DIRECT and _transcode is not None
        self._service = default_service.encode("utf-8", "surrogatepass")

    # --- the protocol ---------------------------------------------------------------------

    def decode(self, action: str, request: HttpRequest) -> Decoded | HttpReply:
        if action == "health":
            return answer(HEALTHY)
        channel = request.headers.get(CHANNEL_HEADER) or request.query.get("channel")
        if channel is not None and not _is_guid(channel):
            return answer(INVALID_CHANNEL)
        if action == "ack":
            return self._acks(request, channel)
        if action == "raw" and channel is None:
            return answer(CHANNEL_MISSING)
        if not request.body.strip():
            return answer(NO_DATA)
        if action == "raw":
            return self._raw(request)
        return self._events(request)

    def reply(self, action: str, request: HttpRequest, decoded: Decoded) -> HttpReply:
        if decoded.errors:
            code = decoded.code if isinstance(decoded, HecDecoded) else INVALID_DATA_FORMAT
            return answer(code, **{"invalid-event-number": decoded.errors[0].index})
        channel = request.headers.get(CHANNEL_HEADER) or request.query.get("channel")
        if channel is None:
            return answer(SUCCESS)
        # The ingestor calls ``reply`` only once the request's entries are written, so every
        # ackId handed out is already durable: ``/ack`` can answer true for it at once.
        return answer(SUCCESS, ackId=self._next_ack_id())

    def _next_ack_id(self) -> int:
        """The clock in ms, or one more than the last id when that is later; the worker id in the
        low bits keeps workers apart. A restarted worker starts from the clock, past its
        predecessor's ids unless that one had run ahead of it (over a thousand requests a
        second for the whole of its life)."""
        self._last_ack = max(self._last_ack + 1, _now_ms() - _ACK_EPOCH_MS)
        return self._last_ack * _WORKER_SLOTS + self.worker_id % _WORKER_SLOTS

    def unauthorized(self, request: HttpRequest) -> HttpReply:
        given = request.headers.get("authorization")
        if not given:
            return answer(TOKEN_REQUIRED)
        scheme, _, token = given.partition(" ")
        if scheme.lower() not in ("splunk", "bearer") or not token.strip():
            return answer(INVALID_AUTHORIZATION)
        return answer(INVALID_TOKEN)

    def too_large(self, request: HttpRequest, detail: str) -> HttpReply:
        return HttpReply(
            413, msgspec.json.encode({"text": f"Content too large: {detail}", "code": INVALID_DATA_FORMAT})
        )

    def open_route(self, action: str) -> bool:
        return action == "health"  # Splunk answers its health check without a token

    def busy(self, request: HttpRequest) -> HttpReply:
        """The answer when the ingestor cannot take the request now (HEC's 503, code 9)."""
        reply = answer(SERVER_BUSY)
        reply.headers = (("retry-after", "1"),)
        return reply

    def _acks(self, request: HttpRequest, channel: str | None) -> HttpReply:
        if channel is None:
            return answer(CHANNEL_MISSING)
        try:
            ids = _lines.decode(request.body)["acks"]
        except (msgspec.DecodeError, KeyError, TypeError):
            return answer(INVALID_DATA_FORMAT)
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            return answer(INVALID_DATA_FORMAT)
        # An ackId exists only once its entries were written (see ``reply``), and any worker may
        # get the query: every id is answered true without a table of them.
        return HttpReply(200, msgspec.json.encode({"acks": {str(i): True for i in ids}}))

    # --- events ---------------------------------------------------------------------------

    def _events(self, request: HttpRequest) -> HecDecoded:
        # the transcoder writes the stored lines when the caller asks for them (the HTTP listener
        # gives their end, with the batch's fields); a caller without one gets the entries
        if self.fast and request.stored_end != b"}\n":
            got = self._transcoded(request)
            if got is not None:  # every event stored: the answer (and its ackId) is the request's
                return HecDecoded(jsonl=got[0], lines=got[1], end=request.stored_end)
        events, spans, broken = _parse(request.body)
        body = request.body
        raw = (lambda i: short(body[spans[i][0] : spans[i][1]])) if spans else (lambda i: json_raw(events[i]))
        defaults = self._defaults(request)
        now = model.now_utc()
        records: list[dict[str, Any]] = []
        stop: tuple[int, RecordError] | None = None
        for i, event in enumerate(events):
            if isinstance(event, _NotUtf8):
                stop = (INVALID_DATA_FORMAT, RecordError(i, ENCODING, "the event is not UTF-8", raw(i)))
                break
            record = self._event(event, defaults, now) if isinstance(event, dict) else (
                INVALID_DATA_FORMAT, MALFORMED, "the event is not a JSON object")  # fmt: skip
            if isinstance(record, tuple):
                code, reason, detail = record
                stop = (code, RecordError(i, reason, detail, raw(i)))
                break
            records.append(record)
        return _stopped(records, raw, stop, len(events), broken)

    def _event(self, event: dict[str, Any], defaults: dict[str, str], now: Any) -> dict[str, Any] | Refusal:
        """One event object as a record, or why HEC refuses it."""
        if "event" not in event:
            return EVENT_REQUIRED, INVALID, "the event has no 'event' field"
        body = event["event"]
        if body is None or (isinstance(body, str) and not body.strip()):
            return EVENT_BLANK, INVALID, "the 'event' field is blank"
        fields = event.get("fields")
        if fields is not None and not isinstance(fields, dict):
            return INDEXED_FIELDS_ERROR, INVALID, "'fields' is not a JSON object"
        ts = now
        if event.get("time") is not None:
            ts = timestamp_from_seconds(event["time"])
            if ts is None:
                return INVALID_DATA_FORMAT, INVALID, f"'time' {event['time']!r} is not epoch seconds"
        pairs: dict[str, Any] = {}
        if isinstance(body, str):
            message = body
        elif isinstance(body, dict):
            pairs = dict(body)
            line = pairs.get("line")
            if isinstance(line, dict):  # Docker's splunk driver, splunk-format=json: the parsed line
                del pairs["line"]
                pairs.update(line)
            found = pop_text(pairs, MESSAGE_KEYS)
            if found is None:  # no message in it: the whole object is the message
                message, pairs = msgspec.json.encode(body).decode(), {}
            else:
                message = found
        else:
            message = msgspec.json.encode(body).decode()
        if fields:
            pairs.update(fields)
        host = event.get("host")
        record: dict[str, Any] = {
            "timestamp": ts,
            "level": pop_level(pairs, LEVEL_KEYS),
            "service": pop_text(pairs, SERVICE_KEYS) or self.default_service,
            "message": message,
            "host": host if isinstance(host, str) and host else defaults["host"],
        }
        for key in METADATA:
            value = event.get(key, defaults.get(key))
            if value is not None:
                pairs[key] = value
        return finish(record, pairs)

    def _transcoded(self, request: HttpRequest) -> tuple[bytes, int] | None:
        """The stored lines of a plain body (``_hec.pyx``'s docstring says which), or None."""
        defaults = self._defaults(request)
        try:
            host = defaults["host"].encode()
            source, sourcetype, index = (defaults[k].encode() if k in defaults else None for k in METADATA)
        except UnicodeEncodeError:
            return None
        now = model.micros_from_utc(model.now_utc())
        got: tuple[bytes, int] | None = _transcode(  # type: ignore[misc]
            request.body, self._service, host, source, sourcetype, index, now, request.stored_end
        )
        return got

    # --- raw ------------------------------------------------------------------------------

    def _raw(self, request: HttpRequest) -> HecDecoded:
        lines = split_lines(request.body)
        raw = lambda i: short(lines[i])  # noqa: E731
        defaults = self._defaults(request)
        ts = model.now_utc()
        if "time" in request.query:
            given = timestamp_from_seconds(request.query["time"])
            if given is None:
                error = RecordError(
                    0, INVALID, f"time={request.query['time']!r} is not epoch seconds", raw(0)
                )
                return _stopped([], raw, (INVALID_DATA_FORMAT, error), len(lines))
            ts = given
        attributes = {k: defaults[k] for k in METADATA if k in defaults}
        records: list[dict[str, Any]] = []
        stop = None
        for i, line in enumerate(lines):
            try:
                message = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                stop = (
                    INVALID_DATA_FORMAT,
                    RecordError(i, ENCODING, f"the line is not UTF-8: {exc}", raw(i)),
                )
                break
            record = {"timestamp": ts, "level": "INFO", "service": self.default_service, "message": message,
                      "host": defaults["host"]}  # fmt: skip
            if attributes:
                record["attributes"] = dict(attributes)
            records.append(record)
        return _stopped(records, raw, stop, len(lines))

    def _defaults(self, request: HttpRequest) -> dict[str, str]:
        """The request's metadata for events that lack their own: the query's, the peer as host."""
        out = {k: request.query[k] for k in ("host", *METADATA) if request.query.get(k)}
        out.setdefault("host", request.peer_host)
        return out


def _stopped(
    records: list[dict[str, Any]],
    raw: Callable[[int], bytes],
    stop: tuple[int, RecordError] | None,
    count: int,
    broken: RecordError | None = None,
) -> HecDecoded:
    """Validate, then keep only what precedes the first bad event (HEC's rule). Every event from
    it on is a rejection: a bad one with its own reason, the others as not stored.

    ``records`` are the events before ``stop`` (the HEC code and error of the event HEC refuses),
    ``count`` how many events were read, ``broken`` the error where the body stops being JSON
    (what follows it cannot be counted)."""
    decoded = validated(records, range(len(records)), raw, [])
    if stop is None and broken is not None:
        broken.detail += "; the rest of the body was not read"
        stop, broken = (INVALID_DATA_FORMAT, broken), None
    own = {err.index: err for err in decoded.errors}
    if stop is not None:
        own[stop[1].index] = stop[1]
    if not own:
        return HecDecoded(decoded.entries)
    first = min(own)
    code = stop[0] if stop is not None and stop[1].index == first else INVALID_DATA_FORMAT
    why = f"not stored: HEC stops at the first bad event ({first})"
    errors = [own.get(i) or RecordError(i, INVALID, why, raw(i)) for i in range(first, count)]
    if stop is not None and stop[1].index >= count:
        errors.append(stop[1])
    if broken is not None:
        broken.detail = f"{why}; {broken.detail}; the rest of the body was not read"
        errors.append(broken)
    return HecDecoded(decoded.entries[:first], errors, code=code)


def _parse(body: bytes) -> tuple[list[Any], list[tuple[int, int]], RecordError | None]:
    """The JSON values of a body (with their byte spans when the slow path ran; an event that is
    not UTF-8 as ``_NotUtf8``), and the error of the first value that is not JSON, after which
    nothing can be read."""
    try:
        return _lines.decode_lines(body), [], None  # one C call: values one after another
    except msgspec.DecodeError:
        pass
    # Something is bad: read value by value to say which. Undecodable bytes become surrogates,
    # so positions still map to bytes and an event holding one is told apart (ENCODING).
    text = body.decode("utf-8", "surrogateescape")
    values: list[Any] = []
    spans: list[tuple[int, int]] = []
    pos, byte_pos, n = 0, 0, len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos, byte_pos = pos + 1, byte_pos + 1
        if pos >= n:
            return values, spans, None
        index = len(values)
        try:
            value, end = _scanner.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            return values, spans, RecordError(index, MALFORMED, f"event {index} is not JSON: {exc.msg}",
                                              short(body[byte_pos:]))  # fmt: skip
        segment = text[pos:end]
        raw = segment.encode("utf-8", "surrogateescape")
        values.append(_NotUtf8() if _has_surrogates(segment) else value)
        spans.append((byte_pos, byte_pos + len(raw)))
        pos, byte_pos = end, byte_pos + len(raw)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _NotUtf8:
    """An event in the body that holds bytes that are not UTF-8 (its JSON shape is intact)."""


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _is_guid(channel: str) -> bool:
    try:
        uuid.UUID(channel)
    except ValueError:
        return False
    return True
