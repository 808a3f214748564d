"""Lines to log entries: multi-line joining, per-line format detection, bulk decoding.

Fast path: a chunk that opens with ``{`` is decoded by msgspec in one C call (``decode_lines``
into ``LogEntry``, validated on the way); that call fails at the first line that is not an entry
of our schema (another format, a journal field, a broken line). Anything else,
or a chunk the fast path rejects, goes line by line: lines are joined into records (multi-line),
filtered, their format told by ``codecs.detect.detect_line`` on the record's first line, and each
format's records decoded together by its codec (``decode_lines`` / ``decode_records``), the
entries put back in file order.

Multi-line: a line continues the record before it when it starts with whitespace, ``at ``,
``Caused by:``, ``Suppressed:`` or ``... N more`` (stack traces), or, with
``multiline_start_regex``, when it does not match that pattern. A line that opens with ``{``
(JSON) is always a record of its own. The continuation lines are appended to the message of the
entry parsed from the first line. The last record of a chunk stays pending (it may still grow)
until a new record starts, ``multiline_timeout_seconds`` pass, or the collector stops.

Parse errors: a record its format's codec refuses is counted with the codec's reason
(``malformed``, ``invalid``, ``encoding``; ``too_large`` for lines over ``max_line_bytes``) and
sampled; it is still delivered as a raw entry (the whole record as its message) unless
``keep_unparsed`` is off. JSON objects that are not our schema (``{"msg": ..., "lvl": ...}``)
are mapped from common key names before they count as errors.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec

from workbench import model
from workbench.codecs import timeparse
from workbench.codecs.base import Decoded, RecordError
from workbench.codecs.detect import detect_line
from workbench.codecs.journald import JournaldCodec
from workbench.codecs.json import JsonCodec
from workbench.codecs.raw import LEVEL_ALIASES, RawCodec
from workbench.codecs.syslog import SyslogCodec
from workbench.collector.config import CollectorConfig
from workbench.collector.transform import RecordFilter, Tagger
from workbench.collector.watcher import Chunk, WatchedFile

MAX_MESSAGE = 65536
_CONTINUATION = re.compile(rb"[ \t]|at |Caused by:|Suppressed:|\.\.\. \d+ (?:more|common frames omitted)")
_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def _untracked(entry_type: Any) -> Any:
    """The same struct type (fields, defaults, validation) with instances the cyclic GC skips.

    Entries hold only strings, numbers, a datetime and a dict of strings: they form no cycles,
    and tracking hundreds of thousands of them a second makes the GC the largest cost of a chunk.
    """
    spec: list[tuple[Any, ...]] = []
    for f in msgspec.structs.fields(entry_type):
        if f.required:
            spec.append((f.name, f.type))
        elif f.default_factory is not msgspec.NODEFAULT:
            spec.append((f.name, f.type, msgspec.field(default_factory=f.default_factory)))
        else:
            spec.append((f.name, f.type, f.default))
    cfg = entry_type.__struct_config__
    return msgspec.defstruct(entry_type.__name__, spec, kw_only=True, omit_defaults=cfg.omit_defaults,
                             forbid_unknown_fields=cfg.forbid_unknown_fields, gc=False, module=__name__)  # fmt: skip


Entry: Any = _untracked(model.LogEntry)
_entry_decoder = msgspec.json.Decoder(Entry)
_any_decoder = msgspec.json.Decoder()
_level_of = attrgetter("level")
_TS_KEYS = ("timestamp", "@timestamp", "time", "ts", "datetime", "date")
_LEVEL_KEYS = ("level", "lvl", "severity", "loglevel", "log.level", "levelname")
_SERVICE_KEYS = ("service", "app", "application", "logger", "logger_name", "name", "component")
_MESSAGE_KEYS = ("message", "msg", "text", "log", "event")
_HOST_KEYS = ("host", "hostname")


@dataclass(slots=True)
class ParseError:
    reason: str
    detail: str
    line: bytes


@dataclass(slots=True)
class Parsed:
    entries: list[Any] = field(default_factory=list)
    records: int = 0  # records read (before the filter)
    filtered: int = 0  # records the filter dropped
    errors: list[ParseError] = field(default_factory=list)
    dropped: int = 0  # records lost: unparsable with keep_unparsed off
    levels: Counter[str] = field(default_factory=Counter)
    tags: Counter[str] = field(default_factory=Counter)


class Parser:
    def __init__(self, cfg: CollectorConfig) -> None:
        self.cfg = cfg
        self.filter = RecordFilter(cfg.include_regex, cfg.exclude_regex)
        self.tagger = Tagger(cfg.tag_rules)
        self.multiline = cfg.multiline
        self.start = re.compile(cfg.multiline_start_regex.encode()) if cfg.multiline_start_regex else None
        self.json = JsonCodec()
        self.syslog = SyslogCodec(octet_counting=False)
        self.journald = JournaldCodec()
        self.host = socket.gethostname()
        self._raw: dict[str, RawCodec] = {}

    # --- entry points ------------------------------------------------------------------------
    def parse(self, wf: WatchedFile, chunk: Chunk, now: float) -> Parsed:
        """Entries of the complete records in ``chunk``; the last record may stay pending in ``wf``."""
        out = Parsed()
        for size, sample in chunk.skipped:
            out.errors.append(ParseError("too_large", f"line of {size} bytes over max_line_bytes", sample))
        data = chunk.data
        if not data:
            return out
        # a chunk of our own JSON lines decodes in one call; any other line (or a journal field,
        # unknown to the schema) makes that call fail fast, and the chunk goes line by line
        if not wf.pending.lines and self.start is None and data[:1] == b"{" and self._fast(data, out):
            return out
        records = self._records(wf, chunk, now, out)
        self._decode(records, wf.service or "raw", out)
        return out

    def flush(self, wf: WatchedFile) -> Parsed:
        """Emit the pending record of ``wf`` (quiet for long enough, rotated away, or stopping)."""
        out = Parsed()
        if wf.pending.lines:
            records = [b"\n".join(wf.pending.lines)]
            wf.pending.lines = []
            out.records = 1
            self._decode(records, wf.service or "raw", out)
        return out

    # --- fast path ---------------------------------------------------------------------------

    def _fast(self, data: bytes, out: Parsed) -> bool:
        lines: list[bytes] | None = None
        payload = data
        records = data.count(b"\n")
        if self.filter.active or self.tagger.needs_raw:
            lines = data.split(b"\n")
            lines.pop()  # data ends with a newline
            if self.filter.active:
                lines = self.filter.apply(lines)
            payload = b"\n".join(lines)
        try:
            entries = bulk_decode(payload)
        except _DECODE_ERRORS:
            return False
        if lines is not None and len(lines) != len(entries):  # pragma: no cover - blank lines only
            return False
        out.records += records
        out.filtered += records - len(entries)
        self._finish(entries, lines, out)
        return True

    # --- line by line ------------------------------------------------------------------------
    def _records(self, wf: WatchedFile, chunk: Chunk, now: float, out: Parsed) -> list[bytes]:
        pending = wf.pending
        done: list[list[bytes]] = []
        multiline, start_re, max_lines = self.multiline, self.start, self.cfg.max_record_lines
        limit = self.cfg.max_line_bytes
        pos = chunk.start
        lines = chunk.data.split(b"\n")
        lines.pop()
        for line in lines:
            line_start = pos
            pos += len(line) + 1
            if line[-1:] == b"\r":
                line = line[:-1]
            if len(line) > limit:
                out.errors.append(
                    ParseError("too_large", f"line of {len(line)} bytes over max_line_bytes", line[:256])
                )
                continue
            if not line.strip():
                continue
            if multiline and pending.lines and len(pending.lines) < max_lines and line[:1] != b"{":
                cont = (
                    start_re.match(line) is None
                    if start_re is not None
                    else _CONTINUATION.match(line) is not None
                )
                if cont:
                    pending.lines.append(line)
                    continue
            if pending.lines:
                done.append(pending.lines)
                pending.lines = []
            if multiline and line[:1] != b"{":
                pending.lines = [line]
                pending.start = line_start
            else:
                done.append([line])
        if pending.lines:
            pending.updated = now
        out.records += len(done)
        records = [r[0] if len(r) == 1 else b"\n".join(r) for r in done]
        if self.filter.active:
            kept = self.filter.apply(records)
            out.filtered += len(records) - len(kept)
            records = kept
        return records

    def _decode(self, records: list[bytes], service: str, out: Parsed) -> None:
        if not records:
            return
        groups: dict[str, list[int]] = {}
        heads: list[bytes] = []
        for i, rec in enumerate(records):
            nl = rec.find(b"\n")
            head = rec if nl < 0 else rec[:nl]
            heads.append(head)
            fmt = detect_line(head)
            if fmt == "journald" and head.lstrip()[:1] != b"{":
                fmt = "raw"  # journal export entries span lines; a file of them is read as text
            groups.setdefault(fmt, []).append(i)
        results: list[Any] = [None] * len(records)
        failed: list[tuple[int, RecordError]] = []
        for fmt, idxs in groups.items():
            if fmt == "json":
                decoded = self._decode_json([records[i] for i in idxs])
            elif fmt == "journald":
                decoded = self.journald.decode_json_lines([records[i] for i in idxs])
            elif fmt == "syslog":
                decoded = self.syslog.decode_records([heads[i] for i in idxs])
            else:
                decoded = self._raw_codec(service).decode_records([heads[i] for i in idxs])
            bad = {err.index: err for err in decoded.errors}
            it = iter(decoded.entries)
            for j, i in enumerate(idxs):
                err = bad.get(j)
                if err is not None:
                    failed.append((i, err))
                    continue
                entry = results[i] = next(it)
                if fmt in ("syslog", "raw") and len(heads[i]) != len(records[i]):
                    rest = records[i][len(heads[i]) :].decode("utf-8", "replace")
                    entry.message = (entry.message + rest)[:MAX_MESSAGE]
        for i, err in failed:
            rec = records[i]
            if err.reason != "encoding" and rec[:1] == b"{" and (entry := self._lenient_json(rec, service)):
                results[i] = entry
                continue
            out.errors.append(ParseError(err.reason, err.detail, rec[:4096]))
            if self.cfg.keep_unparsed:
                results[i] = self._fallback(rec, service, err.reason)
        entries = [e for e in results if e is not None]
        out.dropped += len(records) - len(entries)
        self._finish(entries, None if not self.tagger.needs_raw else
                     [r for r, e in zip(records, results, strict=True) if e is not None], out)  # fmt: skip

    def _decode_json(self, lines: list[bytes]) -> Decoded:
        try:
            return Decoded(bulk_decode(b"\n".join(lines)))
        except _DECODE_ERRORS:
            return self.json.decode_lines(lines)

    def _finish(self, entries: list[Any], raws: Sequence[bytes] | None, out: Parsed) -> None:
        if self.tagger.active:
            out.tags.update(self.tagger.apply(entries, raws))
        out.levels.update(map(_level_of, entries))
        out.entries.extend(entries)

    # --- fallbacks ---------------------------------------------------------------------------
    def _raw_codec(self, service: str) -> RawCodec:
        codec = self._raw.get(service)
        if codec is None:
            codec = self._raw[service] = RawCodec(default_service=service, default_host=self.host)
        return codec

    def _fallback(self, rec: bytes, service: str, reason: str) -> Any:
        text = rec.decode("utf-8", "replace")
        fields = self._raw_codec(service).parse_line(text.split("\n", 1)[0], model.now_utc())
        fields["message"] = text[:MAX_MESSAGE]
        fields["attributes"] = {"parse_error": reason}
        try:
            return model.to_entry(fields)
        except msgspec.ValidationError:
            return None

    def _lenient_json(self, rec: bytes, service: str) -> Any:
        """A JSON object in someone else's layout, mapped by common key names (None if not an object)."""
        try:
            obj = _any_decoder.decode(rec)
        except _DECODE_ERRORS:
            return None
        if not isinstance(obj, dict):
            return None
        used: set[str] = set()

        def pick(keys: tuple[str, ...]) -> Any:
            for k in keys:
                if k in obj and obj[k] is not None and not isinstance(obj[k], dict | list):
                    used.add(k)
                    return obj[k]
            return None

        ts = _timestamp(pick(_TS_KEYS))
        level = LEVEL_ALIASES.get(str(pick(_LEVEL_KEYS) or "INFO").upper(), "INFO")
        svc = str(pick(_SERVICE_KEYS) or service)[:256] or service
        message = pick(_MESSAGE_KEYS)
        host = str(pick(_HOST_KEYS) or self.host)[:256]
        fields: dict[str, Any] = {
            "timestamp": ts or model.now_utc(),
            "level": level,
            "service": svc,
            "message": "" if message is None else str(message)[:MAX_MESSAGE],
            "host": host,
        }
        for f in ("user_id", "session_id", "trace_id", "client_id"):
            v = obj.get(f)
            if isinstance(v, str | int) and not isinstance(v, bool):
                fields[f] = str(v)[:256]
                used.add(f)
        seq = obj.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0:
            fields["seq"] = seq
            used.add("seq")
        attrs: dict[str, str] = {}
        src = obj.get("attributes")
        if isinstance(src, dict):
            used.add("attributes")
            attrs.update(
                {str(k): v if isinstance(v, str) else msgspec.json.encode(v).decode() for k, v in src.items()}
            )
        for k, v in obj.items():
            if k not in used and len(attrs) < 128:
                attrs[k] = v if isinstance(v, str) else msgspec.json.encode(v).decode()
        fields["attributes"] = {k[:256]: v[:8192] for k, v in list(attrs.items())[:128]}
        try:
            return model.to_entry(fields)
        except msgspec.ValidationError:
            return None


def bulk_decode(payload: bytes) -> list[Any]:
    """JSON lines to validated entries in one C call, with the cyclic GC paused meanwhile.

    Each entry holds a dict, so the collector tracks every one; left on, it runs a collection
    every few hundred entries of a batch of thousands, which more than halves the decode rate.
    The entries form no cycles, so pausing it loses nothing.
    """
    if not gc.isenabled():
        return _entry_decoder.decode_lines(payload)  # type: ignore[no-any-return]
    gc.disable()
    try:
        return _entry_decoder.decode_lines(payload)  # type: ignore[no-any-return]
    finally:
        gc.enable()


def _timestamp(value: Any) -> dt.datetime | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds or seconds
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return timeparse.parse_iso(str(value))
