"""Fluent's Forward protocol v1 (Fluentd, Fluent Bit, Docker's fluentd driver, fluent-logger):
the events of one message onto log entries.

A message is a MessagePack array whose first element is the tag:

* Message mode ``[tag, time, record, option?]``: one event;
* Forward mode ``[tag, [[time, record], ...], option?]``;
* PackedForward mode ``[tag, bin|str, option?]``: the entries as a MessagePack stream of
  ``[time, record]`` arrays; CompressedPackedForward: the same stream gzipped
  (``option.compressed == "gzip"``), possibly several gzip members one after another.

``time`` is an integer (epoch seconds), a float, or an EventTime (ext type 0: uint32 seconds and
uint32 nanoseconds, big endian). The connection side (framing, handshake, acks) is
``workbench.ingestor.forward``; this module only maps. A PackedForward stream goes first to the
compiled transcoder (``workbench/speedups/_forward.pyx``, ``ForwardCodec.stored``), which writes
the stored lines of the plain case and declines the rest to the Python path. Mapping of a record:

============== ==============================================================================
entry field    from
============== ==============================================================================
timestamp      the event's time (to the microsecond)
message        ``message``, else ``log``, else ``msg`` (a string); else the record as compact JSON
level          ``level``, else ``severity``, else ``log.level`` (words or syslog numbers)
service        ``service``, else ``service.name``, else ``service_name``, else
               ``container_name`` without its leading ``/`` (Docker), else the tag
host           ``host``, else ``hostname``, else the sender's address
seq, ...       ``seq``, ``client_id``, ``user_id``, ``session_id``, ``trace_id`` (``mapping``)
attributes     every other key (``container_id``, ``container_name``, ``source`` ...) and the tag
               as ``tag`` (unless the record has its own ``tag``)
============== ==============================================================================
"""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

import msgpack

from workbench import model
from workbench.codecs.base import ENCODING, INVALID, MALFORMED, STORE_DIRECT, TOO_LARGE
from workbench.errors import WorkbenchError
from workbench.shippers.base import Decoded, RecordError, timestamp_from_seconds
from workbench.shippers.mapping import finish, json_raw, pop_level, pop_text, validated

__all__ = [
    "EventTime",
    "ForwardCodec",
    "ForwardError",
    "Message",
    "decode_event_time",
    "gunzip",
    "parse_message",
]

MESSAGE_KEYS = ("message", "log", "msg")
LEVEL_KEYS = ("level", "severity", "log.level")
SERVICE_KEYS = ("service", "service.name", "service_name")
HOST_KEYS = ("host", "hostname")

try:  # the compiled transcoder of the plain case (workbench/speedups/_forward.pyx)
    from workbench.speedups._forward import transcode as _transcode
except ImportError:  # not compiled: every stream is unpacked and mapped here
    _transcode = None


