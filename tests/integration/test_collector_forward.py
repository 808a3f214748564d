"""Forwarding into a real ingestor over TLS in ack mode, across restarts of both sides.

Lines carry a unique ``seq``; the collector forwards them (``LOGWB/1 format=json framing=length
ack=1``) to an in-process ingestor; midway the collector is stopped and started again, then the
ingestor is stopped (the collector keeps its frames and reconnects with backoff) and started
again on the same port. Every seq must be stored: at least once is the guarantee, duplicates
(frames stored whose ack was lost) are counted and reported, and bounded by the unacked window.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
from ingest_helpers import config as ingest_config
from ingest_helpers import read_stored, run, wait_until

from workbench import model
from workbench.collector import Collector, CollectorConfig
from workbench.ingestor.service import Ingestor

BATCH = 200


def json_lines(start: int, n: int) -> bytes:
    return b"".join(
        msgspec.json.encode(model.LogEntry(timestamp=model.EPOCH, level="INFO", service="api",
                                           message=f"forwarded {i}", host="h", client_id="fw", seq=i)) + b"\n"
        for i in range(start, start + n)
    )  # fmt: skip


def plain_lines(start: int, n: int) -> bytes:
    return "".join(
        f"2025-06-30T21:59:23Z WARN billing: plain {i} seq={i}\n" for i in range(start, start + n)
    ).encode()


def collector_config(tmp: Path, ing: Ingestor, **kw: Any) -> CollectorConfig:
    assert ing.cert_path is not None
    settings: dict[str, Any] = {
        "inputs": (str(tmp / "logs" / "*.log"),), "state_dir": tmp / "state", "output_type": "forward",
        "forward_port": ing.tcp_port, "forward_ca": Path(ing.cert_path), "forward_batch_entries": BATCH,
        "max_unacked_frames": 8, "flush_interval_seconds": 0.1, "poll_interval_seconds": 0.05,
        "glob_interval_seconds": 0.2, "retry_backoff_seconds": 0.05, "max_backoff_seconds": 0.5,
        "multiline_timeout_seconds": 0.2, "stats_interval_seconds": None, "drain_timeout_seconds": 5.0,
    }  # fmt: skip
    settings.update(kw)
    return CollectorConfig(**settings)


def stored_seqs(data_dir: Path) -> Counter[int]:
    return Counter(r["seq"] for r in read_stored(data_dir))


def test_forward_survives_restarts_of_collector_and_ingestor(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    app, other = tmp_path / "logs" / "app.log", tmp_path / "logs" / "billing.log"
    data_dir = tmp_path / "ingest"

    def stored_at_least(n: int) -> bool:
        return sum(stored_seqs(data_dir).values()) >= n

    async def scenario() -> tuple[Collector, Ingestor]:
        ing = Ingestor(ingest_config(data_dir, udp_port=None, http_port=None))
        await ing.start()
        cfg = collector_config(tmp_path, ing)
        app.write_bytes(json_lines(0, 1500))
        other.write_bytes(plain_lines(1500, 500))
        col = Collector(cfg)
        await col.start()
        await wait_until(lambda: stored_at_least(2000), 30, what="the first 2000 entries stored")

        await col.stop()  # collector restart: acknowledged offsets are in the checkpoint
        with app.open("ab") as fh:
            fh.write(json_lines(2000, 1000))
        col = Collector(cfg)
        await col.start()
        await wait_until(lambda: stored_at_least(3000), 30, what="3000 entries after the collector restart")

        port = ing.tcp_port
        await ing.stop()  # ingestor restart: the collector keeps unacked frames and reconnects
        with app.open("ab") as fh:
            fh.write(json_lines(3000, 1000))
        with other.open("ab") as fh:
            fh.write(plain_lines(4000, 500))
        await asyncio.sleep(0.5)
        ing = Ingestor(ingest_config(data_dir, tcp_port=port, udp_port=None, http_port=None))
        await ing.start()
        await wait_until(lambda: stored_at_least(4500), 40, what="4500 entries after the ingestor restart")
        await col.stop()
        await ing.stop()
        return col, ing

    col, _ = run(scenario(), timeout=150)
    seqs = stored_seqs(data_dir)
    missing = sorted(set(range(4500)) - set(seqs))
    dups = sum(v - 1 for v in seqs.values() if v > 1)
    fwd = col.metrics.forward or {}
    assert not missing, f"{len(missing)} lost (first {missing[:10]}); {dups} duplicates; forward stats {fwd}"
    assert set(seqs) == set(range(4500))
    assert dups <= BATCH * 8, f"{dups} duplicates, more than the unacked window; forward stats {fwd}"
    stored = read_stored(data_dir)
    assert {r["service"] for r in stored} == {"api", "billing"}
    assert all(r["level"] == "WARN" for r in stored if r["service"] == "billing")
    print(f"forward across restarts: 4500 entries, {dups} duplicates, stats {fwd}")
