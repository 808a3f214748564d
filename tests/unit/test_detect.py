"""Format detection per line: the loghub samples, our own encoders' output, and JSON edge cases.

``test_loghub_detection_accuracy`` computes the accuracy of every sample file against its
known format and reports the table (shown with ``pytest -s``, and in the failure message).
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import model
from workbench.codecs.detect import detect_line, detect_lines
from workbench.codecs.journald import JournaldCodec
from workbench.codecs.json import JsonCodec
from workbench.codecs.raw import RawCodec
from workbench.codecs.syslog import SyslogCodec

EXPECTED = {"Apache_2k": "raw", "HDFS_2k": "raw", "Linux_2k": "syslog", "OpenSSH_2k": "syslog"}


def sample_entries() -> list:
    base = dt.datetime(2025, 6, 30, 21, 59, 23, 123_000, tzinfo=dt.UTC)
    return [
        model.to_entry(
            {
                "timestamp": base + dt.timedelta(seconds=i),
                "level": level,
                "service": "payment-api",
                "message": f"charge {i} failed for 東京 😀" if i % 2 else "ok",
                "host": "web-1" if i % 3 else "",
                "user_id": str(i) if i % 2 else None,
                "attributes": {"region": "eu"} if i % 2 else {},
                "seq": i,
            }
        )
        for i, level in enumerate(model.LEVELS)
    ]


def accuracy_table(loghub_lines: dict[str, list[bytes]]) -> tuple[dict[str, float], str]:
    rows = ["file          expected  lines  correct  accuracy  (other formats seen)"]
    accuracy: dict[str, float] = {}
    for name, expected in EXPECTED.items():
        lines = loghub_lines[name]
        found = detect_lines(lines)
        correct = len(found.get(expected, []))
        accuracy[name] = correct / len(lines)
        others = {fmt: len(ix) for fmt, ix in found.items() if fmt != expected}
        rows.append(
            f"{name:<13} {expected:<9} {len(lines):>5}  {correct:>7}  {accuracy[name]:>8.2%}  {others or ''}"
        )
    return accuracy, "\n".join(rows)


def test_loghub_detection_accuracy(loghub_lines: dict[str, list[bytes]]) -> None:
    accuracy, table = accuracy_table(loghub_lines)
    print("\n" + table)
    assert all(len(loghub_lines[name]) == 2000 for name in EXPECTED), "the samples have 2000 lines each"
    assert all(a == 1.0 for a in accuracy.values()), "detection accuracy below 100%:\n" + table


def test_our_encoders_output_is_detected_as_its_format() -> None:
    entries = sample_entries()
    payloads = {
        "json": JsonCodec().encode(entries),
        "journald": JournaldCodec(json_lines=True).encode(entries),
        "syslog": SyslogCodec(octet_counting=False).encode(entries),
        "raw": RawCodec().encode(entries),
    }
    for fmt, payload in payloads.items():
        lines = payload.splitlines()
        assert len(lines) == len(entries)
        assert detect_lines(lines) == {fmt: list(range(len(entries)))}, fmt
    octet = SyslogCodec().encode(entries[:1])
    assert detect_line(octet) == "syslog"  # LEN <PRI>
    export = JournaldCodec().encode(entries)
    assert detect_line(export.split(b"\n", 1)[0]) == "journald"


def test_golden_lines() -> None:
    cases = {
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed": "syslog",
        b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!": "syslog",
        b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster": "syslog",
        b"  <13>1 2025-06-30T21:59:23Z h a - - - leading blanks": "syslog",
        b"__CURSOR=s=6f1c;i=1": "journald",
        b"_HOSTNAME=web-1": "journald",
        b'{"__REALTIME_TIMESTAMP": "1", "MESSAGE": "m"}': "journald",
        b'{"MESSAGE": "m", "PRIORITY": "6"}': "journald",
        b'{"message": "mentions \\"MESSAGE\\": and \\"PRIORITY\\": in a value"}': "json",
        b'{"message": "__CURSOR"}': "json",
        b'{"timestamp": "2025-06-30T21:59:23Z"}': "json",
        b"2025-06-30T21:59:23.123Z ERROR payment-api: charge failed user_id=42": "raw",
        b"[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok": "raw",
        b"081109 203615 148 INFO dfs.DataNode$PacketResponder: done": "raw",
        b"<html> is not a PRI": "raw",
        b"": "raw",
    }
    for line, fmt in cases.items():
        assert detect_line(line) == fmt, line


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([b"", b" ", b"\t", b"  "]), st.binary(max_size=60))
def test_a_line_opening_with_a_brace_is_never_raw(blank: bytes, rest: bytes) -> None:
    assert detect_line(blank + b"{" + rest) in ("json", "journald")


def test_broken_json_is_json_not_raw() -> None:
    for line in (b'{"a":', b"{", b"{not json at all", b' {"MESSAGE": '):
        assert detect_line(line) in ("json", "journald"), line
    assert detect_line(b'{"a":') == "json"
