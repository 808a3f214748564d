"""What reaches the disk: rotation and zstd compression, backpressure, overflow drops, ack mode,
recovery of segments a crash left behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from unittest import mock

import msgspec
from ingest_helpers import (
    assert_entry_fields,
    assert_exactly_once,
    close_cleanly,
    config,
    encode,
    framed,
    header,
    make_entries,
    open_conn,
    read_segment,
    read_stored,
    run,
    segment_files,
    send_tcp,
    totals,
    wait_counts,
    wait_until,
    zstd_cli_lines,
)

from workbench import wire
from workbench.ingestor.service import Ingestor
from workbench.storage.segments import SegmentWriter

ROTATE_BYTES = 64 * 1024


def _send_paced(clients: dict[str, int], pace: int = 150) -> Any:
    """Senders of ``make_entries`` JSON that send ``pace`` entries, then wait for them to be stored."""

    async def send(ing: Ingestor) -> None:
        conns = {c: await open_conn(ing) for c in clients}
        for _, w in conns.values():
            w.write(header("json"))
        for start in range(0, max(clients.values()), pace):
            for c, (_, w) in conns.items():
                w.write(encode("json", make_entries(min(pace, clients[c] - start), c, start=start)))
                await w.drain()
            await wait_counts(ing, logs=sum(min(start + pace, n) for n in clients.values()))
        for r, w in conns.values():
            await close_cleanly(r, w)

    return send


def test_rotation_and_compression(tmp_path: Path) -> None:
    """~1.5 MB of logs at 64 KB per segment: many .zst files, each readable by the zstd tool."""
    clients = {f"rot-{k}": 1500 for k in range(3)}

    async def scenario() -> None:
        async with Ingestor(config(tmp_path, rotate_bytes=ROTATE_BYTES)) as ing:
            await _send_paced(clients)(ing)
            await wait_counts(ing, logs=sum(clients.values()))
        t = totals(ing)
        assert t["rotations"] >= 10
        assert t["compressed_files"] == t["rotations"]  # the last segment is finished on stop too

    run(scenario())
    files = segment_files(tmp_path)
    assert files and all(f.name.endswith(".jsonl.zst") for f in files), [f.name for f in files]
    assert len(files) >= 10
    assert not list(tmp_path.glob("*.tmp"))
    lines = 0
    for f in files:
        n = zstd_cli_lines(f)
        assert n > 0
        lines += n
    assert lines == sum(clients.values())
    stored = read_stored(tmp_path)
    assert_exactly_once(stored, clients)
    for rec in stored:
        assert_entry_fields(rec, "json")


def test_rotation_size_bound_under_a_burst(tmp_path: Path) -> None:
    """1.5 MB sent at once at rotate_bytes=64 KB: no segment over twice the rotation size."""
    clients = {f"burst-{k}": 1500 for k in range(3)}

    async def scenario() -> None:
        async with Ingestor(config(tmp_path, rotate_bytes=ROTATE_BYTES)) as ing:
            await asyncio.gather(
                *(
                    send_tcp(ing, header("json") + encode("json", make_entries(n, c)))
                    for c, n in clients.items()
                )
            )
            await wait_counts(ing, logs=sum(clients.values()))

    run(scenario())
    sizes = {f.name: len(zstandard_decompress(f)) for f in segment_files(tmp_path)}
    assert max(sizes.values()) <= 2 * ROTATE_BYTES, sizes
    assert_exactly_once(read_stored(tmp_path), clients)


def zstandard_decompress(path: Path) -> bytes:
    import subprocess

    return subprocess.run(["zstd", "-dc", "-q", str(path)], capture_output=True, check=True).stdout


def _slow_write(delay: float) -> Any:
    original = SegmentWriter.write

    def write(self: SegmentWriter, data: bytes) -> None:
        time.sleep(delay)
        original(self, data)

    return write


async def _flood_slow_disk(
    cfg: Any, entries: dict[str, list[Any]], batch: int
) -> tuple[dict[str, float], bool, float]:
    """Every client's entries over its own TLS connection, ``batch`` a write, into an ingestor
    whose disk takes 20 ms a write: its gauges once all is stored, whether reading was ever
    paused, and what it dropped."""

    async def sender(ing: Ingestor, client: str) -> None:
        reader, writer = await open_conn(ing)
        writer.write(header("json"))
        mine = entries[client]
        for i in range(0, len(mine), batch):
            writer.write(encode("json", mine[i : i + batch]))
            await writer.drain()
        await close_cleanly(reader, writer)

    with mock.patch.object(SegmentWriter, "write", _slow_write(0.02)):
        async with Ingestor(cfg) as ing:
            assert ing._inline is not None and ing._inline.pipeline is not None
            pipeline = ing._inline.pipeline
            paused_seen = False

            async def watch() -> None:
                nonlocal paused_seen
                while True:
                    paused_seen = paused_seen or pipeline.flow.paused
                    await asyncio.sleep(0.005)

            watcher = asyncio.create_task(watch())
            await asyncio.gather(*(sender(ing, c) for c in entries))
            await wait_counts(ing, timeout=60, logs=sum(map(len, entries.values())))
            watcher.cancel()
            return ing.snapshot()["gauges"], paused_seen, totals(ing)["dropped"]


def test_backpressure_no_loss_over_tcp(tmp_path: Path) -> None:
    """A slow disk: TCP senders are paused, the queue stays bounded, nothing is lost."""
    max_queue = 500
    clients = {f"bp-{k}": 4000 for k in range(3)}

    async def scenario() -> None:
        cfg = config(tmp_path, max_queue_logs=max_queue)
        gauges, paused_seen, dropped = await _flood_slow_disk(
            cfg, {c: make_entries(n, c) for c, n in clients.items()}, 50
        )
        assert paused_seen, "the queue never filled: the test did not exercise backpressure"
        # over the limit by at most what each connection had read when reading was paused
        # (asyncio's TLS transport reads up to 256 KiB at a time)
        per_read = 256 * 1024 // (len(encode("json", make_entries(100))) // 100)
        assert max_queue < gauges["queue_length_max"] <= max_queue + len(clients) * per_read, gauges
        assert dropped == 0

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), clients)


def test_backpressure_bounds_the_queue_in_bytes_for_large_logs(tmp_path: Path) -> None:
    """Logs of 8 KiB and a queue bound of 256 KiB, far below its log bound: a slow disk pauses
    the senders on the bytes, the queued bytes stay within the bound plus what each connection
    had read when it was paused, and nothing is lost."""
    max_bytes = 256 << 10
    clients = {f"big-{k}": 600 for k in range(3)}
    pad = "x" * (8 << 10)

    def entries(n: int, client: str) -> list[Any]:
        return [msgspec.structs.replace(e, message=f"{e.message} {pad}") for e in make_entries(n, client)]

    async def scenario() -> None:
        cfg = config(tmp_path, max_queue_bytes=max_bytes, max_queue_logs=1_000_000)
        gauges, paused_seen, dropped = await _flood_slow_disk(
            cfg, {c: entries(n, c) for c, n in clients.items()}, 20
        )
        assert paused_seen, "the queue never filled: the test did not exercise backpressure"
        # a paused connection may have one TLS read (up to 256 KiB) of logs in flight, and
        # stored lines are about the size of the JSON sent
        assert max_bytes < gauges["queue_bytes_max"] <= max_bytes + len(clients) * (300 << 10), gauges
        assert gauges["queue_length_max"] < 1000  # the log bound never acted
        assert dropped == 0

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), clients)


def test_overflow_drop_counts_drops(tmp_path: Path) -> None:
    """--overflow drop with a slow disk: what is not stored is counted as dropped (queue_full)."""
    sent = 20_000

    async def scenario() -> None:
        cfg = config(tmp_path, max_queue_logs=3000, overflow="drop")
        with mock.patch.object(SegmentWriter, "write", _slow_write(0.05)):
            async with Ingestor(cfg) as ing:
                data = header("json") + encode("json", make_entries(sent, "drop"))
                await send_tcp(ing, data, chunk=16 * 1024)
                await wait_until(lambda: totals(ing)["logs"] + totals(ing)["dropped"] >= sent, 30,
                                 what="stored + dropped == sent")  # fmt: skip
                await asyncio.sleep(0.3)
                t = totals(ing)
                assert t["dropped"] > 0
                assert t["logs"] + t["dropped"] == sent
                by_reason = {k: v for k, v in ing.snapshot()["dropped_by_reason"].items() if v}
                assert by_reason == {"queue_full": t["dropped"]}
                assert ing.snapshot()["gauges"]["queue_length_max"] <= 3000
        return None

    run(scenario())
    stored = read_stored(tmp_path)
    seqs = [r["seq"] for r in stored]
    assert len(seqs) == len(set(seqs)) and 0 < len(seqs) < sent


def test_overflow_drop_accepts_big_batch_into_empty_queue(tmp_path: Path) -> None:
    """One frame of 300 logs with max_queue_logs=100 and nothing queued: stored, not dropped."""

    async def scenario() -> None:
        async with Ingestor(config(tmp_path, max_queue_logs=100, overflow="drop")) as ing:
            frame = wire.frame(encode("json", make_entries(300, "big")))
            await send_tcp(ing, wire.make_header("json", framing="length").encode() + frame)
            await wait_until(
                lambda: totals(ing)["logs"] + totals(ing)["dropped"] >= 300, 10, what="300 handled"
            )
            assert totals(ing)["dropped"] == 0

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"big": 300})


def test_ack_mode(tmp_path: Path) -> None:
    """ack=1 framing=length: ACK n arrives only once n frames are in the segment file."""
    batch = 20

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            reader, writer = await open_conn(ing)
            writer.write(wire.make_header("json", framing="length", ack=True).encode())
            entries = make_entries(40 * batch, "ack")
            # stop-and-wait: each ack proves its logs are already written to the OS
            for n in range(1, 11):
                writer.write(wire.frame(encode("json", entries[(n - 1) * batch : n * batch])))
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), 10)
                assert line == wire.ack_line(n)
                on_disk = sum(len(read_segment(p)) for p in segment_files(tmp_path))
                assert on_disk == n * batch
            # pipelined: 30 more frames at once; cumulative acks, increasing, ending at 40
            writer.write(b"".join(wire.frame(encode("json", entries[i : i + batch]))
                                  for i in range(10 * batch, 40 * batch, batch)))  # fmt: skip
            await writer.drain()
            acks: list[int] = []
            buffer = b""
            while not acks or acks[-1] < 40:
                buffer += await asyncio.wait_for(reader.read(4096), 10)
                for line in buffer.split(b"\n")[:-1]:
                    acks.append(int(line.split()[1]))
                buffer = buffer[buffer.rfind(b"\n") + 1 :]
                highest, _ = wire.parse_acks(wire.ack_line(acks[-1]))
                assert highest == acks[-1]
            assert acks == sorted(acks) and len(set(acks)) == len(acks) and acks[-1] == 40
            await close_cleanly(reader, writer)
            await wait_counts(ing, logs=40 * batch)

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"ack": 40 * batch})


def test_ack_counts_rejected_frames(tmp_path: Path) -> None:
    """A frame whose records are all rejected is still acknowledged (it was processed and counted)."""

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            reader, writer = await open_conn(ing)
            writer.write(wire.make_header("proto", ack=True).encode())
            writer.write(framed("proto", make_entries(5, "a")) + wire.frame(b"\x0a\xff\xff\xff\x0f"))
            writer.write(framed("proto", make_entries(5, "a", start=5)))
            await writer.drain()
            got = b""
            while not got.endswith(b"ACK 3\n"):
                got += await asyncio.wait_for(reader.read(100), 10)
            await close_cleanly(reader, writer)
            await wait_counts(ing, logs=10, rejected=1)

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"a": 10})


def test_recovery_of_leftover_segments(tmp_path: Path) -> None:
    """Segments of a crashed run (one with a torn last line, one empty, a stray .tmp) are finished."""
    good = encode("json", make_entries(100, "old"))
    stored_like = [
        line[:-2]
        + b',"received_at":"2025-06-30T22:00:00Z","format":"json","transport":"tls","peer":"127.0.0.1:1"}\n'
        for line in good.splitlines(keepends=True)
    ]
    (tmp_path / "log_0_20250630_215900.jsonl").write_bytes(b"".join(stored_like[:50]))
    torn = b"".join(stored_like[50:]) + b'{"timestamp":"2025-06-30T2'
    (tmp_path / "log_1_20250630_215901.jsonl").write_bytes(torn)
    (tmp_path / "log_1_20250630_215902.jsonl").write_bytes(b"")
    (tmp_path / "log_0_20250630_215800.jsonl.zst.tmp").write_bytes(b"partial compression")

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            await send_tcp(ing, encode("json", make_entries(10, "new")))
            await wait_counts(ing, logs=10)

    run(scenario())
    files = segment_files(tmp_path)
    assert all(f.name.endswith(".jsonl.zst") for f in files), [f.name for f in files]
    assert not list(tmp_path.glob("*.tmp"))
    names = {f.name for f in files}
    assert {"log_0_20250630_215900.jsonl.zst", "log_1_20250630_215901.jsonl.zst"} <= names
    assert "log_1_20250630_215902.jsonl.zst" not in names  # empty: removed, not compressed
    assert zstd_cli_lines(tmp_path / "log_1_20250630_215901.jsonl.zst") == 100 - 50
    assert_exactly_once(read_stored(tmp_path), {"old": 100, "new": 10})


def test_worker_recovery_keeps_other_workers_compressions(tmp_path: Path) -> None:
    """A restarted worker recovers its own segments only: another worker's .tmp is its live compression."""
    other_tmp = tmp_path / "log_1_20250630_215900.jsonl.zst.tmp"
    other_tmp.write_bytes(b"compression in progress")
    own = tmp_path / "log_0_20250630_215900.jsonl.zst.tmp"
    own.write_bytes(b"left by a crash")
    writer = SegmentWriter(tmp_path, 0, ROTATE_BYTES)
    writer.recover(own_only=True)
    writer.close()
    assert not own.exists()
    assert other_tmp.exists()