class ForwardError(WorkbenchError):
    """A message that is MessagePack but not a Forward message (its reason and detail)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class EventTime:
    """Ext type 0 as the unpacker hands it over: seconds and nanoseconds."""

    __slots__ = ("nanos", "seconds")

    def __init__(self, seconds: int, nanos: int) -> None:
        self.seconds = seconds
        self.nanos = nanos


def decode_event_time(code: int, data: bytes) -> Any:
    if code == 0 and len(data) == 8:
        return EventTime(int.from_bytes(data[:4], "big"), int.from_bytes(data[4:], "big"))
    return msgpack.ExtType(code, data)


class Message:
    """One Forward message: its tag, its events ``(time, record)`` and its options; ``packed``:
    a (Compressed)PackedForward stream (gunzipped) not unpacked into ``events`` yet."""

    __slots__ = ("events", "option", "packed", "tag")

    def __init__(
        self, tag: str, events: list[Any], option: dict[str, Any], packed: bytes | None = None
    ) -> None:
        self.tag = tag
        self.events = events
        self.option = option
        self.packed = packed

    def unpack(self, limit: int) -> None:
        """``events`` from the packed stream (``ForwardError`` when it is not MessagePack)."""
        if self.packed is not None:
            self.events = _stream(self.packed, limit)
            self.packed = None

    @property
    def chunk(self) -> str | None:
        chunk = self.option.get("chunk")
        return chunk if isinstance(chunk, str) and chunk else None


def _unpacker(raw: bool, limit: int) -> msgpack.Unpacker:
    return msgpack.Unpacker(raw=raw, ext_hook=decode_event_time, max_buffer_size=max(limit, 1 << 16),
                            strict_map_key=False)  # fmt: skip


def _stream(data: bytes, limit: int) -> list[Any]:
    """The entries of a PackedForward stream (strings decoded; bytes kept where not UTF-8)."""
    for raw in (False, True):  # text is UTF-8 in nearly every stream: decode it in C, else per record
        unpacker = _unpacker(raw, limit)
        unpacker.feed(data)
        try:
            return list(unpacker)
        except UnicodeDecodeError:
            continue
        except (ValueError, msgpack.UnpackException) as exc:
            raise ForwardError(MALFORMED, f"the PackedForward entries are not MessagePack: {exc}") from None
    raise AssertionError("unreachable")


def gunzip(data: bytes, limit: int) -> bytes:
    """Concatenated gzip members (Fluentd appends one per buffer chunk), inflated to at most ``limit``."""
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        d = zlib.decompressobj(31)
        try:
            part = d.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            raise ForwardError(
                MALFORMED, f"the CompressedPackedForward entries do not gunzip: {exc}"
            ) from None
        size += len(part)
        if size > limit or d.unconsumed_tail:
            raise ForwardError(TOO_LARGE, f"the gzipped entries inflate to more than {limit} bytes")
        if not d.eof:
            raise ForwardError(MALFORMED, "the gzipped entries end in the middle of a gzip member")
        out.append(part)
        rest = d.unused_data
    return b"".join(out)


def parse_message(obj: Any, max_inflated_bytes: int, defer: bool = False) -> Message:
    """A decoded MessagePack value as a Forward message (``ForwardError`` when it is none); with
    ``defer`` a packed stream is left in ``packed`` (``Message.unpack``)."""
    if not isinstance(obj, (list, tuple)) or not 2 <= len(obj) <= 4:
        raise ForwardError(MALFORMED, "a Forward message is an array [tag, entries|time, ...]")
    tag = obj[0]
    if isinstance(tag, bytes):
        tag = tag.decode("utf-8", "replace")
    if not isinstance(tag, str):
        raise ForwardError(MALFORMED, "the first element of a Forward message is its tag (a string)")
    second = obj[1]
    if isinstance(second, (list, tuple)):  # Forward mode
        option = obj[2] if len(obj) > 2 else {}
        events = list(second)
    elif isinstance(second, (bytes, str)) and len(obj) <= 3:  # (Compressed)PackedForward
        option = obj[2] if len(obj) > 2 else {}
        if not isinstance(option, dict):
            option = {}
        data = second.encode("utf-8", "surrogateescape") if isinstance(second, str) else second
        if option.get("compressed") == "gzip":
            data = gunzip(data, max_inflated_bytes)
        if defer:
            return Message(tag, [], option, data)
        events = _stream(data, max_inflated_bytes)
    elif len(obj) >= 3:  # Message mode
        option = obj[3] if len(obj) > 3 else {}
        events = [(second, obj[2])]
    else:
        raise ForwardError(
            MALFORMED, "a Forward message has entries, a packed stream, or a time and a record"
        )
    return Message(tag, events, option if isinstance(option, dict) else {})


def _text(value: Any) -> Any:
    """Bytes (MessagePack bin, or str that was not UTF-8) as text; ``None`` when not UTF-8."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _plain(record: dict[Any, Any]) -> dict[str, Any] | None:
    """A record with bytes keys and values decoded (None when some are not UTF-8)."""
    out: dict[str, Any] = {}
    try:
        for key, value in record.items():
            k = _text(key)
            out[k if isinstance(k, str) else str(k)] = _text(value) if isinstance(value, bytes) else value
    except UnicodeDecodeError:
        return None
    return out


