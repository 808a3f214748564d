"""SegmentWriter: segment names and finishing, with the compression thread's timing pinned down."""

from __future__ import annotations

import os
import queue
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
import zstandard

from workbench.storage import segments
from workbench.storage.segments import SegmentWriter

FIXED_NOW = 1_700_000_000.0  # every segment of a test is named after the same second
LINE_BYTES = 8


def _line(n: int) -> bytes:
    line = b'{"n":%d}\n' % n
    assert len(line) == LINE_BYTES
    return line


def _stored_lines(directory: Path) -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted(directory.glob("log_*.jsonl.zst")):
        with open(path, "rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as reader:
            lines += reader.read().splitlines(keepends=True)
    return lines


def _fix_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = types.SimpleNamespace(time=lambda: FIXED_NOW, strftime=time.strftime, gmtime=time.gmtime)
    monkeypatch.setattr(segments, "time", clock)


def _finish_between_look_and_create(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold the compression thread before its first finish and let that finish run to its end
    just before the writer thread creates its next segment: the moment a finish running beside
    ``_open`` can land between looking at a name and taking it.
    """
    held: queue.Queue[tuple[threading.Event, threading.Event]] = queue.Queue()
    state = {"hold": True, "creates": 0}
    writer_thread = threading.current_thread()
    real_finish = segments.finish_segment

    def finish(*args: Any) -> Path:
        if not state["hold"]:
            return real_finish(*args)
        state["hold"] = False
        go, done = threading.Event(), threading.Event()
        held.put((go, done))
        assert go.wait(10), "the writer never created its next segment"
        try:
            return real_finish(*args)
        finally:
            done.set()

    def create(path: Any, flags: int, *args: Any) -> int:
        if flags & os.O_CREAT and threading.current_thread() is writer_thread:
            state["creates"] += 1
            if state["creates"] == 2:  # the segment after the first rotation
                go, done = held.get(timeout=10)
                go.set()
                assert done.wait(10), "the held finish did not end"
        return os.open(path, flags, *args)

    proxy = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")})
    proxy.open = create
    monkeypatch.setattr(segments, "os", proxy)
    monkeypatch.setattr(segments, "finish_segment", finish)


def test_a_segment_finished_while_the_next_is_opened_keeps_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariant: a new segment never takes the name of a finished one, so every segment is
    finished and each written line is stored exactly once (no JSONL left behind by ``close``).
    """
    _fix_clock(monkeypatch)
    _finish_between_look_and_create(monkeypatch)
    finished: list[Path] = []
    writer = SegmentWriter(tmp_path, 0, rotate_bytes=LINE_BYTES, on_finished=finished.append)
    writer.write(_line(1))  # fills the first segment: rotated, its finish held
    writer.write(_line(2))  # opens the next segment while that finish runs to its end
    writer.close()

    assert writer.finish_errors == []
    assert not list(tmp_path.glob("log_*.jsonl")) and not list(tmp_path.glob("*.tmp"))
    assert len(finished) == len(set(finished)) == 2
    assert sorted(_stored_lines(tmp_path)) == [_line(1), _line(2)]


def test_segments_of_one_second_are_all_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many rotations within one second, compression running alongside: every line stored once."""
    _fix_clock(monkeypatch)
    writer = SegmentWriter(tmp_path, 0, rotate_bytes=4 * LINE_BYTES)
    lines = [_line(n % 10) for n in range(200)]
    for i in range(0, len(lines), 3):
        writer.write(b"".join(lines[i : i + 3]))
    writer.close()

    assert writer.finish_errors == []
    assert not list(tmp_path.glob("log_*.jsonl"))
    assert sorted(_stored_lines(tmp_path)) == sorted(lines)


def test_uncompressed_jsonl_segments_are_their_own_finished_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSONL output without compression: the segment is the finished file, and names still advance."""
    _fix_clock(monkeypatch)
    writer = SegmentWriter(tmp_path, 0, rotate_bytes=LINE_BYTES, compression="none")
    lines = [_line(n) for n in range(5)]
    writer.write(b"".join(lines))
    writer.close()

    stored = [p.read_bytes() for p in sorted(tmp_path.glob("log_0_*.jsonl"))]
    assert sorted(stored) == sorted(lines)
