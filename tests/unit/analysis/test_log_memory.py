"""A compressed data dir much larger in memory than the bound streams through the loaders.

Invariant: iterating batches over a multi-file ``.jsonl.zst`` dir keeps the process's RSS growth
under a fixed bound far below the decompressed size of the data (a lazy streaming aggregation:
below the data size): nothing is
decompressed whole, to disk or into memory. A 1 GB dir behaves the same, only longer.
"""

from __future__ import annotations

import gc
import json
import threading
from pathlib import Path

import polars as pl
import psutil
import pytest
import zstandard

from workbench.analysis.logs import iter_batches, scan_logs

FILES = 8
LINES_PER_FILE = 50_000
BOUND_BYTES = 120 * 1024 * 1024


def _write_dir(root: Path) -> int:
    """FILES segments of LINES_PER_FILE entries; returns the decompressed byte count."""
    head = json.dumps({"timestamp": "2026-01-02T03:04:05.123456Z", "level": "LEVEL", "service": "svc-SVC",
                       "message": "M" * 200, "host": "host-1", "user_id": "u-1", "trace_id": "t" * 32,
                       "attributes": {"region": "eu-west-1", "db": "postgres"}, "client_id": "c0",
                       "received_at": "2026-01-02T03:04:05.200000Z", "format": "json", "transport": "tls",
                       "peer": "127.0.0.1:9"})  # fmt: skip
    levels = ("INFO", "ERROR", "DEBUG", "WARN")
    total = 0
    for f in range(FILES):
        lines = [head[:-1].replace("LEVEL", levels[i % 4]).replace("SVC", str(i % 7)) + f', "seq": {i}}}\n'
                 for i in range(f * LINES_PER_FILE, (f + 1) * LINES_PER_FILE)]  # fmt: skip
        data = "".join(lines).encode()
        total += len(data)
        (root / f"log_{f}_20260102_030405.jsonl.zst").write_bytes(
            zstandard.ZstdCompressor(level=1).compress(data)
        )
    return total


class PeakRss:
    """Samples RSS every few ms in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.slow
def test_a_big_compressed_dir_streams_in_bounded_memory(tmp_path: Path) -> None:
    size = _write_dir(tmp_path)
    assert size > 1.3 * BOUND_BYTES  # the data would not fit under the bound
    # warm up imports and Arrow's allocator on a small read, then measure
    next(iter(iter_batches(tmp_path, batch_rows=10_000)))
    gc.collect()
    base = psutil.Process().memory_info().rss
    rows = 0
    with PeakRss() as peak:
        for batch in iter_batches(tmp_path, batch_rows=20_000):
            rows += batch.num_rows
    assert rows == FILES * LINES_PER_FILE
    growth = peak.peak - base
    print(f"\n{size / 1e6:.0f} MB decompressed, {rows:,} rows, peak RSS growth {growth / 1e6:.0f} MB")
    assert growth < BOUND_BYTES

    gc.collect()
    base = psutil.Process().memory_info().rss
    with PeakRss() as peak:
        counts = (scan_logs(tmp_path, batch_rows=20_000).group_by("level").agg(pl.len(), pl.col("seq").max())
                  .collect(engine="streaming"))  # fmt: skip
    assert counts["len"].sum() == FILES * LINES_PER_FILE
    growth = peak.peak - base
    print(f"lazy streaming group_by: peak RSS growth {growth / 1e6:.0f} MB")
    # Polars' streaming engine keeps a few batches in flight and its allocator holds on to freed
    # pages: looser than the batch iterator, but still well under the data (measured: 119 MB of
    # growth for 115 MB of data, 162 MB for 347 MB)
    assert growth < 0.8 * size
