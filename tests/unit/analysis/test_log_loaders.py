"""Loaders: every file kind the ingestor and the collector write, into one Arrow schema.

Invariant: whatever the kind and compression, the loaded rows equal the entries written (the
fields each kind keeps), in the schema ``workbench.storage.sinks.arrow_schema()``.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest
import zstandard

from workbench.analysis.logs import LoadStats, file_kind, find_log_files, iter_batches, read_logs, scan_logs
from workbench.storage.sinks import arrow_schema, convert, jsonl_to_parquet

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
LEVELS = ["INFO", "ERROR", "DEBUG", "WARN"]


def _entry(i: int) -> dict[str, object]:
    return {
        "timestamp": (T0 + dt.timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
        "level": LEVELS[i % 4], "service": f"svc-{i % 3}", "message": f"message {i} with \"quotes\", commas",
        "host": "h1", "user_id": f"u-{i}" if i % 2 else None, "attributes": {"k": str(i)} if i % 3 else {},
        "client_id": "c0", "seq": i, "received_at": (T0 + dt.timedelta(milliseconds=i + 5)).isoformat().replace("+00:00", "Z"),
        "format": "json", "transport": "tls", "peer": "127.0.0.1:1",
    }  # fmt: skip


N = 300
ENTRIES = [_entry(i) for i in range(N)]
JSONL = b"".join(json.dumps({k: v for k, v in e.items() if v is not None}).encode() + b"\n" for e in ENTRIES)


def _check(table: object, *, extras: bool = True) -> None:
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    assert table.schema.equals(arrow_schema())  # type: ignore[attr-defined]
    assert df.height == N
    df = df.sort("seq")
    assert df["seq"].to_list() == list(range(N))
    assert df["level"].to_list() == [e["level"] for e in ENTRIES]
    assert df["message"][7] == ENTRIES[7]["message"]
    assert df["timestamp"][5] == T0 + dt.timedelta(milliseconds=5)
    assert df["user_id"][1] == "u-1" and df["user_id"][2] is None
    assert df["attributes"][4] == {"k": "4"}
    assert not df["attributes"][3]
    if extras:
        assert df["received_at"][0] == T0 + dt.timedelta(milliseconds=5)
        assert set(df["transport"].to_list()) == {"tls"}


@pytest.fixture(scope="module")
def segment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("seg") / "log_0_20260102_030405.jsonl"
    p.write_bytes(JSONL)
    return p


def test_jsonl_plain_zstd_gzip(tmp_path: Path, segment: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(JSONL)
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(JSONL))
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(JSONL))
    for name in ("a.jsonl", "b.jsonl.zst", "c.jsonl.gz"):
        _check(read_logs(tmp_path / name))


def test_zstd_of_several_frames_streams(tmp_path: Path) -> None:
    """A segment compressed in several frames (as a writer flushing blocks does) is read whole."""
    half = len(JSONL) // 2
    cut = JSONL.index(b"\n", half) + 1
    c = zstandard.ZstdCompressor()
    (tmp_path / "x.jsonl.zst").write_bytes(c.compress(JSONL[:cut]) + c.compress(JSONL[cut:]))
    _check(read_logs(tmp_path / "x.jsonl.zst"))


def test_ingestor_csv_text_and_parquet_outputs(tmp_path: Path, segment: Path) -> None:
    buf = io.BytesIO()
    convert(segment, "csv", buf)
    (tmp_path / "s.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    (tmp_path / "s.csv").write_bytes(buf.getvalue())
    _check(read_logs(tmp_path / "s.csv.zst"))
    _check(read_logs(tmp_path / "s.csv"))
    text = io.BytesIO()
    convert(segment, "text", text)
    (tmp_path / "s.log.zst").write_bytes(zstandard.ZstdCompressor().compress(text.getvalue()))
    _check(read_logs(tmp_path / "s.log.zst"), extras=False)  # the text layout has no receive fields
    jsonl_to_parquet(segment, tmp_path / "s.parquet")
    _check(read_logs(tmp_path / "s.parquet"))


def test_collector_jsonl_csv_and_sqlite(tmp_path: Path) -> None:
    # the collector's JSONL carries keys of its own (tags, source file): ignored
    lines = [json.dumps({**{k: v for k, v in e.items() if v is not None}, "tags": ["x"], "source": "/var/log/a"})
             for e in ENTRIES]  # fmt: skip
    (tmp_path / "collected.jsonl").write_text("\n".join(lines) + "\n")
    _check(read_logs(tmp_path / "collected.jsonl"))
    # CSV with a column order of its own and without the receive fields
    cols = [
        "message",
        "timestamp",
        "level",
        "service",
        "host",
        "user_id",
        "attributes",
        "client_id",
        "seq",
        "tags",
    ]
    with open(tmp_path / "collected.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for e in ENTRIES:
            w.writerow([json.dumps(e["attributes"]) if c == "attributes" else ("x" if c == "tags" else ("" if e.get(c) is None else e[c]))
                        for c in cols])  # fmt: skip
    _check(read_logs(tmp_path / "collected.csv"), extras=False)
    con = sqlite3.connect(tmp_path / "collected.db")
    con.execute("CREATE TABLE logs (timestamp TEXT, level TEXT, service TEXT, message TEXT, host TEXT, "
                "user_id TEXT, attributes TEXT, client_id TEXT, seq INTEGER, tags TEXT)")  # fmt: skip
    con.executemany("INSERT INTO logs VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [(e["timestamp"], e["level"], e["service"], e["message"], e["host"], e["user_id"],
                      json.dumps(e["attributes"]), e["client_id"], e["seq"], "x") for e in ENTRIES])  # fmt: skip
    con.commit()
    con.close()
    _check(read_logs(tmp_path / "collected.db"), extras=False)


def test_a_data_dir_reads_every_file_and_skips_tls_and_rejected(tmp_path: Path) -> None:
    d = tmp_path / "data"
    (d / "tls").mkdir(parents=True)
    (d / "rejected").mkdir()
    (d / "tls" / "ingestor-cert.pem").write_text("x")
    (d / "rejected" / "rejected_0.jsonl").write_text('{"reason":"malformed"}\n')
    half = [JSONL.split(b"\n")[:150], JSONL.split(b"\n")[150:]]
    (d / "log_0_1.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(half[0]) + b"\n"))
    (d / "log_0_2.jsonl").write_bytes(b"\n".join(half[1]))  # the in-progress segment
    assert [p.name for p in find_log_files(d)] == ["log_0_1.jsonl.zst", "log_0_2.jsonl"]
    _check(read_logs(d))


def test_bad_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    data = JSONL.replace(b"\n", b"\nnot json\n", 1) + b'{"level": 5}\n'
    (tmp_path / "bad.jsonl").write_bytes(data)
    stats = LoadStats()
    _check(read_logs(tmp_path / "bad.jsonl", stats=stats))
    assert stats.skipped == 2 and stats.rows == N and stats.files == 1


def test_batches_are_bounded_and_the_lazy_scan_pushes_down(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(JSONL))
    sizes = [b.num_rows for b in iter_batches(tmp_path, batch_rows=64)]
    assert max(sizes) <= 64 and sum(sizes) == N
    lf = scan_logs(tmp_path, batch_rows=64)
    errors = lf.filter(pl.col("level") == "ERROR").select("seq", "service").collect(engine="streaming")
    assert errors.columns == ["seq", "service"] and errors.height == N // 4
    assert lf.head(5).collect().height == 5
    counts = dict(lf.group_by("level").len().collect().iter_rows())
    assert counts == {lv: N // 4 for lv in LEVELS}


def test_file_kinds_and_a_clear_error(tmp_path: Path) -> None:
    assert file_kind(Path("log_0.jsonl.zst")) == ("jsonl", "zst")
    assert file_kind(Path("x.csv.gz")) == ("csv", "gz")
    assert file_kind(Path("collected.db")) == ("sqlite", None)
    assert file_kind(Path("cert.pem")) is None
    from workbench.errors import ConfigError

    with pytest.raises(ConfigError, match="no such file"):
        read_logs(tmp_path / "missing")
