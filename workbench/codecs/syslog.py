"""Syslog: RFC 5424 and RFC 3164 (BSD) messages, one log entry each.

Mapping: PRI severity to level (0-2 FATAL, 3 ERROR, 4 WARN, 5-6 INFO, 7 DEBUG), APP-NAME (or
the 3164 TAG) to service, HOSTNAME to host, PROCID / MSGID / a facility other than user(1) to
attributes ``syslog.procid``, ``syslog.msgid``, ``syslog.facility``. Structured data: the
element ``log@32473`` carries the entry's own fields (``user_id``, ``session_id``,
``trace_id``, ``client_id``, ``seq``, and ``level`` where the severity cannot say it, i.e.
TRACE); ``attr@32473`` carries attributes; any other element's params become attributes named
``<sd-id>.<param>``. (32473 is the enterprise number IANA reserves for examples.)

BSD messages may lack PRI (as syslogd writes them to files); they then default to user.notice
(RFC 3164 section 4.3.3), i.e. INFO.

RFC 5424 messages in the usual shape (see ``workbench/speedups/_syslog.pyx``) go through a compiled
transcoder straight to stored JSON lines, checked against the schema in C: ``decode`` validates
them with msgspec too (it returns entries), the ingestor's ``stored`` keeps them as they are
(``base.STORE_DIRECT``). A batch with any other message runs the Python parser below, which
gives the same entries.

A payload is either newline-separated messages or RFC 6587 octet-counted ones (``LEN SP MSG``);
``decode`` tells them apart by the first byte. ``encode`` writes octet-counted messages, which
keep newlines inside a message intact (RFC 5425 over TLS does the same).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any

from workbench import model
from workbench.codecs import timeparse
from workbench.codecs.base import (
    ENCODING,
    MALFORMED,
    STORE_DIRECT,
    CodecBase,
    Decoded,
    RecordError,
    merge_errors,
    split_lines,
    validate,
    validated_lines,
)

_transcode: Callable[[list[bytes]], bytes | None] | None
_stored_lines: Callable[[bytes, bytes], tuple[bytes, int] | None] | None
_stored_octet: Callable[[bytes, int, bytes], tuple[bytes, int, int]] | None
try:
    from workbench.speedups._syslog import stored_lines as _stored_lines
    from workbench.speedups._syslog import stored_octet as _stored_octet
    from workbench.speedups._syslog import transcode as _transcode
except ImportError:  # not compiled (no C compiler): the Python parser does it all
    _transcode = _stored_lines = _stored_octet = None

SD_ID_FIELDS = "log@32473"
SD_ID_ATTRS = "attr@32473"
DEFAULT_FACILITY = 1  # user-level
BOM = "\ufeff"

LEVEL_BY_SEVERITY = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")
SEVERITY_BY_LEVEL = {"TRACE": 7, "DEBUG": 7, "INFO": 6, "WARN": 4, "ERROR": 3, "FATAL": 2}
_FIELD_PARAMS = (*model.OPTIONAL_STRINGS, "seq")
_ENTRY_PARAMS = frozenset((*model.OPTIONAL_STRINGS, "level"))  # log@32473 params that are entry fields

_SD_PARAM = r'[^\s\]="]{1,32}="[^"\\]*(?:\\.[^"\\]*)*"'
_SD_ELEMENT = rf'\[[^\s\]="]{{1,32}}(?: {_SD_PARAM})*\]'
RFC5424 = re.compile(
    rf"<(\d{{1,3}})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:{_SD_ELEMENT})+)(?: (.*))?",
    re.DOTALL,
)
RFC3164 = re.compile(
    rf"(?:<(\d{{1,3}})>)?({timeparse.BSD_STAMP}|{timeparse.ISO_STAMP}) (?:(\S*[^\s:]) )?"
    r"(?:([^\s:\[]{1,64})(?:\[([^\]\s]*)\])?: ?)?(.*)",
    re.DOTALL,
)
_ELEMENT = re.compile(rf'\[([^\s\]="]{{1,32}})((?: {_SD_PARAM})*)\]')
_PARAM = re.compile(r'([^\s\]="]{1,32})="([^"\\]*(?:\\.[^"\\]*)*)"')
_UNESCAPE = re.compile(r'\\(["\\\]])')
_BAD_NAME = re.compile(r'[^!-~]|[\]="]')
_BAD_HEADER = re.compile(r"[^!-~]")
_FIRST_WORD = re.compile(r"[^\s:\[]{0,64}")
_OCTET_COUNTED = re.compile(rb"[\r\n]*\d{1,10} ")  # a line-mode payload may open with a digit (an ISO stamp)


def _unescape(value: str) -> str:
    return _UNESCAPE.sub(r"\1", value) if "\\" in value else value


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_token(value: str | None, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, NILVALUE when empty."""
    if not value:
        return "-"
    return _BAD_HEADER.sub("_", value)[:limit]


