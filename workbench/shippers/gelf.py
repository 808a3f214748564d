"""GELF (Graylog Extended Log Format) 1.1 messages onto log entries.

A message is one JSON object (the transport, UDP chunks or NUL-delimited TCP, is
``workbench.ingestor.gelf``). Mapping:

================ ============================================================================
entry field      from
================ ============================================================================
timestamp        ``timestamp``: epoch seconds, fraction allowed; else the time received
message          ``short_message`` (required by GELF: a message without it is ``invalid``)
level            ``level``: the syslog severity 0–7 (0–2 FATAL, 3 ERROR, 4 WARN, 5–6 INFO,
                 7 DEBUG); INFO when absent (GELF's default 1 ALERT is not assumed)
host             ``host``, else the sender's address
service          ``_service``, else ``_service_name``, else ``_container_name`` (Docker), else
                 ``_tag``, else ``--default-service``
seq, ...         ``_seq``, ``_client_id``, ``_user_id``, ``_session_id``, ``_trace_id``
attributes       ``full_message``, ``facility``, ``file``, ``line``, and every other ``_field``
                 without its underscore (``_container_id`` is ``container_id``)
================ ============================================================================

``version`` is not kept. Docker's gelf driver sends ``level`` 6 for stdout and 3 for stderr,
and ``_container_name``, ``_container_id``, ``_image_name``, ``_command``, ``_tag``, ``_created``.

When the caller gives the stored end of its batch's lines (``messages(..., end)``,
``decoding.stored_suffix``), the messages go first to the compiled transcoder
(``workbench/speedups/_gelf.pyx``), which writes the stored lines of the plain case and declines
the rest to the mapping here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from workbench import model
from workbench.codecs.base import INVALID, MALFORMED, STORE_DIRECT
from workbench.shippers.base import Decoded, RecordError, level_from_text, timestamp_from_seconds
from workbench.shippers.mapping import finish, pop_text, short, validated

__all__ = ["GelfCodec"]

SERVICE_KEYS = ("service", "service_name", "container_name", "tag")
STANDARD_KEYS = ("full_message", "facility", "file", "line")
_decode_many = msgspec.json.Decoder(list[Any])
_decode_one = msgspec.json.Decoder()

try:  # the compiled transcoder of the plain case (workbench/speedups/_gelf.pyx)
    from workbench.speedups._gelf import transcode as _transcode
except ImportError:  # not compiled: every message is mapped in Python
    _transcode = None


class GelfCodec:
    """Maps GELF messages onto entries; never raises for bad input."""

    name = "gelf"

    def __init__(self, default_service: str = "raw", fast: bool = True) -> None:
        self.default_service = default_service
        # messages go to the compiled transcoder first while the loaded schema is the one its
        # checks enforce (``STORE_DIRECT``); it declines anything outside the plain case
        self.fast = fast and STORE_DIRECT and _transcode is not None
        self._service = default_service.encode("utf-8", "surrogatepass")

    def messages(self, raws: list[bytes], peer_host: str, end: bytes = b"}\n") -> Decoded:
        """Each raw message (JSON bytes) as an entry, or a rejection with its index; all of them
        as the transcoder's stored lines (each ending with ``end``) when the caller gives the
        end of its batch's lines and the transcoder takes every message."""
        if not raws:
            return Decoded()
        if self.fast and end != b"}\n":
            got = self._transcoded(raws, peer_host, end)
            if got is not None:
                return Decoded(jsonl=got[0], lines=got[1], end=end)
        try:  # one C call for the whole batch while every message parses
            objs: list[Any] = _decode_many.decode(b"[" + b",".join(raws) + b"]")
        except (msgspec.DecodeError, UnicodeDecodeError):
            objs = [None] * len(raws)
            for i, raw in enumerate(raws):
                try:
                    objs[i] = _decode_one.decode(raw)
                except (msgspec.DecodeError, UnicodeDecodeError):
                    objs[i] = _Broken
        records: list[dict[str, Any]] = []
        indexes: list[int] = []
        errors: list[RecordError] = []
        for i, obj in enumerate(objs):
            if obj is _Broken or not isinstance(obj, dict):
                errors.append(RecordError(i, MALFORMED, "a GELF message is one JSON object", short(raws[i])))
                continue
            record = self.record(obj, peer_host)
            if isinstance(record, str):
                errors.append(RecordError(i, INVALID, record, short(raws[i])))
                continue
            records.append(record)
            indexes.append(i)
        return validated(records, indexes, lambda pos: short(raws[indexes[pos]]), errors)

    def _transcoded(self, raws: list[bytes], peer_host: str, end: bytes) -> tuple[bytes, int] | None:
        """The stored lines of plain messages (``_gelf.pyx``'s docstring says which), or None."""
        try:
            host = peer_host.encode()
        except UnicodeEncodeError:
            return None
        now = model.micros_from_utc(model.now_utc())
        got: tuple[bytes, int] | None = _transcode(raws, self._service, host, now, end)  # type: ignore[misc]
        return got

    def record(self, obj: dict[str, Any], peer_host: str) -> dict[str, Any] | str:
        """The entry's record, or why the message is refused."""
        message = obj.get("short_message")
        if not isinstance(message, str):
            return "a GELF message needs short_message (a string)"
        stamp = obj.get("timestamp")
        ts = model.now_utc() if stamp is None else timestamp_from_seconds(stamp)
        if ts is None:
            return f"timestamp {stamp!r} is not epoch seconds"
        record: dict[str, Any] = {"timestamp": ts, "level": "INFO", "message": message}
        level = obj.get("level")
        if level is not None:
            record["level"] = level_from_text(level, "INFO")
        host = obj.get("host")
        record["host"] = host if isinstance(host, str) and host else peer_host
        pairs: dict[str, Any] = {k: obj[k] for k in STANDARD_KEYS if obj.get(k) is not None}
        for key, value in obj.items():
            if key.startswith("_") and len(key) > 1 and key != "_id":
                pairs[key[1:]] = value
        service = pairs.get("service") if isinstance(pairs.get("service"), str) else None
        if service:
            del pairs["service"]
        else:
            service = next((v for k in SERVICE_KEYS[1:] if isinstance(v := pairs.get(k), str) and v), None)
            if service is not None and pairs.get("service_name") == service:
                pop_text(pairs, ("service_name",))
        record["service"] = service or self.default_service
        return finish(record, pairs)


class _Broken:
    """A message that did not parse (a marker, never an instance)."""
