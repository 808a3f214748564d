"""Exact accounting of a cell: what each client sent against what the output files hold.

Every generated log carries ``client_id`` and ``seq`` (consecutive per client from its first
seq). After a cell, every output file of the ingestor (compressed or not, finished or still
open) is read and, per client, compared with the generator's summary:

* ``stored``: distinct seqs of the client found in the files;
* ``duplicated``: lines beyond the first for a seq;
* ``reordered``: places where a client's seq goes down in file order;
* ``lost``: sent but not stored; at cell level, what neither the files hold nor the ingestor
  counted as rejected or dropped (``lost = sent - stored - rejected - dropped``, never below 0).

End-to-end latency is ``received_at - timestamp`` (the generator stamps each log when it sends
the batch; the ingestor stamps the batch when it reads it), as p50/p90/p99/max in microseconds.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import zstandard

_SCHEMA = {"client_id": pl.Utf8, "seq": pl.Int64, "timestamp": pl.Utf8, "received_at": pl.Utf8}


def output_files(data_dir: Path) -> list[Path]:
    """Stored JSONL segments (any compression), in writing order per worker."""
    return sorted(p for p in data_dir.glob("log_*.jsonl*") if not p.name.endswith(".tmp"))


def read_bytes(path: Path) -> bytes:
    """A JSONL file's content, decompressed in memory (segments are at most ``rotate_bytes``)."""
    if path.suffix == ".zst":
        with open(path, "rb") as fh:
            return zstandard.ZstdDecompressor().stream_reader(fh).read()
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes())
    return path.read_bytes()


def _frames(files: list[Path]) -> Iterator[tuple[pl.DataFrame, int, int]]:
    for order, path in enumerate(files):
        data = read_bytes(path)
        if not data.strip():
            continue
        df = pl.read_ndjson(io.BytesIO(data), schema=_SCHEMA)
        yield (
            df.with_columns(pl.lit(order).alias("file"), pl.int_range(pl.len()).alias("row")),
            len(data),
            path.stat().st_size,
        )


@dataclass
class Stored:
    per_client: pl.DataFrame  # client_id, lines, stored, duplicated, reordered, min_seq, max_seq
    lines: int
    latency_us: dict[str, float]
    uncompressed_bytes: int
    disk_bytes: int

    @property
    def compression_ratio(self) -> float:
        return self.uncompressed_bytes / self.disk_bytes if self.disk_bytes else 0.0


def per_client_counts(rows: pl.DataFrame) -> pl.DataFrame:
    """Per client, from ``client_id``/``seq`` rows in writing order: lines, distinct seqs (stored),
    duplicates, places the seq goes down (reordered), and the seq range."""
    return (
        rows.filter(pl.col("client_id").is_not_null())
        .with_columns((pl.col("seq").diff().over("client_id") < 0).fill_null(False).alias("down"))
        .group_by("client_id")
        .agg(
            pl.len().alias("lines"),
            pl.col("seq").n_unique().alias("stored"),
            pl.col("down").sum().alias("reordered"),
            pl.col("seq").min().alias("min_seq"),
            pl.col("seq").max().alias("max_seq"),
        )
        .with_columns((pl.col("lines") - pl.col("stored")).alias("duplicated"))
        .sort("client_id")
    )


def read_stored(data_dir: Path) -> Stored:
    frames, raw, disk = [], 0, 0
    for df, n_raw, n_disk in _frames(output_files(data_dir)):
        frames.append(df)
        raw += n_raw
        disk += n_disk
    if not frames:
        empty = pl.DataFrame(schema={"client_id": pl.Utf8, "lines": pl.UInt32, "stored": pl.UInt32,
                                     "duplicated": pl.UInt32, "reordered": pl.UInt32,
                                     "min_seq": pl.Int64, "max_seq": pl.Int64})  # fmt: skip
        return Stored(empty, 0, dict.fromkeys(("p50", "p90", "p99", "max"), 0.0), 0, 0)
    all_rows = pl.concat(frames).sort("file", "row")
    per_client = per_client_counts(all_rows)
    lat = all_rows.select(
        (
            pl.col("received_at").str.to_datetime(time_zone="UTC")
            - pl.col("timestamp").str.to_datetime(time_zone="UTC")
        )
        .dt.total_microseconds()
        .alias("us")
    )["us"]
    latency = {
        "p50": float(lat.quantile(0.5) or 0.0),
        "p90": float(lat.quantile(0.9) or 0.0),
        "p99": float(lat.quantile(0.99) or 0.0),
        "max": float(lat.max() or 0.0),  # type: ignore[arg-type]
    }
    return Stored(per_client, all_rows.height, latency, raw, disk)


def account(
    sent: Mapping[str, Mapping[str, Any]], stored: Stored, rejected: float = 0, dropped: float = 0
) -> dict[str, Any]:
    """Per-client rows and cell totals. ``sent`` maps client_id to ``{"sent": n, "first_seq": s}``."""
    found = {row["client_id"]: row for row in stored.per_client.iter_rows(named=True)}
    clients = []
    for client_id in sorted(set(sent) | set(found)):
        s = sent.get(client_id, {})
        f = found.get(client_id, {})
        n_sent = int(s.get("sent", 0))
        n_stored = int(f.get("stored", 0))
        clients.append({
            "client_id": client_id, "sent": n_sent, "stored": n_stored,
            "duplicated": int(f.get("duplicated", 0)), "reordered": int(f.get("reordered", 0)),
            "missing": max(0, n_sent - n_stored), "unexpected": max(0, n_stored - n_sent),
        })  # fmt: skip
    total_sent = sum(c["sent"] for c in clients)
    total_stored = sum(c["stored"] for c in clients)
    return {
        "clients": clients,
        "sent": total_sent,
        "stored": total_stored,
        "duplicated": sum(c["duplicated"] for c in clients),
        "reordered": sum(c["reordered"] for c in clients),
        "rejected": int(rejected),
        "dropped": int(dropped),
        "lost": max(0, total_sent - total_stored - int(rejected) - int(dropped)),
        "lines": stored.lines,
    }
