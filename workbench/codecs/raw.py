"""Raw lines: human-readable log lines, and any other text line a sender writes.

Our own layout, exact both ways::

    2025-06-30T21:59:23.123456Z ERROR payment-api: charge failed user_id=42 seq=7

``TIMESTAMP LEVEL SERVICE: MESSAGE`` then the set optional fields as ``key=value`` (``host``,
``user_id``, ``session_id``, ``trace_id``, ``client_id``, ``seq``, and ``attr.<name>`` per
attribute). A message or value that could be misread (a newline, a leading quote, a trailing
``key=value`` of its own, spaces in a value) is written as a JSON string.

Lines of other programs are still taken: a leading ISO 8601, Apache (``[Sun Dec 04 04:47:44
2005]``) or HDFS (``081109 203615``) stamp is parsed, else the receive time is used; the level is
the first level word in the line (``[error]``, ``WARN``, ``notice`` ...), else INFO; the
service is the codec's ``default_service``; the message is the whole line.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any

from workbench import model
from workbench.codecs import timeparse
from workbench.codecs.base import ENCODING, Decoded, RecordError, split_lines, validate

_KEYS = "host|user_id|session_id|trace_id|client_id|seq"
_VALUE = r'"(?:[^"\\]|\\.)*"|[^\s"]\S*'
_TAIL = re.compile(rf'(?:\s(?:{_KEYS}|attr\.(?:[^\s="]+|"(?:[^"\\]|\\.)*"))=(?:{_VALUE}))+$')
_PAIR = re.compile(rf'({_KEYS}|attr\.(?:[^\s="]+|"(?:[^"\\]|\\.)*"))=({_VALUE})')
OWN = re.compile(
    rf"({timeparse.ISO_STAMP}) (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) "
    r'("(?:[^"\\]|\\.)*"|[^\s:"][^\s:]*): ?(.*)',
    re.DOTALL,
)
_APACHE = re.compile(r"\[(\w{3} \w{3} +\d{1,2} \d\d:\d\d:\d\d \d{4})\]")
_HDFS = re.compile(r"(\d\d)(\d\d)(\d\d) (\d\d)(\d\d)(\d\d)\b")
_LEVEL_WORD = re.compile(
    r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|CRIT|CRITICAL|ALERT|EMERG)\b",
    re.IGNORECASE,
)
LEVEL_ALIASES = {
    "TRACE": "TRACE", "DEBUG": "DEBUG", "INFO": "INFO", "NOTICE": "INFO", "WARN": "WARN",
    "WARNING": "WARN", "ERROR": "ERROR", "ERR": "ERROR", "SEVERE": "ERROR", "FATAL": "FATAL",
    "CRIT": "FATAL", "CRITICAL": "FATAL", "ALERT": "FATAL", "EMERG": "FATAL",
}  # fmt: skip
_json_string = json.JSONDecoder().raw_decode


def _quote_needed(text: str) -> bool:
    return (
        not text
        or text[0] in '" \t'
        or text[-1:].isspace()
        or "\n" in text
        or "\r" in text
        or _TAIL.search(text) is not None
    )


def _value(text: str) -> str:
    if text and not any(c.isspace() or c in '"' for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _unquote(text: str) -> str:
    return json.loads(text) if text.startswith('"') else text


def stamp_of(line: str, now: dt.datetime) -> dt.datetime:
    """The time a foreign line carries at its start, else ``now``."""
    head = line[:40]
    m = re.match(timeparse.ISO_STAMP, head)
    if m and (ts := timeparse.parse_iso(m.group(0))):
        return ts
    m = _APACHE.match(head)
    if m and (ts := timeparse.parse_apache(m.group(1))):
        return ts
    m = _HDFS.match(head)
    if m:
        yy, mo, dd, hh, mi, ss = (int(g) for g in m.groups())
        try:
            return dt.datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=model.UTC)
        except ValueError:
            pass
    return now


class RawCodec:
    name = "raw"
    binary = False

    def __init__(self, default_service: str = "raw", default_host: str = "") -> None:
        self.default_service = default_service
        self.default_host = default_host

    def encode_one(self, e: Any) -> str:
        service = e.service if e.service and not _quote_needed(e.service) and ":" not in e.service else None
        parts = [
            timeparse.format_iso(e.timestamp),
            " ",
            e.level,
            " ",
            service if service is not None else json.dumps(e.service, ensure_ascii=False),
            ": ",
            json.dumps(e.message, ensure_ascii=False) if _quote_needed(e.message) else e.message,
        ]
        if e.host:
            parts.append(f" host={_value(e.host)}")
        for f in model.OPTIONAL_STRINGS:
            if (v := getattr(e, f)) is not None:
                parts.append(f" {f}={_value(v)}")
        if e.seq is not None:
            parts.append(f" seq={e.seq}")
        for k, v in e.attributes.items():
            key = (
                k if k and not any(c.isspace() or c in '="' for c in k) else json.dumps(k, ensure_ascii=False)
            )
            parts.append(f" attr.{key}={_value(v)}")
        return "".join(parts)

    def encode(self, entries: Sequence[Any]) -> bytes:
        return "".join(self.encode_one(e) + "\n" for e in entries).encode("utf-8")

    def parse_line(self, line: str, now: dt.datetime) -> dict[str, Any]:
        m = OWN.fullmatch(line)
        if m:
            ts = timeparse.parse_iso(m.group(1))
            if ts is not None:
                return self._own(ts, m.group(2), _unquote(m.group(3)), m.group(4))
        level = _LEVEL_WORD.search(line, 0, 200)
        return {
            "timestamp": stamp_of(line, now),
            "level": LEVEL_ALIASES[level.group(1).upper()] if level else "INFO",
            "service": self.default_service,
            "message": line,
            "host": self.default_host,
        }

    def _own(self, ts: dt.datetime, level: str, service: str, rest: str) -> dict[str, Any]:
        rec: dict[str, Any] = {"timestamp": ts, "level": level, "service": service, "host": ""}
        if rest.startswith('"'):
            try:
                message, end = _json_string(rest)
                tail = rest[end:]
            except ValueError:
                message, tail = rest, ""
        else:
            m = _TAIL.search(rest)
            message, tail = (rest[: m.start()], rest[m.start() :]) if m else (rest, "")
        rec["message"] = message
        attrs: dict[str, str] = {}
        for key, raw_value in _PAIR.findall(tail):
            value = _unquote(raw_value)
            if key.startswith("attr."):
                attrs[_unquote(key[5:])] = value
            elif key == "seq":
                rec["seq"] = int(value) if value.isdigit() else value
            else:
                rec[key] = value
        rec["attributes"] = attrs
        return rec

    def decode(self, payload: bytes, now: dt.datetime | None = None) -> Decoded:
        return self.decode_records(split_lines(payload), now)

    def decode_records(self, records: Sequence[bytes], now: dt.datetime | None = None) -> Decoded:
        now = now or model.now_utc()
        parsed: list[dict[str, Any]] = []
        raws: list[bytes] = []
        errors: list[RecordError] = []
        for i, raw in enumerate(records):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.append(RecordError(i, ENCODING, f"not UTF-8: {exc}", raw))
                continue
            parsed.append(self.parse_line(line, now))
            raws.append(raw)
        out = validate(parsed, raws)
        out.errors.extend(errors)
        return out


CODEC = RawCodec()