def _fits_header(value: str, limit: int) -> bool:
    """Whether an attribute can travel as a header field (PROCID, MSGID) and read back the same."""
    return 0 < len(value) <= limit and value != "-" and _BAD_HEADER.search(value) is None


def _facility(value: str) -> int | None:
    """The facility an attribute ``syslog.facility`` names, when PRI can carry it exactly."""
    if value.isascii() and value.isdigit() and len(value) <= 2 and str(int(value)) == value:
        number = int(value)
        if number <= 23 and number != DEFAULT_FACILITY:
            return number
    return None


def _seq(value: str) -> int | str:
    """``seq`` as an int when it is one (ASCII digits, at most 20 of them), else the text (then invalid)."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 20 else value


def parse_pri(pri: str | None) -> tuple[int, int]:
    """(facility, severity); a missing PRI is user.notice."""
    if pri is None:
        return DEFAULT_FACILITY, 5
    value = int(pri)
    if value > 191:
        raise ValueError(f"PRI {value} is over 191")
    return value >> 3, value & 7


def _structured(sd: str, rec: dict[str, Any], attrs: dict[str, str]) -> None:
    # one findall per element and dict() of its pairs keep this in C for the usual elements
    for sd_id, params in _ELEMENT.findall(sd):
        pairs = _PARAM.findall(params)
        if "\\" in params:
            pairs = [(name, _unescape(value)) for name, value in pairs]
        if sd_id == SD_ID_FIELDS:
            fields = dict(pairs)
            seq = fields.pop("seq", None)
            if seq is not None:
                rec["seq"] = _seq(seq)
            if fields.keys() <= _ENTRY_PARAMS:
                rec.update(fields)
                continue
            for name, value in fields.items():
                if name in _ENTRY_PARAMS:
                    rec[name] = value
                else:
                    attrs[f"{sd_id}.{name}"] = value
        elif sd_id == SD_ID_ATTRS:
            attrs.update(pairs)
        else:
            attrs.update((f"{sd_id}.{name}", value) for name, value in pairs)


def parse_line(text: str, now: dt.datetime) -> dict[str, Any] | str:
    """One syslog message to a record dict, or a string saying why it is not one."""
    m = RFC5424.fullmatch(text)
    attrs: dict[str, str] = {}
    if m:
        pri, stamp, host, app, procid, msgid, sd, msg = m.groups()
        try:
            facility, severity = parse_pri(pri)
        except ValueError as exc:
            return str(exc)
        if stamp == "-":
            ts = now
        else:
            parsed = timeparse.parse_iso(stamp)
            if parsed is None:
                return f"bad RFC 5424 timestamp {stamp!r}"
            ts = parsed
        rec: dict[str, Any] = {"timestamp": ts, "host": "" if host == "-" else host, "service": app}
        if procid != "-":
            attrs["syslog.procid"] = procid
        if msgid != "-":
            attrs["syslog.msgid"] = msgid
        if sd != "-":
            _structured(sd, rec, attrs)
        message = msg or ""
    else:
        m = RFC3164.fullmatch(text)
        if not m:
            if text.startswith("<") and ">" in text[:5]:
                return "PRI present but neither an RFC 5424 nor an RFC 3164 message follows"
            return "not a syslog message (no PRI, no RFC 3164 timestamp)"
        pri, stamp, host, tag, procid, message = m.groups()
        try:
            facility, severity = parse_pri(pri)
        except ValueError as exc:
            return str(exc)
        ts_or_none = timeparse.parse_iso(stamp) if stamp[0].isdigit() else timeparse.parse_bsd(stamp, now)
        if ts_or_none is None:
            return f"bad RFC 3164 timestamp {stamp!r}"
        if not tag:  # no TAG: (e.g. "syslogd 1.4.1: restart."): the first word names the sender
            tag = _FIRST_WORD.match(message).group(0) or "-"  # type: ignore[union-attr]
        rec = {"timestamp": ts_or_none, "host": host or "", "service": tag}
        if procid:
            attrs["syslog.procid"] = procid
    if facility != DEFAULT_FACILITY:
        attrs["syslog.facility"] = str(facility)
    rec.setdefault("level", LEVEL_BY_SEVERITY[severity])
    rec["message"] = message[1:] if message.startswith(BOM) else message
    rec["attributes"] = attrs
    return rec


class SyslogCodec(CodecBase):
    name = "syslog"
    binary = False

    @classmethod
    def for_generator(cls, octet_counting: bool) -> SyslogCodec:
        return cls(octet_counting=octet_counting)

    def decode_chunk(self, chunk: bytes, schema_id: int | None = None) -> Decoded:
        return self.decode_records(split_lines(chunk))

    def __init__(self, octet_counting: bool = True, fast: bool = True) -> None:
        self.octet_counting = octet_counting
        self.fast = fast and _transcode is not None

    def encode_one(self, e: Any) -> bytes:
        attrs = dict(e.attributes)
        # syslog.* attributes go into the header only when it carries them exactly; otherwise
        # they stay in attr@32473 and read back from there
        facility = _facility(attrs.get("syslog.facility", ""))
        if facility is not None:
            del attrs["syslog.facility"]
        pri = (DEFAULT_FACILITY if facility is None else facility) * 8 + SEVERITY_BY_LEVEL[e.level]
        procid = msgid = "-"
        if _fits_header(attrs.get("syslog.procid", ""), 128):
            procid = attrs.pop("syslog.procid")
        if _fits_header(attrs.get("syslog.msgid", ""), 32):
            msgid = attrs.pop("syslog.msgid")
        params = [f'{f}="{_escape(str(v))}"' for f in _FIELD_PARAMS if (v := getattr(e, f)) is not None]
        if LEVEL_BY_SEVERITY[SEVERITY_BY_LEVEL[e.level]] != e.level:
            params.insert(0, f'level="{e.level}"')
        sd = f"[{SD_ID_FIELDS} {' '.join(params)}]" if params else ""
        if attrs:
            sd += (
                f"[{SD_ID_ATTRS} "
                + " ".join(f'{_BAD_NAME.sub("_", k)[:32] or "_"}="{_escape(v)}"' for k, v in attrs.items())
                + "]"
            )
        head = (
            f"<{pri}>1 {timeparse.format_iso(e.timestamp)} {_header_token(e.host, 255)} "
            f"{_header_token(e.service, 48)} {procid} {msgid} {sd or '-'}"
        )
        # a message that starts with a BOM gets another, as decoding drops the first (RFC 5424 MSG-UTF8)
        message = BOM + e.message if e.message.startswith(BOM) else e.message
        line = f"{head} {message}" if message else head
        return line.encode("utf-8")

    def encode(self, entries: Sequence[Any]) -> bytes:
        if self.octet_counting:
            parts = []
            for e in entries:
                msg = self.encode_one(e)
                parts.append(b"%d %s" % (len(msg), msg))
            return b"".join(parts)
        return b"".join(self.encode_one(e).replace(b"\n", b" ") + b"\n" for e in entries)

    def decode(self, payload: bytes, now: dt.datetime | None = None) -> Decoded:
        if _OCTET_COUNTED.match(payload):
            records, error = split_octet_counted(payload)
            out = self.decode_records(records, now)
            if error:
                out.errors.append(RecordError(len(records), MALFORMED, error, payload[-256:]))
            return out
        return self.decode_records(split_lines(payload), now)

    def decode_records(self, records: Sequence[bytes], now: dt.datetime | None = None) -> Decoded:
        if self.fast and records:
            fast = self._decode_fast(records if isinstance(records, list) else list(records))
            if fast is not None:
                return fast
        now = now or model.now_utc()
        parsed: list[dict[str, Any]] = []
        raws: list[bytes] = []
        indexes: list[int] = []
        errors: list[RecordError] = []
        for i, raw in enumerate(records):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.append(RecordError(i, ENCODING, f"not UTF-8: {exc}", raw))
                continue
            rec = parse_line(text.rstrip("\r\n") if text.endswith(("\n", "\r")) else text, now)
            if isinstance(rec, str):
                errors.append(RecordError(i, MALFORMED, rec, raw))
            else:
                parsed.append(rec)
                raws.append(raw)
                indexes.append(i)
        return merge_errors(validate(parsed, raws, indexes=indexes), errors)

    def stored(self, payload: bytes, end: bytes) -> tuple[bytes, int] | None:
        """The payload's stored lines, each ending with ``end``, written and checked against the
        schema in C (``base.STORE_DIRECT``): (lines, count); None when any message is declined."""
        if not (self.fast and STORE_DIRECT) or _stored_lines is None or _stored_octet is None:
            return None
        if _OCTET_COUNTED.match(payload):
            lines, count, pos = _stored_octet(payload, len(payload), end)
            return (lines, count) if not payload[pos:].strip(b"\r\n") else None
        return _stored_lines(payload, end)

    def _decode_fast(self, records: list[bytes]) -> Decoded | None:
        """The compiled transcoder and one msgspec validation; None sends the batch to the parser."""
        assert _transcode is not None
        return validated_lines(_transcode(records))


def split_octet_counted(payload: bytes) -> tuple[list[bytes], str | None]:
    """RFC 6587 octet-counted messages in a complete payload; the error if one is broken."""
    records: list[bytes] = []
    pos, end = 0, len(payload)
    while pos < end:
        while pos < end and payload[pos] in b"\r\n":  # tolerate a trailer after each frame
            pos += 1
        if pos >= end:
            break
        space = payload.find(b" ", pos, pos + 11)
        digits = payload[pos:space] if space > 0 else b""
        if not digits.isdigit():
            return records, f"octet count expected at byte {pos}, found {payload[pos : pos + 12]!r}"
        length = int(digits)
        start = space + 1
        if start + length > end:
            return records, f"octet count {length} at byte {pos} runs past the end of the payload"
        records.append(payload[start : start + length])
        pos = start + length
    return records, None


CODEC = SyslogCodec()
