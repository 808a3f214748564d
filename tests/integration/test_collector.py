"""The collector in-process on real files: rotation, truncation, new files, restarts, outputs, metrics.

Every test writes lines that carry a unique number, lets the collector run, and checks that each
number arrived exactly once (``assert_once`` reports missing and duplicated ones). Intervals are
short so the tests wait little; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from workbench.collector import Collector, CollectorConfig, TagRule

T = TypeVar("T")
FAST = {
    "poll_interval_seconds": 0.05,
    "glob_interval_seconds": 0.1,
    "flush_interval_seconds": 0.1,
    "rotate_wait_seconds": 0.3,
    "multiline_timeout_seconds": 0.2,
    "stats_interval_seconds": None,
}


def config(tmp: Path, inputs: list[str] | tuple[str, ...], **kw: Any) -> CollectorConfig:
    settings: dict[str, Any] = {**FAST, "inputs": tuple(inputs), "state_dir": tmp / "state",
                                "output_path": tmp / "out" / "collected.jsonl"}  # fmt: skip
    settings.update(kw)
    return CollectorConfig(**settings)


def run(coro: Awaitable[T], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def wait_until(pred: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


def lines(start: int, n: int, tag: str = "") -> bytes:
    return "".join(
        f"2025-06-30T21:59:23Z INFO app: event {tag}{i} seq={i}\n" for i in range(start, start + n)
    ).encode()


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def assert_once(records: list[dict[str, Any]], expected: range) -> None:
    counts = Counter(r.get("seq") for r in records)
    missing = sorted(set(expected) - set(counts))
    dups = {k: v for k, v in counts.items() if v > 1}
    extra = sorted(set(counts) - set(expected), key=str)
    assert not missing and not dups and not extra, (
        f"{len(missing)} missing (first {missing[:10]}), {len(dups)} duplicated "
        f"(first {list(dups.items())[:10]}), unexpected {extra[:10]}"
    )


def seqs_seen(c: Collector) -> float:
    return c.metrics.total("entries")


# --- rotation, truncation, new files --------------------------------------------------------


@pytest.mark.parametrize("pattern", ["app.log", "app.log*"])
def test_rotation_by_rename(tmp_path: Path, pattern: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    app.write_bytes(lines(0, 100))
    cfg = config(tmp_path, [str(logs / pattern)])

    async def scenario() -> Collector:
        c = Collector(cfg)
        await c.start()
        await wait_until(lambda: seqs_seen(c) >= 100, what="the first 100 lines")
        with app.open("ab") as old:
            app.rename(logs / "app.log.1")  # logrotate's rename; the writer still holds the old file
            old.write(lines(100, 50))  # written after the rename, before the app reopens
            old.flush()
            app.write_bytes(lines(150, 100))  # the app's new file
        await wait_until(lambda: seqs_seen(c) >= 250, what="all 250 lines")
        await asyncio.sleep(0.5)  # more lines would be duplicates: give them the chance to show
        await c.stop()
        return c

    c = run(scenario())
    assert_once(read_jsonl(cfg.resolved_output), range(250))  # type: ignore[arg-type]
    if pattern == "app.log":
        assert c.metrics.counters["rotations"]["rename"] == 1


def test_copy_truncate_and_truncation(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.write_bytes(lines(0, 100))
    cfg = config(tmp_path, [str(app)])

    async def scenario() -> Collector:
        c = Collector(cfg)
        await c.start()
        await wait_until(lambda: seqs_seen(c) >= 100, what="the first 100 lines")
        shutil.copy(app, tmp_path / "app.log.1")  # logrotate copytruncate
        with app.open("r+b") as fh:
            fh.truncate(0)
        await wait_until(lambda: c.metrics.counters["rotations"]["truncate"] >= 1, what="the truncation")
        append(app, lines(100, 60))
        await wait_until(lambda: seqs_seen(c) >= 160, what="lines after the truncation")
        # cut short and rewritten past the old offset before the collector looks: the fingerprint tells
        app.write_bytes(lines(160, 70, tag="x") + lines(230, 10))
        await wait_until(lambda: seqs_seen(c) >= 240, what="lines after the rewrite")
        await asyncio.sleep(0.3)
        await c.stop()
        return c

    c = run(scenario())
    assert_once(read_jsonl(cfg.resolved_output), range(240))  # type: ignore[arg-type]
    assert c.metrics.counters["rotations"]["truncate"] == 2


def test_new_files_and_a_directory_that_appears_later(tmp_path: Path) -> None:
    later = tmp_path / "later"
    cfg = config(tmp_path, [str(later / "*.log"), str(tmp_path / "a.log")])

    async def scenario() -> None:
        c = Collector(cfg)
        await c.start()
        await asyncio.sleep(0.2)
        (tmp_path / "a.log").write_bytes(lines(0, 10))
        later.mkdir()
        (later / "x.log").write_bytes(lines(10, 10))
        (later / "y.txt").write_bytes(lines(1000, 10))  # not matched
        await wait_until(lambda: seqs_seen(c) >= 20, what="lines of the new files")
        (later / "z.log").write_bytes(lines(20, 10))
        await wait_until(lambda: seqs_seen(c) >= 30, what="lines of a file created later")
        await c.stop()

    run(scenario())
    assert_once(read_jsonl(cfg.resolved_output), range(30))  # type: ignore[arg-type]


def test_restart_resumes_from_the_checkpoint_and_partial_lines_wait(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.write_bytes(lines(0, 100) + b"2025-06-30T21:59:23Z INFO app: half a li")
    cfg = config(tmp_path, [str(app)])

    async def one_run(more: bytes, expect: int) -> None:
        c = Collector(cfg)
        await c.start()
        append(app, more)
        await wait_until(lambda: seqs_seen(c) >= expect, what=f"{expect} entries")
        await asyncio.sleep(0.3)
        await c.stop()

    run(one_run(b"", 100))
    assert len(read_jsonl(cfg.resolved_output)) == 100  # the unfinished line waits
    run(one_run(b"ne seq=100\n" + lines(101, 49), 50))
    run(one_run(lines(150, 50), 50))
    out = read_jsonl(cfg.resolved_output)  # type: ignore[arg-type]
    assert_once(out, range(200))
    assert out[100]["message"] == "half a line"


def test_multiline_records_in_a_file(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    trace = (b"2025-06-30T21:59:23Z ERROR app: failed seq=1\n"
             b"  File \"main.py\", line 3, in <module>\n    run()\n"
             b"2025-06-30T21:59:24Z INFO app: recovered seq=2\n")  # fmt: skip
    app.write_bytes(trace)
    cfg = config(tmp_path, [str(app)], multiline_start_regex=r"^\d{4}-\d\d-\d\dT")

    async def scenario() -> None:
        c = Collector(cfg)
        await c.start()
        await wait_until(lambda: seqs_seen(c) >= 2, what="both records (the second after the timeout)")
        await c.stop()

    run(scenario())
    out = read_jsonl(cfg.resolved_output)  # type: ignore[arg-type]
    assert [r["message"].count("\n") for r in out] == [2, 0], out


# --- outputs --------------------------------------------------------------------------------

RULES = (TagRule(tag="auth", pattern="(?i)password|authentication|invalid user"),
         TagRule(tag="errors", pattern="ERROR|FATAL", field="level"))  # fmt: skip


@pytest.mark.parametrize("output_type", ["jsonl", "sqlite", "csv"])
def test_outputs_read_back(tmp_path: Path, loghub_dir: Path, output_type: str) -> None:
    src = tmp_path / "OpenSSH.log"
    shutil.copy(loghub_dir / "OpenSSH_2k.log", src)
    ext = {"jsonl": "jsonl", "sqlite": "db", "csv": "csv"}[output_type]
    out = tmp_path / "out" / f"collected.{ext}"
    cfg = config(tmp_path, [str(src)], output_type=output_type, output_path=out, tag_rules=RULES,
                 exclude_regex="Received disconnect", partial_line_timeout_seconds=0.2)  # fmt: skip

    async def scenario() -> Collector:
        c = Collector(cfg)
        await c.start()
        await wait_until(lambda: c.metrics.total("lines") >= 2000, what="2000 lines")
        await c.stop()
        return c

    c = run(scenario())
    filtered = int(c.metrics.total("filtered"))
    assert filtered > 0
    if output_type == "jsonl":
        rows = [{**r, "tags": r.get("attributes", {}).get("tags", "")} for r in read_jsonl(out)]
    elif output_type == "csv":
        with out.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert list(rows[0])[:5] == ["timestamp", "level", "service", "host", "message"]
    else:
        db = sqlite3.connect(out)
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM logs ORDER BY id")]
        indexes = {r[1] for r in db.execute("PRAGMA index_list(logs)")}
        assert {"logs_timestamp", "logs_level", "logs_service", "logs_tags"} <= indexes
        db.close()
    assert len(rows) == 2000 - filtered
    assert not any("Received disconnect" in r["message"] for r in rows)
    tagged = Counter(t for r in rows for t in (r["tags"] or "").split(",") if t)
    assert tagged["auth"] == c.metrics.counters["tags"]["auth"] > 0
    assert all(r["service"] == "sshd" and r["host"] == "LabSZ" for r in rows)


def test_loghub_files_parse(tmp_path: Path, loghub_dir: Path) -> None:
    # the samples do not end with a newline: take the last line once the file is quiet
    cfg = config(tmp_path, [str(loghub_dir / "*_2k.log")], partial_line_timeout_seconds=0.2)
    expected = sum(
        sum(1 for ln in (loghub_dir / f).read_bytes().split(b"\n") if ln.strip())
        for f in ("Apache_2k.log", "HDFS_2k.log", "Linux_2k.log", "OpenSSH_2k.log")
    )

    async def scenario() -> Collector:
        c = Collector(cfg)
        await c.start()
        await wait_until(lambda: c.metrics.total("lines") >= expected, what="the loghub lines")
        await c.stop()
        return c

    c = run(scenario())
    summary = c.metrics.summary()
    errors = summary["totals"]["parse_errors"]
    out = read_jsonl(cfg.resolved_output)  # type: ignore[arg-type]
    assert len(out) == expected, f"{len(out)} entries of {expected} lines; parse errors: {errors}"
    assert errors == 0, f"{errors:.0f} parse errors in loghub samples: {summary['recent_parse_errors'][:3]}"
    by_service = Counter(r["service"] for r in out)
    assert by_service["sshd"] >= 2000 and by_service["Apache_2k"] == 2000 and by_service["HDFS_2k"] == 2000
    assert {r["level"] for r in out} >= {"INFO", "ERROR"}


def test_metrics_served_while_tailing(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.write_bytes(lines(0, 50) + b'{"broken\n')
    cfg = config(tmp_path, [str(app)], http_port=0, tag_rules=RULES[:1])

    async def scenario() -> tuple[str, dict[str, Any], str]:
        c = Collector(cfg)
        await c.start()
        try:
            await wait_until(lambda: c.metrics.total("lines") >= 51, what="51 lines")
            base = f"http://127.0.0.1:{c.http_port}"
            async with aiohttp.ClientSession() as s:
                async with s.get(base + "/metrics") as r:
                    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
                    text = await r.text()
                async with s.get(base + "/metrics.json") as r:
                    js = await r.json()
                async with s.get(base + "/") as r:
                    page = await r.text()
        finally:
            await c.stop()
        return text, js, page

    text, js, page = run(scenario())
    assert f'collector_lines_total{{file="{app}"}} 51' in text
    assert 'collector_entries_total{level="INFO"} 51' in text
    assert 'collector_parse_errors_total{reason="malformed"} 1' in text
    assert js["totals"]["parse_errors"] == 1 and js["recent_parse_errors"][0]["line"] == '{"broken'
    assert "<title>collector</title>" in page
    samples = (tmp_path / "state" / "parse_errors.jsonl").read_text().splitlines()
    assert json.loads(samples[0])["reason"] == "malformed"
