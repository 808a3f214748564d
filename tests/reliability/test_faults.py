"""Faults: a full disk, and the schema registry dying under a running ingestor.

Disk full: the data dir is a small tmpfs, filled up by a filler file while an ack-mode sender
streams frames. The ingestor must stop reading (the sender's acks stop), say so loudly (an
error line, ``ingest_write_errors_total``, ``ingest_write_blocked``), keep what it accepted,
resume when the filler is deleted, and store every acknowledged log exactly once, with no torn
line and no corrupt file. Mounting needs root; without it the test is skipped with the reason,
except in CI (``CI`` set) where not running it is a failure.

The SIGKILL of a worker and of the whole ingestor are in ``tests/e2e/test_ingest_cli.py``;
restarts of the collector and ingestor under ack-mode forwarding in
``tests/integration/test_collector_forward.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import live_ingestor, total
from ingest_helpers import (
    assert_exactly_once,
    close_cleanly,
    encode,
    make_entries,
    open_conn,
    read_stored,
    segment_files,
    send_tcp,
    zstd_cli_lines,
)
from ingest_process import IngestProcess

from workbench import wire

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs (needs root): {done.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _metrics(proc: IngestProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"{proc.url}/metrics.json", timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


async def _ack_stream(proc: IngestProcess, frames: list[bytes], acked: list[int], window: int) -> None:
    """One connection, ack mode, at most ``window`` frames unacknowledged; ``acked[0]`` is the count."""
    reader, writer = await open_conn(proc)
    writer.write(wire.make_header("json", framing="length", ack=True).encode())
    sent, buf = 0, b""
    while acked[0] < len(frames):
        if sent < len(frames) and sent - acked[0] < window:
            writer.write(frames[sent])
            sent += 1
            await writer.drain()
            continue
        chunk = await asyncio.wait_for(reader.read(4096), 120)
        assert chunk, "the ingestor closed an ack-mode connection"
        highest, buf = wire.parse_acks(buf + chunk)
        if highest is not None:
            acked[0] = highest
    await close_cleanly(reader, writer)


def test_disk_full_pauses_keeps_and_resumes(small_disk: Path) -> None:
    proc = IngestProcess(small_disk, "--rotate-mb", "0.5", workers=1)
    try:
        per_frame, n_frames = 50, 300  # 15,000 logs, about 5 MB of JSONL: more than the disk has free
        entries = make_entries(per_frame * n_frames, "full")
        frames = [
            wire.frame(encode("json", entries[i : i + per_frame])) for i in range(0, len(entries), per_frame)
        ]
        filler = small_disk / "filler"
        free = shutil.disk_usage(small_disk).free
        with open(filler, "wb") as fh:
            # leave 400 KiB: less than one 0.5 MB segment, so the disk fills before any rotation
            # can free space by compressing (not a race with the compression thread)
            fh.write(b"\0" * (free - (400 << 10)))
        acked = [0]

        async def main() -> dict[str, Any]:
            sender = asyncio.create_task(_ack_stream(proc, frames, acked, window=5))
            deadline = time.monotonic() + 60
            while _metrics(proc)["gauges"]["write_blocked"] < 1:
                assert time.monotonic() < deadline and not sender.done(), "the disk never filled up"
                await asyncio.sleep(0.2)
            stalled_at = acked[0]
            await asyncio.sleep(3)
            snap = _metrics(proc)
            assert acked[0] - stalled_at <= 5, "acks went on while nothing could be written"
            assert 0 < acked[0] < n_frames
            assert snap["totals"]["write_errors"] >= 1
            assert snap["totals"]["dropped"] == 0
            assert snap["gauges"]["workers"] == 1 and snap["totals"]["worker_restarts"] == 0
            filler.unlink()  # space returns
            await asyncio.wait_for(sender, 120)
            return snap

        blocked = asyncio.run(asyncio.wait_for(main(), 240))
        assert blocked["gauges"]["queue_length"] <= per_frame * 6
        assert re.search(r"WRITE FAILED in .*No space left on device", proc.stderr_text())
        assert "works again; reading resumes" in proc.stderr_text()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the worker publishes its figures once a second
            after = _metrics(proc)
            if after["gauges"]["write_blocked"] == 0 and after["totals"]["logs"] >= per_frame * n_frames:
                break
            time.sleep(0.2)
        assert after["gauges"]["write_blocked"] == 0
        assert after["totals"]["logs"] == per_frame * n_frames
        assert proc.terminate() == 0, proc.stderr_text()[-3000:]
    finally:
        proc.kill()
    assert acked[0] == n_frames
    assert not list(small_disk.glob("*.tmp")) and not list(small_disk.glob("log_*.jsonl"))
    for path in segment_files(small_disk):
        assert zstd_cli_lines(path) > 0  # every finished file decompresses with its checksum
    assert_exactly_once(read_stored(small_disk), {"full": per_frame * n_frames})


def _start_registry(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "registry", "--port", "0", "--data-dir",
                             str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if m := re.search(r"registry listening on (http://\S+)", line):
            return proc, m.group(1)
        if not line:
            break
    proc.kill()
    raise AssertionError("the registry did not start")


def test_registry_killed_mid_run(tmp_path: Path) -> None:
    """The ingestor fetched its schemas at start; a SIGKILLed registry does not stop ingestion."""
    registry, url = _start_registry(tmp_path / "registry")
    try:
        with live_ingestor(tmp_path / "data", workers=1, registry_url=url) as ing:
            assert ing.ing.schemas.source == "registry"
            asyncio.run(send_tcp(ing, encode("json", make_entries(50, "before"))))
            ing.wait(lambda m: total(m, "ingest_logs_total") >= 50)
            registry.send_signal(signal.SIGKILL)
            registry.wait(10)
            asyncio.run(send_tcp(ing, encode("json", make_entries(50, "after"))))
            m = ing.wait(lambda m: total(m, "ingest_logs_total") >= 100)
            assert total(m, "ingest_logs_total") == 100 and total(m, "ingest_rejected_total") == 0
            assert m["ingest_schema_source"] == {(("source", "registry"),): 1.0}
    finally:
        registry.kill()
        registry.wait(10)
        if registry.stdout:
            registry.stdout.close()
    assert_exactly_once(read_stored(tmp_path / "data"), {"before": 50, "after": 50})


def test_registry_down_at_start_falls_back_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No registry at start: the bundled schemas are used, the log says so, the metric shows it."""
    registry, url = _start_registry(tmp_path / "registry")
    registry.kill()
    registry.wait(10)
    if registry.stdout:
        registry.stdout.close()
    with live_ingestor(tmp_path / "data", workers=1, registry_url=url, registry_timeout_seconds=1.0) as ing:
        assert ing.ing.schemas.source == "bundled"
        asyncio.run(send_tcp(ing, encode("json", make_entries(20, "fallback"))))
        m = ing.wait(lambda m: total(m, "ingest_logs_total") >= 20)
        assert m["ingest_schema_source"] == {(("source", "bundled"),): 1.0}
    loud = [r for r in caplog.records if r.levelname == "ERROR" and "UNREACHABLE" in r.getMessage()]
    assert loud and "bundled" in loud[0].getMessage()
    assert_exactly_once(read_stored(tmp_path / "data"), {"fallback": 20})


def test_segment_writer_reports_what_a_failed_write_appended(small_disk: Path) -> None:
    """ENOSPC in the middle of a write that spans rotations: whole lines only, and the count of them."""
    from workbench.storage.segments import SegmentWriteError, SegmentWriter

    lines = [b'{"seq":%d,"pad":"%s"}\n' % (i, b"p" * 200) for i in range(2000)]  # about 440 KB
    data = b"".join(lines)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - (150 << 10)))
    writer = SegmentWriter(small_disk, 0, rotate_bytes=60_000, compression="none")
    with pytest.raises(SegmentWriteError) as failed:
        writer.write(data)
    written = failed.value.written
    assert 0 < written < len(data) and data[written - 1 : written] == b"\n"
    filler.unlink()
    writer.write(data[written:])  # what the pipeline retries: the rest only
    writer.close()
    stored = b"".join(p.read_bytes() for p in sorted(small_disk.glob("log_0_*.jsonl*")))
    assert sorted(stored.splitlines(keepends=True)) == sorted(lines)
    assert not list(small_disk.glob("*.tmp"))
