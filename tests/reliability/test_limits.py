"""Resource limits of the ingestor CLI (worker processes, TLS): connections, idle time, memory.

* ``--max-connections``: the connection over the limit is refused (closed at once), counted in
  ``ingest_connections_refused_total`` and logged; a slot freed is usable again.
* ``--idle-timeout``: counts time without a *complete record* (or header), so a silent client and
  a slowloris that trickles one byte a second into a line are both cut after it, while a slow
  client that completes a record every half second is not.
* Memory under a flood: 20 TLS clients send as fast as they can for a bounded time; the RSS of
  each worker, sampled with psutil, stays under ``RSS_BOUND_MB`` (``docs/reliability.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
from ingest_helpers import close_cleanly, encode, header, make_entries, open_conn, read_stored, seqs_by_client
from ingest_process import IngestProcess

pytestmark = pytest.mark.slow

RSS_BOUND_MB = 200  # per worker, default settings; measured about 75 MB (docs/reliability.md)
FLOOD_CLIENTS = 20
FLOOD_SECONDS = 8.0


def _metrics(proc: IngestProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"{proc.url}/metrics.json", timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def _wait(proc: IngestProcess, predicate: Any, timeout: float = 20.0, what: str = "") -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not predicate(snap := _metrics(proc)):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {snap['totals']}"
        time.sleep(0.1)
    return snap


async def _closed_by_peer(reader: asyncio.StreamReader, timeout: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), timeout) == b""
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


def test_max_connections_refused_logged_and_counted(tmp_path: Path) -> None:
    proc = IngestProcess(tmp_path, "--max-connections", "3", workers=1)
    try:

        async def main() -> None:
            conns = [await open_conn(proc) for _ in range(3)]
            for _, w in conns:
                w.write(header("json"))
                await w.drain()
            await asyncio.sleep(0.3)
            reader, writer = await open_conn(proc)  # the TLS handshake completes, then it is cut
            writer.write(encode("json", make_entries(5, "refused")))
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.drain()
            assert await _closed_by_peer(reader, 10)
            writer.close()
            # the open ones still work; one closed frees a slot for a new one
            r0, w0 = conns.pop()
            w0.write(encode("json", make_entries(5, "open")))
            await close_cleanly(r0, w0)
            r1, w1 = await open_conn(proc)
            w1.write(encode("json", make_entries(5, "later")))
            await close_cleanly(r1, w1)
            for r, w in conns:
                await close_cleanly(r, w)

        asyncio.run(asyncio.wait_for(main(), 60))
        snap = _wait(proc, lambda s: s["totals"]["logs"] >= 10, what="10 logs")
        assert snap["totals"]["connections_refused"] == 1
        assert snap["totals"]["connections"] == 4  # the refused one is not counted as accepted
        assert "refusing connection from 127.0.0.1:" in proc.stderr_text()
        assert "(max 3)" in proc.stderr_text()
        assert proc.terminate() == 0
    finally:
        proc.kill()
    assert {c: len(s) for c, s in seqs_by_client(read_stored(tmp_path)).items()} == {"open": 5, "later": 5}


def test_idle_timeout_is_about_record_progress(tmp_path: Path) -> None:
    proc = IngestProcess(tmp_path, "--idle-timeout", "2", workers=1)
    try:
        lines = encode("json", make_entries(10, "slow")).splitlines(keepends=True)

        async def silent() -> float:
            t0 = time.monotonic()
            reader, writer = await open_conn(proc)
            assert await _closed_by_peer(reader, 8)
            writer.close()
            return time.monotonic() - t0

        async def slowloris() -> float:
            t0 = time.monotonic()
            reader, writer = await open_conn(proc)
            line = lines[0]
            for i in range(len(line)):  # a byte a second, never a whole line
                if reader.at_eof():
                    break
                writer.write(line[i : i + 1])
                with contextlib.suppress(ConnectionError, ssl.SSLError):
                    await writer.drain()
                if await _closed_by_peer(reader, 1.0):
                    break
                assert time.monotonic() - t0 < 8, "a slowloris was never cut"
            writer.close()
            return time.monotonic() - t0

        async def slow_but_whole() -> bool:
            reader, writer = await open_conn(proc)
            for line in lines:  # a whole record every 0.5 s for 5 s: progress, never idle
                writer.write(line)
                await writer.drain()
                if await _closed_by_peer(reader, 0.5):
                    return False
            await close_cleanly(reader, writer)
            return True

        async def main() -> tuple[float, float, bool]:
            return await asyncio.gather(silent(), slowloris(), slow_but_whole())

        silent_s, loris_s, survived = asyncio.run(asyncio.wait_for(main(), 60))
        assert 2.0 <= silent_s < 5.0 and 2.0 <= loris_s < 5.0, (silent_s, loris_s)
        assert survived, "a client completing records was cut as idle"
        snap = _wait(proc, lambda s: s["totals"]["logs"] >= 10, what="the slow client's logs")
        assert snap["totals"]["connections_idle_closed"] == 2
        assert proc.stderr_text().count("closing idle connection from") == 2
        assert proc.terminate() == 0
    finally:
        proc.kill()
    assert {c: len(s) for c, s in seqs_by_client(read_stored(tmp_path)).items()} == {"slow": 10}


def test_memory_bounded_under_a_flood(tmp_path: Path) -> None:
    """20 clients as fast as they can for FLOOD_SECONDS: worker RSS stays under RSS_BOUND_MB."""
    proc = IngestProcess(tmp_path, workers=2)
    chunk = encode("json", make_entries(2000, "flood"))  # about 650 KB of valid lines
    peak: dict[int, float] = {}
    try:
        workers = [psutil.Process(pid) for pid in proc.worker_pids()]
        assert len(workers) == 2

        async def client(stop_at: float) -> int:
            reader, writer = await open_conn(proc)
            sent = 0
            while time.monotonic() < stop_at:
                writer.write(chunk)
                await writer.drain()
                sent += 1
            await close_cleanly(reader, writer)
            return sent

        async def sample(stop_at: float) -> None:
            while time.monotonic() < stop_at:
                for w in workers:
                    peak[w.pid] = max(peak.get(w.pid, 0.0), w.memory_info().rss / 1e6)
                await asyncio.sleep(0.2)

        async def main() -> int:
            stop_at = time.monotonic() + FLOOD_SECONDS
            sampler = asyncio.create_task(sample(stop_at + 5))
            sent = await asyncio.gather(*(client(stop_at) for _ in range(FLOOD_CLIENTS)))
            await sampler
            return sum(sent)

        chunks = asyncio.run(asyncio.wait_for(main(), 120))
        snap = _wait(
            proc, lambda s: s["totals"]["logs"] >= chunks * 2000, timeout=60, what="every flooded log"
        )
        assert snap["totals"]["logs"] == chunks * 2000 and snap["totals"]["dropped"] == 0
        print(f"flood: {chunks * 2000:,} logs from {FLOOD_CLIENTS} clients in {FLOOD_SECONDS:.0f}s; "
              f"peak RSS per worker MB {sorted(round(v) for v in peak.values())}; "
              f"max queue {snap['gauges']['queue_length_max']:.0f}")  # fmt: skip
        assert max(peak.values()) < RSS_BOUND_MB, peak
        assert proc.terminate() == 0
    finally:
        proc.kill()
