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

Several ingestors (``ingestor.instances``, hosts of a Dask cluster): each data dir is read where
it lies and ``combine`` sums the parts per client before anything is derived. A client's seqs
travel as runs of consecutive values (``seq_runs``: one row per client and ingestor when nothing
is missing), so ``stored`` is the size of their union and a seq stored by two ingestors counts as
duplicated, exactly. Latency quantiles across ingestors come from merged log-scale histograms
(``LATENCY_BUCKETS_PER_DECADE``: within 1 %); ``max`` stays exact. ``to_arrow``/``from_arrow``
carry a ``Stored`` between hosts as Arrow tables.
"""

from __future__ import annotations

import gzip
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import zstandard

_SCHEMA = {"client_id": pl.Utf8, "seq": pl.Int64, "timestamp": pl.Utf8, "received_at": pl.Utf8}
LATENCY_BUCKETS_PER_DECADE = 230  # bucket width 10**(1/230) - 1 = 1.0 %
_RUNS_SCHEMA = {"client_id": pl.Utf8, "start": pl.Int64, "end": pl.Int64}
_HIST_SCHEMA = {"bucket": pl.Int64, "count": pl.UInt32}
_PER_CLIENT_SCHEMA = {"client_id": pl.Utf8, "lines": pl.UInt32, "stored": pl.UInt32, "reordered": pl.UInt32,
                      "min_seq": pl.Int64, "max_seq": pl.Int64, "duplicated": pl.UInt32}  # fmt: skip


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
    per_client: pl.DataFrame  # client_id, lines, stored, duplicated, reordered, min_seq, max_seq[, host]
    lines: int
    latency_us: dict[str, float]
    uncompressed_bytes: int
    disk_bytes: int
    runs: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_RUNS_SCHEMA))
    latency_hist: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_HIST_SCHEMA))

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


def seq_runs(rows: pl.DataFrame) -> pl.DataFrame:
    """Per client, its distinct seqs as runs of consecutive values (``client_id``, ``start``, ``end``)."""
    distinct = (
        rows.filter(pl.col("client_id").is_not_null())
        .select("client_id", "seq")
        .unique()
        .sort("client_id", "seq")
    )
    return (
        distinct.with_columns((pl.col("seq") - pl.int_range(pl.len()).over("client_id")).alias("run"))
        .group_by("client_id", "run")
        .agg(pl.col("seq").min().alias("start"), pl.col("seq").max().alias("end"))
        .select("client_id", "start", "end")
        .sort("client_id", "start")
    )  # fmt: skip


def _union_sizes(runs: pl.DataFrame) -> pl.DataFrame:
    """Per client, how many seqs the union of its runs covers (runs may overlap across ingestors)."""
    return (
        runs.sort("client_id", "start")
        .with_columns(pl.col("end").cum_max().shift(1).over("client_id").alias("reach"))
        .with_columns((pl.col("reach").is_null() | (pl.col("start") > pl.col("reach") + 1)).cum_sum().over("client_id").alias("span"))
        .group_by("client_id", "span")
        .agg((pl.col("end").max() - pl.col("start").min() + 1).alias("n"))
        .group_by("client_id")
        .agg(pl.col("n").sum().cast(pl.UInt32).alias("stored"))
    )  # fmt: skip


def _latency_hist(us: pl.Series) -> pl.DataFrame:
    positive = us.filter(us > 0).cast(pl.Float64)
    buckets = (positive.log10() * LATENCY_BUCKETS_PER_DECADE).ceil().cast(pl.Int64)
    hist = pl.DataFrame(
        {"bucket": pl.concat([buckets, pl.Series([0] * (len(us) - len(positive)), dtype=pl.Int64)])}
    )
    return hist.group_by("bucket").agg(pl.len().cast(pl.UInt32).alias("count")).sort("bucket")  # fmt: skip


def _hist_quantiles(hist: pl.DataFrame, latency_max: float) -> dict[str, float]:
    """p50/p90/p99 (the upper edge of the bucket holding the quantile) and the exact max."""
    if hist.is_empty():
        return dict.fromkeys(("p50", "p90", "p99", "max"), 0.0)
    merged = hist.group_by("bucket").agg(pl.col("count").sum()).sort("bucket")
    cum = merged["count"].cast(pl.Int64).cum_sum()
    total = int(cum[-1])
    out = {}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        i = int((cum < math.ceil(q * total)).sum())
        bucket = int(merged["bucket"][i])
        out[name] = min(latency_max, 10 ** (bucket / LATENCY_BUCKETS_PER_DECADE)) if bucket > 0 else 0.0
    out["max"] = latency_max
    return out


def read_stored(data_dir: Path) -> Stored:
    frames, raw, disk = [], 0, 0
    for df, n_raw, n_disk in _frames(output_files(data_dir)):
        frames.append(df)
        raw += n_raw
        disk += n_disk
    if not frames:
        empty = pl.DataFrame(schema=_PER_CLIENT_SCHEMA)
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
    return Stored(per_client, all_rows.height, latency, raw, disk, seq_runs(all_rows), _latency_hist(lat))


def combine(parts: Sequence[Stored], hosts: Sequence[str]) -> Stored:
    """The accounting of several ingestors as one: per client, lines and reorders summed, ``stored``
    the union of the seq runs (a seq in two ingestors is a duplicate), ``host`` where its logs lie."""
    tagged = [p.per_client.with_columns(pl.lit(h).alias("host")) for p, h in zip(parts, hosts, strict=True)]
    if len(parts) == 1:
        return Stored(tagged[0], parts[0].lines, parts[0].latency_us, parts[0].uncompressed_bytes,
                      parts[0].disk_bytes, parts[0].runs, parts[0].latency_hist)  # fmt: skip
    rows = pl.concat(tagged)
    summed = rows.group_by("client_id").agg(
        pl.col("lines").sum().cast(pl.UInt32), pl.col("reordered").sum().cast(pl.UInt32),
        pl.col("min_seq").min(), pl.col("max_seq").max(),
        pl.col("host").unique().sort().str.join(",").alias("host"),
    )  # fmt: skip
    runs = pl.concat([p.runs for p in parts])
    per_client = (
        summed.join(_union_sizes(runs), on="client_id", how="left")
        .with_columns(pl.col("stored").fill_null(0), (pl.col("lines") - pl.col("stored").fill_null(0)).alias("duplicated"))
        .select(*_PER_CLIENT_SCHEMA, "host")
        .sort("client_id")
    )  # fmt: skip
    hist = pl.concat([p.latency_hist for p in parts])
    latency = _hist_quantiles(hist, max(p.latency_us["max"] for p in parts))
    return Stored(per_client, sum(p.lines for p in parts), latency, sum(p.uncompressed_bytes for p in parts),
                  sum(p.disk_bytes for p in parts), runs, hist)  # fmt: skip


def to_arrow(stored: Stored) -> dict[str, Any]:
    """A ``Stored`` as Arrow tables and figures, to travel from the host that read the files."""
    return {
        "per_client": stored.per_client.to_arrow(), "runs": stored.runs.to_arrow(),
        "latency_hist": stored.latency_hist.to_arrow(), "lines": stored.lines, "latency_us": stored.latency_us,
        "uncompressed_bytes": stored.uncompressed_bytes, "disk_bytes": stored.disk_bytes,
    }  # fmt: skip


def from_arrow(data: Mapping[str, Any]) -> Stored:
    def frame(table: pa.Table) -> pl.DataFrame:
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        return df

    return Stored(frame(data["per_client"]), int(data["lines"]), dict(data["latency_us"]),
                  int(data["uncompressed_bytes"]), int(data["disk_bytes"]), frame(data["runs"]),
                  frame(data["latency_hist"]))  # fmt: skip


def account(
    sent: Mapping[str, Mapping[str, Any]], stored: Stored, rejected: float = 0, dropped: float = 0
) -> dict[str, Any]:
    """Per-client rows and cell totals. ``sent`` maps client_id to ``{"sent": n, "first_seq": s}``."""
    found = {row["client_id"]: row for row in stored.per_client.iter_rows(named=True)}
    clients: list[dict[str, Any]] = []
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
        if "host" in stored.per_client.columns:  # combined: where the client's logs lie
            clients[-1]["host"] = f.get("host") or ""
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
