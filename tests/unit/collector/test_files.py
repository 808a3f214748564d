"""Watcher, fingerprint, checkpoint and glob expansion: the file-following pieces on their own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from workbench.collector.checkpoint import Checkpoints, FileCheckpoint
from workbench.collector.fingerprint import Fingerprint
from workbench.collector.paths import expand, watch_dirs
from workbench.collector.watcher import WatchedFile
from workbench.errors import ConfigError


def open_wf(path: Path, offset: int = 0) -> WatchedFile:
    wf = WatchedFile.open(str(path), lambda key, fd, st: offset)
    assert wf is not None
    return wf


def test_only_complete_lines_and_partial_waits(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    p.write_bytes(b"one\ntwo\nthr")
    wf = open_wf(p)
    chunk = wf.read(1 << 16, 1 << 20)
    assert chunk is not None and (chunk.data, chunk.start) == (b"one\ntwo\n", 0)
    assert wf.read(1 << 16, 1 << 20) is None and wf.partial == b"thr" and wf.offset == 8
    with p.open("ab") as fh:
        fh.write(b"ee\nfour\n")
    chunk = wf.read(1 << 16, 1 << 20)
    assert chunk is not None and (chunk.data, chunk.start) == (b"three\nfour\n", 8)
    wf.close()


def test_small_chunks_cover_a_file_exactly(tmp_path: Path) -> None:
    lines = [f"line {i} {'x' * (i % 50)}".encode() for i in range(2000)]
    p = tmp_path / "big.log"
    p.write_bytes(b"\n".join(lines) + b"\n")
    wf = open_wf(p)
    got: list[bytes] = []
    while (chunk := wf.read(4096, 1 << 20)) is not None:
        assert chunk.start == sum(len(x) + 1 for x in got)
        got += chunk.data.split(b"\n")[:-1]
    assert got == lines and wf.offset == p.stat().st_size
    wf.close()


def test_truncation_and_rewrite_restart_at_zero(tmp_path: Path) -> None:
    p = tmp_path / "t.log"
    p.write_bytes(b"a" * 300 + b"\n")
    wf = open_wf(p)
    assert wf.read(1 << 16, 1 << 20) is not None and not wf.check()
    with p.open("r+b") as fh:  # copy-truncate
        fh.truncate(0)
    assert wf.check() and wf.offset == 0
    p.write_bytes(b"b" * 400 + b"\n")  # rewritten past the old offset before we looked: the fingerprint tells
    wf.read(1 << 16, 1 << 20)
    p.write_bytes(b"c" * 500 + b"\n")
    assert wf.check() and wf.offset == 0
    wf.close()


def test_over_long_partial_line_is_skipped(tmp_path: Path) -> None:
    p = tmp_path / "l.log"
    p.write_bytes(b"x" * 5000)
    wf = open_wf(p)
    chunk = wf.read(4096, 1024)
    assert chunk is not None and chunk.skipped and wf.partial == b""
    with p.open("ab") as fh:
        fh.write(b"yyy\nnext\n")
    chunks = []
    while (c := wf.read(4096, 1024)) is not None:
        chunks.append(c)
    assert b"".join(c.data for c in chunks) == b"next\n" and chunks[-1].start == 5004
    wf.close()


def test_fingerprint_matches_only_the_same_first_bytes(tmp_path: Path) -> None:
    p = tmp_path / "f.log"
    p.write_bytes(b"hello\n")
    fd = os.open(p, os.O_RDONLY)
    fp = Fingerprint.of_fd(fd)
    assert fp.length == 6 and fp.matches(fd)
    p.write_bytes(b"hellO\n")
    assert not fp.matches(fd)
    os.close(fd)


def test_checkpoint_roundtrip_is_atomic_and_checked(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path)
    cp.update("1:2", FileCheckpoint("/var/log/a.log", 42, 10, "abc", 1.0e12))
    cp.save("out.jsonl", 99)
    assert not list(tmp_path.glob("*.tmp"))
    again = Checkpoints(tmp_path)
    again.load()
    assert again.get("1:2") == FileCheckpoint("/var/log/a.log", 42, 10, "abc", 1.0e12)
    assert (again.output_path, again.output_mark) == ("out.jsonl", 99)
    (tmp_path / "checkpoints.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(ConfigError, match="move it away"):
        Checkpoints(tmp_path).load()


def test_expand_globs_skips_own_files(tmp_path: Path) -> None:
    (tmp_path / "logs" / "sub").mkdir(parents=True)
    for name in ("a.log", "b.log", "sub/c.log", "out.log"):
        (tmp_path / "logs" / name).write_text("x\n")
    got = expand([str(tmp_path / "logs" / "**" / "*.log"), str(tmp_path / "logs" / "a.log")],
                 ignore=[tmp_path / "logs" / "out.log"])  # fmt: skip
    assert [Path(p).name for p in got] == ["a.log", "b.log", "c.log"]
    assert watch_dirs([str(tmp_path / "logs" / "**" / "*.log")]) == {str(tmp_path / "logs"): True}
    assert watch_dirs([str(tmp_path / "logs" / "*.log")]) == {str(tmp_path / "logs"): False}
