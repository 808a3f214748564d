"""What every HTTP-family protocol shares: the request and reply, routes, and the entry helpers.

A protocol codec never raises for bad input. ``decode`` returns either a ``Decoded`` (entries
validated against the schema, one ``RecordError`` per rejected record with its index in the
request) or an ``HttpReply`` to send at once (a health check, a body that does not parse, a
request the protocol refuses). ``reply`` builds the answer after the entries are written (the
ack-mode promise: a success status only for what is on disk); its ``Decoded`` still holds the
errors, so a per-item or partial-success answer can name what was rejected and why.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench import model
from workbench.codecs.base import Decoded, RecordError, validate

__all__ = [
    "Decoded", "HttpReply", "HttpRequest", "RecordError", "Route", "ShipperCodec", "attributes_of",
    "level_from_severity", "level_from_text", "timestamp_from_nanos", "timestamp_from_seconds", "validate",
]  # fmt: skip


@dataclass(slots=True)
class HttpRequest:
    method: str  # upper case: "POST"
    path: str  # without the query: "/v1/logs"
    query: dict[str, str]  # the last value of each name
    headers: dict[str, str]  # names in lower case; repeated names joined with ", "
    body: bytes  # with Content-Encoding undone (bounded by the ingestor's limits)
    params: dict[str, str] = field(default_factory=dict)  # the route's named path parts ({index})
    peer_host: str = ""  # the client's address: the default ``host`` of its entries
    # how each stored line of the request ends (``decoding.stored_suffix``: the batch's fields,
    # then ``}\n``), for a codec whose transcoder writes the stored lines itself
    stored_end: bytes = b"}\n"

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case ("application/x-protobuf")."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(slots=True)
class HttpReply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Route:
    method: str  # "POST", "GET", ...
    path: str  # "/v1/logs", "/{index}/_bulk": a {name} part matches one path segment
    action: str  # what the codec does there (passed to ``decode``): "logs", "bulk", "health"...

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method and not (self.method == "GET" and method == "HEAD"):
            return None
        m = _compiled(self.path).fullmatch(path)
        return None if m is None else m.groupdict()


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(path: str) -> re.Pattern[str]:
    pattern = _PATTERNS.get(path)
    if pattern is None:
        parts = re.split(r"(\{\w+\})", path)
        regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
        pattern = _PATTERNS[path] = re.compile(regex + "/?")
    return pattern


class ShipperCodec:
    """One HTTP-family protocol. Subclasses set ``name`` (the ``format`` label of its entries and
    metrics), ``routes`` and ``auth_scheme``, and implement ``decode`` and ``reply``."""

    name: str
    routes: tuple[Route, ...]
    auth_scheme = "Bearer"  # what precedes the token in Authorization ("Splunk" for HEC)
    # the bound for what a codec decompresses itself (Loki's snappy blocks); the ingestor sets
    # it from its ``max_inflated_bytes``, as it bounds Content-Encoding with it
    max_inflated_bytes = 64 << 20

    def __init__(self, default_service: str = "raw", worker_id: int = 0) -> None:
        self.default_service = default_service
        self.worker_id = worker_id

    def decode(self, action: str, request: HttpRequest) -> Decoded | HttpReply:
        raise NotImplementedError

    def reply(self, action: str, request: HttpRequest, decoded: Decoded) -> HttpReply:
        raise NotImplementedError

    def unauthorized(self, request: HttpRequest) -> HttpReply:
        """The protocol's answer to a missing or wrong token (401)."""
        return HttpReply(401, b'{"error":"unauthorized"}')

    def busy(self, request: HttpRequest) -> HttpReply:
        """The protocol's answer when the queue cannot take the request (``--overflow drop``):
        a status its clients retry, nothing of the request stored."""
        return HttpReply(
            503, b'{"error":"the ingestor is over its queue bound; retry"}', headers=(("retry-after", "1"),)
        )

    def open_route(self, action: str) -> bool:
        """Whether an action is served without the token (a health check, as the real servers do)."""
        return False

    def too_large(self, request: HttpRequest, detail: str) -> HttpReply:
        """The protocol's answer to a body over a size limit (413)."""
        return HttpReply(413, b'{"error":"' + detail.encode() + b'"}')


# --- helpers for mapping a protocol's record onto the entry ---------------------------------

_LEVEL_WORDS = {
    "trace": "TRACE", "debug": "DEBUG", "info": "INFO", "information": "INFO", "informational": "INFO",
    "notice": "INFO", "warn": "WARN", "warning": "WARN", "error": "ERROR", "err": "ERROR",
    "fatal": "FATAL", "critical": "FATAL", "crit": "FATAL", "alert": "FATAL", "emerg": "FATAL",
    "emergency": "FATAL", "panic": "FATAL",
}  # fmt: skip
_SYSLOG_SEVERITY = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")


def level_from_text(text: Any, default: str = "INFO") -> str:
    """A level word in any case ("warning", "Err", "INFO2" is not one) or a syslog severity
    number (0–7, as int or digits) as the entry's level; ``default`` when it is neither."""
    if isinstance(text, bool):
        return default
    if isinstance(text, int):
        return _SYSLOG_SEVERITY[text] if 0 <= text <= 7 else default
    if isinstance(text, str):
        word = text.strip()
        if word.isdigit() and len(word) == 1:
            return level_from_text(int(word), default)
        return _LEVEL_WORDS.get(word.lower(), default)
    return default


def level_from_severity(number: int, text: str = "") -> str:
    """OpenTelemetry's SeverityNumber (1–24: TRACE 1–4, DEBUG 5–8, INFO 9–12, WARN 13–16,
    ERROR 17–20, FATAL 21–24); 0 (unspecified) falls back to the severity text."""
    if 1 <= number <= 24:
        return model.LEVELS[(number - 1) // 4]
    return level_from_text(text)


def timestamp_from_nanos(nanos: int) -> dt.datetime | None:
    if nanos <= 0:
        return None
    try:
        return model.utc_from_micros(nanos // 1000)
    except (OverflowError, ValueError):
        return None


def timestamp_from_seconds(seconds: Any) -> dt.datetime | None:
    """Epoch seconds as a number or digits ("1700000000.123"); None when it is neither or out of range."""
    if isinstance(seconds, bool):
        return None
    if isinstance(seconds, str):
        try:
            seconds = float(seconds)
        except ValueError:
            return None
    if not isinstance(seconds, (int, float)) or seconds != seconds:
        return None
    try:
        return model.utc_from_micros(round(seconds * 1_000_000))
    except (OverflowError, ValueError):
        return None


def attributes_of(pairs: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> dict[str, str]:
    """String attributes (the entry's ``attributes`` are strings): strings as they are, anything
    else as compact JSON; None values left out."""
    import msgspec

    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    out: dict[str, str] = {}
    for key, value in items:
        if value is None:
            continue
        out[str(key)] = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return out


ENTRY_KEYS = frozenset(model.FIELDS)
