"""Parser: fast path, per-line detection, multi-line joining, fallbacks, filters and tags.

Invariant checked throughout: every record read is either delivered as exactly one entry, dropped
by a filter (counted) or counted as a parse error (and still delivered unless told otherwise);
entries keep file order.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import msgspec
import pytest

from workbench import model
from workbench.collector.config import CollectorConfig, TagRule
from workbench.collector.fingerprint import Fingerprint
from workbench.collector.parse import Parsed, Parser
from workbench.collector.watcher import Chunk, WatchedFile

T0 = dt.datetime(2025, 6, 30, 21, 59, 23, tzinfo=dt.UTC)


def entry_line(i: int, level: str = "INFO", message: str | None = None) -> bytes:
    e = model.LogEntry(timestamp=T0 + dt.timedelta(seconds=i), level=level, service="api",
                       message=message or f"request {i}", host="h1", seq=i)  # fmt: skip
    return msgspec.json.encode(e)


@pytest.fixture
def wf(tmp_path: Path) -> WatchedFile:
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    w = WatchedFile(str(path), fd, os.fstat(fd), 0, Fingerprint.of_fd(fd))
    w.service = "app"
    yield w
    w.close()


def parse(cfg: CollectorConfig, wf: WatchedFile, data: bytes, start: int = 0) -> Parsed:
    return Parser(cfg).parse(wf, Chunk(data, start), now=0.0)


def cfg(**kw: object) -> CollectorConfig:
    return CollectorConfig(inputs=("x",), **kw)  # type: ignore[arg-type]


def test_json_chunk_is_decoded_in_bulk_in_order(wf: WatchedFile) -> None:
    data = b"".join(entry_line(i, "WARN" if i % 3 == 0 else "INFO") + b"\n" for i in range(100))
    out = parse(cfg(), wf, data)
    assert [e.seq for e in out.entries] == list(range(100))
    assert out.records == 100 and not out.errors
    assert out.levels == {"WARN": 34, "INFO": 66}
    assert wf.consumed == 0 and not wf.pending.lines  # offsets are the watcher's; nothing pending


def test_mixed_formats_keep_file_order(wf: WatchedFile) -> None:
    lines = [
        entry_line(0),
        b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186",
        b"<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - 'su root' failed",
        b'{"__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":"journal says hi","PRIORITY":"3","SYSLOG_IDENTIFIER":"unit"}',
        b"[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6",
        entry_line(5),
    ]
    out = parse(cfg(multiline=False), wf, b"\n".join(lines) + b"\n")
    assert not out.errors, out.errors
    got = [(e.service, e.level) for e in out.entries]
    assert got == [("api", "INFO"), ("sshd", "INFO"), ("su", "FATAL"), ("unit", "ERROR"), ("app", "ERROR"),
                   ("api", "INFO")]  # fmt: skip
    assert out.entries[1].host == "LabSZ" and out.entries[3].message == "journal says hi"


def test_stack_trace_is_one_entry_and_last_record_waits(wf: WatchedFile) -> None:
    text = (
        b"2025-06-30T21:59:23Z ERROR billing: charge failed\n"
        b"java.lang.IllegalStateException: no card\n"
        b"\tat com.shop.Billing.charge(Billing.java:42)\n"
        b"\tat com.shop.Api.handle(Api.java:7)\n"
        b"Caused by: java.io.IOException: gateway down\n"
        b"\t... 12 more\n"
        b"2025-06-30T21:59:24Z INFO billing: retry ok\n"
    )
    parser = Parser(cfg())
    out = parser.parse(wf, Chunk(text, 0), now=0.0)
    # the exception line does not continue the record by the default rule (no indentation)
    assert [e.message.split("\n")[0] for e in out.entries] == [
        "charge failed",
        "java.lang.IllegalStateException: no card",
    ]
    assert (
        out.entries[1].message.count("\n") == 4 and "Caused by: java.io.IOException" in out.entries[1].message
    )
    # the last record may still get continuation lines: pending, and the checkpoint stays before it
    assert wf.pending.lines == [b"2025-06-30T21:59:24Z INFO billing: retry ok"]
    assert wf.consumed == text.index(b"2025-06-30T21:59:24Z")
    flushed = parser.flush(wf)
    assert [e.message for e in flushed.entries] == ["retry ok"] and not wf.pending.lines


def test_multiline_start_pattern_joins_everything_else(wf: WatchedFile) -> None:
    text = (b"2025-06-30 10:00:00 first\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
            b"ValueError: bad\n2025-06-30 10:00:01 second\n")  # fmt: skip
    parser = Parser(cfg(multiline_start_regex=r"^\d{4}-\d\d-\d\d "))
    out = parser.parse(wf, Chunk(text, 0), now=0.0)
    assert len(out.entries) == 1
    assert out.entries[0].message.endswith("ValueError: bad") and out.entries[0].message.count("\n") == 3
    assert len(parser.flush(wf).entries) == 1


def test_pending_record_continues_in_the_next_chunk(wf: WatchedFile) -> None:
    parser = Parser(cfg())
    first = b"2025-06-30T21:59:23Z ERROR api: boom\n"
    out1 = parser.parse(wf, Chunk(first, 100), now=0.0)
    assert not out1.entries and wf.consumed == 100
    out2 = parser.parse(wf, Chunk(b"    at handler\n" + entry_line(1) + b"\n", 100 + len(first)), now=0.0)
    assert [e.message for e in out2.entries] == ["boom\n    at handler", "request 1"]


def test_foreign_json_is_mapped_and_broken_json_counted_but_kept(wf: WatchedFile) -> None:
    data = (b'{"ts": 1700000000, "lvl": "warning", "msg": "disk 91%", "app": "df", "mount": "/"}\n'
            b'{"broken\n' + entry_line(2) + b"\n")  # fmt: skip
    out = parse(cfg(), wf, data)
    assert [e.message for e in out.entries] == ["disk 91%", '{"broken', "request 2"]
    foreign = out.entries[0]
    assert (foreign.level, foreign.service, foreign.attributes) == ("WARN", "df", {"mount": "/"})
    assert foreign.timestamp == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert [(e.reason, e.line) for e in out.errors] == [("malformed", b'{"broken')]
    assert out.entries[1].attributes == {"parse_error": "malformed"}
    dropped = parse(cfg(keep_unparsed=False), wf, data)
    assert len(dropped.entries) == 2 and dropped.dropped == 1


def test_invalid_utf8_is_an_encoding_error(wf: WatchedFile) -> None:
    out = parse(cfg(multiline=False), wf, b"<13>Jan  1 00:00:00 host app: caf\xe9\n")
    assert [e.reason for e in out.errors] == ["encoding"]
    assert out.entries[0].message.startswith("<13>Jan") and "\ufffd" in out.entries[0].message


def test_over_long_line_is_skipped_and_counted(wf: WatchedFile) -> None:
    long = b"x" * 5000
    out = parse(cfg(max_line_bytes=1024, multiline=False), wf, b"short one\n" + long + b"\nlast\n")
    assert [e.message for e in out.entries] == ["short one", "last"]
    assert [e.reason for e in out.errors] == ["too_large"]


@pytest.mark.parametrize("json_lines", [True, False])
def test_filter_and_exclude(wf: WatchedFile, json_lines: bool) -> None:
    msgs = ["GET /api/users 200", "GET /health 200", "POST /api/pay 500", "GET /api/health 200"]
    if json_lines:
        data = b"".join(entry_line(i, message=m) + b"\n" for i, m in enumerate(msgs))
    else:
        data = "".join(f"2025-06-30T21:59:2{i}Z INFO web: {m}\n" for i, m in enumerate(msgs)).encode()
    p = Parser(cfg(include_regex="/api/", exclude_regex="health", multiline=False))
    out = p.parse(wf, Chunk(data, 0), now=0.0)
    assert [e.message for e in out.entries] == ["GET /api/users 200", "POST /api/pay 500"]
    assert (out.records, out.filtered) == (4, 2)


@pytest.mark.parametrize("json_lines", [True, False])
def test_tags_from_raw_text_and_fields(wf: WatchedFile, json_lines: bool) -> None:
    rules = (
        TagRule(tag="auth", pattern="(?i)login|password"),
        TagRule(tag="payment", pattern="pay|charge", field="message"),
        TagRule(tag="api", pattern="^api$", field="service"),
        TagRule(tag="errors", pattern="ERROR|FATAL", field="level"),
    )
    msgs = ["user login ok", "charge failed", "nothing here"]
    if json_lines:
        data = b"".join(entry_line(i, "ERROR" if i == 1 else "INFO", m) + b"\n" for i, m in enumerate(msgs))
    else:
        data = "".join(f"2025-06-30T21:59:2{i}Z {'ERROR' if i == 1 else 'INFO'} api: {m}\n"
                       for i, m in enumerate(msgs)).encode()  # fmt: skip
    out = Parser(cfg(tag_rules=rules, multiline=False)).parse(wf, Chunk(data, 0), now=0.0)
    assert [e.attributes.get("tags") for e in out.entries] == ["auth,api", "payment,api,errors", "api"]
    assert out.tags == {"api": 3, "auth": 1, "payment": 1, "errors": 1}
