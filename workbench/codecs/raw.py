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

Lines in our own layout as ``encode`` writes them (but for a control character or Unicode
whitespace in bare text, or a quoted attribute name) go through a compiled transcoder
(``workbench/speedups/_raw.pyx``) straight to stored JSON lines; a payload with any other line
runs the Python parser below, which gives the same entries.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from workbench import model
from workbench.codecs import timeparse
from workbench.codecs.base import (
    ENCODING,
    STORE_DIRECT,
    CodecBase,
    Decoded,
    RecordError,
    merge_errors,
    split_lines,
    validate,
    validated_lines,
)

_transcode: Callable[[bytes, bytes], tuple[bytes, int] | None] | None
try:
    from workbench.speedups._raw import transcode as _transcode
except ImportError:  # not compiled (no C compiler): the Python parser does it all
    _transcode = None

_KEYS = "host|user_id|session_id|trace_id|client_id|seq"
_VALUE = r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]\S*'
_TAIL = re.compile(rf'(?:\s(?:{_KEYS}|attr\.(?:[^\s="]+|"[^"\\]*(?:\\.[^"\\]*)*"))=(?:{_VALUE}))+$')
_PAIR = re.compile(rf'({_KEYS}|attr\.(?:[^\s="]+|"[^"\\]*(?:\\.[^"\\]*)*"))=({_VALUE})')
OWN = re.compile(
    rf"({timeparse.ISO_STAMP}) (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) "
    r'("[^"\\]*(?:\\.[^"\\]*)*"|[^\s:"][^\s:]*): ?(.*)',
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
_SPACE_OR_QUOTE = re.compile(r'[\s"]')
_NOT_BARE_SERVICE = re.compile(r'[\s":]')
_NOT_BARE_KEY = re.compile(r'[\s="]')
_SURROGATE = re.compile("[\ud800-\udfff]")


def _quote_needed(text: str) -> bool:
    """Whether a message must be written as a JSON string to read back exactly.

    A quote anywhere counts: an unbalanced one in the message could pair with one in the
    ``key="value"`` tail and make part of the message look like a field.
    """
    return (
        not text
        or text[0].isspace()
        or text[-1].isspace()
        or '"' in text
        or "\n" in text
        or "\r" in text
        or _TAIL.search(text) is not None
    )


def _bare_service(text: str) -> bool:
    """A service that can be written unquoted: no whitespace, quote or colon (the regex of ``OWN``)."""
    return bool(text) and _NOT_BARE_SERVICE.search(text) is None


def _value(text: str) -> str:
    if text and _SPACE_OR_QUOTE.search(text) is None:
        return text
    return json.dumps(text, ensure_ascii=False)


def _storable(text: str) -> str:
    """Text of a JSON string, or ``ValueError`` when it holds a lone surrogate: JSON may escape one
    (``"\\ud800"``), UTF-8 cannot carry it, and storing the entry would raise."""
    if _SURROGATE.search(text) is not None:
        raise ValueError(f"a lone surrogate in a JSON string: {text[:40]!r}")
    return text


def _unquote(text: str) -> str:
    """A value as written: JSON-quoted or bare. Raises ``ValueError`` for a broken JSON string."""
    if not text.startswith('"'):
        return text
    value = json.loads(text)
    if not isinstance(value, str):  # pragma: no cover - the regexes only pass "..." here
        raise ValueError(f"not a JSON string: {text[:40]!r}")
    return _storable(value)


def _seq(value: str) -> int | str:
    """``seq`` as an int when it is one (ASCII digits, at most 20 of them), else the text (then invalid)."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 20 else value


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


class RawCodec(CodecBase):
    name = "raw"
    binary = False

    @classmethod
    def for_ingestor(cls, schemas: Any, default_service: str) -> RawCodec:
        return cls(default_service=default_service)

    def __init__(self, default_service: str = "raw", default_host: str = "", fast: bool = True) -> None:
        self.default_service = default_service
        self.default_host = default_host
        self.fast = fast and _transcode is not None

    def encode_one(self, e: Any) -> str:
        service = e.service if _bare_service(e.service) else None
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
            key = k if k and _NOT_BARE_KEY.search(k) is None else json.dumps(k, ensure_ascii=False)
            parts.append(f" attr.{key}={_value(v)}")
        return "".join(parts)

    def encode(self, entries: Sequence[Any]) -> bytes:
        return "".join(self.encode_one(e) + "\n" for e in entries).encode("utf-8")

    def parse_line(self, line: str, now: dt.datetime) -> dict[str, Any]:
        m = OWN.fullmatch(line)
        if m:
            ts = timeparse.parse_iso(m.group(1))
            if ts is not None:
                try:
                    return self._own(ts, m.group(2), _unquote(m.group(3)), m.group(4))
                except ValueError:  # a broken JSON string: not our layout after all, a foreign line
                    pass
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
                message, tail = _storable(message), rest[end:]
            except ValueError:
                message, tail = rest, ""
            if tail and _TAIL.fullmatch(tail) is None:  # text after the quoted message: keep it all
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
                rec["seq"] = _seq(value)
            else:
                rec[key] = value
        rec["attributes"] = attrs
        return rec

    def decode(self, payload: bytes, now: dt.datetime | None = None) -> Decoded:
        if self.fast:
            assert _transcode is not None
            done = _transcode(payload, b"}\n")
            decoded = validated_lines(done[0]) if done is not None else None
            if decoded is not None:
                return decoded
        return self.decode_records(split_lines(payload), now)

    def stored(self, payload: bytes, end: bytes) -> tuple[bytes, int] | None:
        """The stored JSON lines of a payload, each ending with ``end`` instead of ``}\\n``, and
        how many: the transcoder's lines as they are, its schema checks standing in for msgspec's
        (``STORE_DIRECT``). None when it declines or is not in use: then ``decode``."""
        if not (self.fast and STORE_DIRECT):
            return None
        assert _transcode is not None
        return _transcode(payload, end)

    def decode_records(self, records: Sequence[bytes], now: dt.datetime | None = None) -> Decoded:
        now = now or model.now_utc()
        parsed: list[dict[str, Any]] = []
        raws: list[bytes] = []
        indexes: list[int] = []
        errors: list[RecordError] = []
        for i, raw in enumerate(records):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.append(RecordError(i, ENCODING, f"not UTF-8: {exc}", raw))
                continue
            parsed.append(self.parse_line(line, now))
            raws.append(raw)
            indexes.append(i)
        return merge_errors(validate(parsed, raws, indexes=indexes), errors)


CODEC = RawCodec()
