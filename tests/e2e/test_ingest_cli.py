"""The ``ingest`` CLI as a subprocess with real worker processes: SO_REUSEPORT, SIGTERM drain,
a SIGKILLed worker restarted without losing acknowledged logs, and a crash of the whole ingestor
recovered on the next start."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import (
    assert_exactly_once,
    close_cleanly,
    encode,
    header,
    make_entries,
    open_conn,
    read_segment,
    read_stored,
    segment_files,
    send_tcp,
    seqs_by_client,
    zstd_cli_lines,
)

from workbench import wire

pytestmark = pytest.mark.slow


def _metrics(proc: Any) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{proc.url}/metrics.json", timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def _wait_metrics(proc: Any, predicate: Any, timeout: float = 30.0, what: str = "") -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        snap = _metrics(proc)
        if predicate(snap):
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {snap['totals']} {snap['gauges']}")
        time.sleep(0.1)


def test_sigterm_drains_and_reuseport_spreads(tmp_path: Path, start_ingest: Any) -> None:
    """Two workers share the port; SIGTERM right after sending stores everything and exits 0."""
    proc = start_ingest(tmp_path)
    assert len(proc.worker_pids()) == 2
    clients = {f"term-{k}": 500 for k in range(12)}
    tail = {"open": 300}

    async def send() -> tuple[Any, Any]:
        fmts = ("json", "syslog", "raw")
        await asyncio.gather(
            *(
                send_tcp(proc, encode(fmts[k % 3], make_entries(n, c)))
                for k, (c, n) in enumerate(clients.items())
            )
        )
        # a sender still connected at SIGTERM, its last line without a newline
        reader, writer = await open_conn(proc)
        writer.write(header("json") + encode("json", make_entries(tail["open"], "open"))[:-1])
        await writer.drain()
        return reader, writer

    async def main() -> None:
        reader, writer = await send()
        proc.proc.send_signal(signal.SIGTERM)
        # the ingestor keeps reading open connections for drain_seconds, then closes them
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await asyncio.wait_for(reader.read(), 30)
        writer.close()

    asyncio.run(asyncio.wait_for(main(), 90))
    assert proc.proc.wait(60) == 0, proc.stderr_text()[-3000:]
    total = sum(clients.values()) + tail["open"]
    proc._close_pipes()
    summary = proc.summary()
    assert f"stored {total} logs" in summary and "rejected 0" in summary and "dropped 0" in summary, summary
    files = segment_files(tmp_path)
    assert files and all(f.name.endswith(".jsonl.zst") for f in files), [f.name for f in files]
    assert {re.match(r"log_(\d+)_", f.name)[1] for f in files} == {"0", "1"}  # both workers got connections
    assert_exactly_once(read_stored(tmp_path), {**clients, **tail})


async def ack_sender(
    target: Any, client: str, frames: list[bytes], acked: list[int], window: int = 5, pace: float = 0.01
) -> int:
    """Send ``frames`` with ack=1, resending what was not acknowledged after any break; returns reconnects."""
    reconnects = 0
    done = 0  # frames acknowledged so far
    while done < len(frames):
        try:
            reader, writer = await open_conn(target)
            writer.write(wire.make_header("json", framing="length", ack=True).encode())
            base, sent, buf = done, done, b""
            while done < len(frames):
                end = min(sent + window, len(frames))
                writer.write(b"".join(frames[sent:end]))
                await writer.drain()
                sent = end
                while done < sent:
                    chunk = await asyncio.wait_for(reader.read(4096), 10)
                    if not chunk:
                        raise ConnectionResetError("receiver closed")
                    highest, buf = wire.parse_acks(buf + chunk)
                    if highest is not None:
                        acked.extend(range(done, base + highest))
                        done = base + highest
                await asyncio.sleep(pace)
            await close_cleanly(reader, writer)
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            reconnects += 1
            await asyncio.sleep(0.1)
    return reconnects


def _frames(client: str, n_frames: int, per_frame: int) -> list[bytes]:
    entries = make_entries(n_frames * per_frame, client)
    return [wire.frame(encode("json", entries[i : i + per_frame])) for i in range(0, len(entries), per_frame)]


def test_sigkill_worker_is_restarted_no_acked_loss(tmp_path: Path, start_ingest: Any) -> None:
    proc = start_ingest(tmp_path)
    workers = proc.worker_pids()
    assert len(workers) == 2
    per_frame, n_frames = 10, 400
    frames = {f"kill-{k}": _frames(f"kill-{k}", n_frames, per_frame) for k in range(6)}
    acked: dict[str, list[int]] = {c: [] for c in frames}
    acked_before_kill: dict[str, list[int]] = {}

    async def main() -> list[int]:
        # paced so that every sender is still mid-stream when the worker dies (acks come in ~50 ms)
        tasks = [
            asyncio.create_task(ack_sender(proc, c, fs, acked[c], window=10, pace=0.03))
            for c, fs in frames.items()
        ]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(len(a) >= 20 for a in acked.values()):
            await asyncio.sleep(0.05)
        assert all(len(a) < n_frames for a in acked.values()), "senders finished before the kill"
        acked_before_kill.update({c: list(a) for c, a in acked.items()})
        os.kill(workers[0], signal.SIGKILL)
        return await asyncio.gather(*tasks)

    reconnects = asyncio.run(asyncio.wait_for(main(), 120))
    assert sum(reconnects) >= 1, "no sender was connected to the killed worker"
    assert sum(map(len, acked_before_kill.values())) > 0
    snap = _wait_metrics(
        proc, lambda s: s["totals"]["worker_restarts"] == 1 and s["gauges"]["workers"] == 2, what="restart"
    )
    new_workers = proc.worker_pids()
    assert len(new_workers) == 2 and workers[0] not in new_workers and workers[1] in new_workers
    prom = __import__("urllib.request").request.urlopen(f"{proc.url}/metrics", timeout=10).read().decode()
    assert "ingest_worker_restarts_total 1" in prom.splitlines()
    assert snap["totals"]["worker_restarts"] == 1
    assert proc.terminate() == 0, proc.stderr_text()[-3000:]

    stored = read_stored(tmp_path)
    got = seqs_by_client(stored)
    for client, idx in acked.items():
        assert sorted(idx) == list(range(n_frames)), f"{client}: not every frame was acknowledged"
        seqs = got.get(client, {})
        missing = [s for s in range(n_frames * per_frame) if seqs.get(s, 0) == 0]
        assert not missing, f"{client}: {len(missing)} acknowledged logs lost, first {missing[:10]}"
    assert all(f.name.endswith(".jsonl.zst") for f in segment_files(tmp_path))


def test_sigkill_whole_ingestor_then_recover(tmp_path: Path, start_ingest: Any) -> None:
    proc = start_ingest(tmp_path)
    frames = {f"crash-{k}": _frames(f"crash-{k}", 40, 25) for k in range(4)}
    acked: dict[str, list[int]] = {c: [] for c in frames}

    async def main() -> None:
        await asyncio.gather(
            *(ack_sender(proc, c, fs, acked[c], window=20, pace=0) for c, fs in frames.items())
        )

    asyncio.run(asyncio.wait_for(main(), 60))
    proc.kill()
    leftovers = sorted(tmp_path.glob("log_*.jsonl"))
    assert leftovers, "a crash leaves the open segments as .jsonl"
    torn = leftovers[0]
    with open(torn, "ab") as fh:
        fh.write(b'{"timestamp":"2025-06-30T21:59:23Z","level":"INF')  # a write cut by the crash
    lines_before = {p.name: p.read_bytes().count(b"\n") for p in leftovers}

    again = start_ingest(tmp_path)
    assert again.terminate() == 0, again.stderr_text()[-3000:]
    assert "recovered" in again.stderr_text()
    assert not list(tmp_path.glob("log_*.jsonl")) and not list(tmp_path.glob("*.tmp"))
    for name, n in lines_before.items():
        finished = tmp_path / (name + ".zst")
        assert finished.exists(), f"{name} was not recovered"
        assert zstd_cli_lines(finished) == n
        assert all(rec.get("client_id") for rec in read_segment(finished))
    assert_exactly_once(read_stored(tmp_path), {c: 40 * 25 for c in frames})