class ForwardCodec:
    """Maps the events of one message (``events``) onto entries; never raises for bad input."""

    name = "forward"

    def __init__(self, default_service: str = "raw", fast: bool = True) -> None:
        self.default_service = default_service
        # packed streams go to the compiled transcoder first while the loaded schema is the one
        # its checks enforce (``STORE_DIRECT``); it declines anything outside the plain case
        self.fast = fast and STORE_DIRECT and _transcode is not None
        self._service = default_service.encode()

    def stored(self, message: Message, peer_host: str, limit: int, end: bytes = b"}\n") -> Decoded:
        """The message's entries: a packed stream's as the transcoder's stored lines (each ending
        with ``end``, ``decoding.stored_suffix``) when it takes them, else ``events``'s (the
        stream unpacked: ``ForwardError`` when it is not MessagePack)."""
        packed = message.packed
        if packed is not None and self.fast and len(packed) <= max(limit, 1 << 16):  # (_unpacker's bound)
            got = _transcode(packed, message.tag.encode(), self._service, peer_host.encode(), end)  # type: ignore[misc]
            if got is not None:
                return Decoded(jsonl=got[0], lines=got[1], end=end)
        message.unpack(limit)
        return self.events(message, peer_host)

    def events(self, message: Message, peer_host: str, index_base: int = 0) -> Decoded:
        records: list[dict[str, Any]] = []
        indexes: list[int] = []
        errors: list[RecordError] = []
        tag = message.tag
        for i, event in enumerate(message.events):
            index = index_base + i
            if not isinstance(event, (list, tuple)) or len(event) < 2 or not isinstance(event[1], dict):
                errors.append(RecordError(index, MALFORMED, "an entry is [time, record] with a map record",
                                          json_raw(event)))  # fmt: skip
                continue
            record = self.record(tag, event[0], event[1], peer_host)
            if isinstance(record, RecordError):
                record.index = index
                errors.append(record)
                continue
            records.append(record)
            indexes.append(index)
        return validated(
            records, indexes, lambda pos: json_raw(message.events[indexes[pos] - index_base]), errors
        )

    def record(
        self, tag: str, time: Any, fields: dict[Any, Any], peer_host: str
    ) -> dict[str, Any] | RecordError:
        pairs = fields if all(type(k) is str for k in fields) and not _has_bytes(fields) else _plain(fields)
        if pairs is None:
            return RecordError(0, ENCODING, "a record key or value is not UTF-8", json_raw(fields))
        pairs = dict(pairs)
        ts = _event_time(time) if isinstance(time, EventTime) else timestamp_from_seconds(time)
        if ts is None:
            return RecordError(0, INVALID, f"the event time {time!r} is not epoch seconds or an EventTime",
                               json_raw(fields))  # fmt: skip
        message = pop_text(pairs, MESSAGE_KEYS)
        if message is None:
            message = json_raw(pairs).decode("utf-8", "replace") if pairs else ""
        record: dict[str, Any] = {"timestamp": ts, "level": pop_level(pairs, LEVEL_KEYS), "message": message}
        service = pop_text(pairs, SERVICE_KEYS)
        if service is None:
            container = pairs.get("container_name")
            service = container.lstrip("/") if isinstance(container, str) and container.strip("/") else tag
        record["service"] = service or self.default_service
        record["host"] = pop_text(pairs, HOST_KEYS) or peer_host
        if "tag" not in pairs and tag:
            pairs["tag"] = tag
        return finish(record, pairs)


def _has_bytes(fields: dict[str, Any]) -> bool:
    return any(type(v) is bytes for v in fields.values())


def _event_time(time: EventTime) -> dt.datetime | None:
    try:  # exact to the microsecond (a float of epoch seconds is not)
        return model.utc_from_micros(time.seconds * 1_000_000 + time.nanos // 1000)
    except (OverflowError, ValueError):
        return None
