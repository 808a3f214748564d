"""Segment files of one writer: append, rotate at a size, compress off the writing thread, recover.

Layout in the data dir (contract, ``docs/architecture.md``)::

    log_<worker>_<YYYYmmdd_HHMMSS>[_<n>].jsonl          the segment being written (JSONL)
    log_<worker>_<YYYYmmdd_HHMMSS>[_<n>].jsonl.zst      a finished segment (or .gz, .csv.zst,
                                                        .log.zst, .parquet by output format)

A segment is always written as JSONL, whatever the output format: a crash then leaves a
readable, recoverable file. At rotation it becomes the output format and is compressed into a
temporary name, fsynced, renamed, and only then is the JSONL removed, so a crash at any moment
leaves either the JSONL or the finished file (never a corrupt ``.zst``). ``recover()`` on start
finishes what a crash interrupted: removes temporary files, cuts a torn last line, and
finishes the leftover segments.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, cast

import zstandard

from workbench.storage import sinks

SEGMENT_RE = re.compile(r"log_(\d+)_(\d{8}_\d{6})(?:_(\d+))?\.jsonl$")
TMP_SUFFIX = ".tmp"
COMPRESSED_SUFFIX = {"zstd": ".zst", "gzip": ".gz", "none": ""}


class SegmentWriteError(OSError):
    """A write that failed (disk full, I/O error) after ``written`` bytes of its data were appended.

    Those bytes are whole lines in the files; the caller retries with the rest only, so a retry
    never stores a line twice. Nothing torn is left behind: a partial line is truncated back.
    """

    def __init__(self, cause: OSError, written: int) -> None:
        super().__init__(cause.errno, cause.strerror, cause.filename)
        self.written = written


def segment_name(worker: int, stamp: float, serial: int = 0) -> str:
    base = f"log_{worker}_{time.strftime('%Y%m%d_%H%M%S', time.gmtime(stamp))}"
    return f"{base}_{serial}.jsonl" if serial else f"{base}.jsonl"


def finished_name(segment: Path, output: str, compression: str) -> Path:
    stem = segment.name[: -len(".jsonl")]
    if output == "parquet":  # parquet compresses its pages itself
        return segment.with_name(stem + ".parquet")
    return segment.with_name(stem + sinks.EXTENSIONS[output] + COMPRESSED_SUFFIX[compression])


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def finish_segment(segment: Path, output: str, compression: str, level: int) -> Path:
    """Turn a complete JSONL segment into its finished file; crash-safe at every step."""
    target = finished_name(segment, output, compression)
    tmp = target.with_name(target.name + TMP_SUFFIX)
    try:
        _convert(segment, tmp, output, compression, level)
    except BaseException:  # disk full: a partial temporary file would only take the space still left
        tmp.unlink(missing_ok=True)
        raise
    if target.exists():  # never replace a finished file: leave the JSONL for a later recovery
        tmp.unlink()
        raise FileExistsError(f"{target} exists already; {segment.name} is kept as JSONL")
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    segment.unlink()
    return target


def _convert(segment: Path, tmp: Path, output: str, compression: str, level: int) -> None:
    if output == "parquet":
        sinks.jsonl_to_parquet(segment, tmp)
        return
    with open(tmp, "wb") as raw_out:
        if compression == "zstd":
            cctx = zstandard.ZstdCompressor(level=level, write_checksum=True)
            with cctx.stream_writer(raw_out, closefd=False) as out:
                sinks.convert(segment, output, out)
        elif compression == "gzip":
            with gzip.GzipFile(fileobj=raw_out, mode="wb", compresslevel=max(1, min(level, 9))) as out:
                sinks.convert(segment, output, cast(BinaryIO, out))  # a binary file in all but its stub
        else:
            sinks.convert(segment, output, raw_out)
        raw_out.flush()
        os.fsync(raw_out.fileno())


def trim_torn_tail(path: Path) -> int:
    """Cut bytes after the last newline (a write torn by a crash); returns how many were cut."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        pos = size
        block = 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                if keep != size:
                    fh.truncate(keep)
                return size - keep
            pos = start
        fh.truncate(0)
        return size


class SegmentWriter:
    """Appends JSONL bytes for one worker; rotates and hands finished segments to a thread.

    Not thread-safe: one thread (the worker's writer thread) calls ``write``/``flush``/``close``.
    ``on_finished(path)`` runs on the compression thread after each finished file. A segment
    whose finishing failed (disk full) stays JSONL and is tried again at the next rotation and at
    ``close``; whatever still fails is left for ``recover()`` on the next start.
    """

    def __init__(
        self,
        directory: Path,
        worker: int,
        rotate_bytes: int,
        output: str = "jsonl",
        compression: str = "zstd",
        level: int = 3,
        on_finished: Callable[[Path], None] | None = None,
    ) -> None:
        self.directory = directory
        self.worker = worker
        self.rotate_bytes = rotate_bytes
        self.output = output
        self.compression = compression
        self.level = level
        self.on_finished = on_finished
        self.rotations = 0
        self.finish_errors: list[str] = []
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"compress-{worker}")
        self._pending: list[Future[Path]] = []
        self._unfinished: list[Path] = []  # finishing failed (disk full): retried later
        self._paths: dict[Future[Path], Path] = {}
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path | None:
        return self._path

    def _open(self) -> None:
        now = time.time()
        serial = 0
        while True:
            path = self.directory / segment_name(self.worker, now, serial)
            serial += 1
            # a segment of the same second may be finished already (its JSONL gone): never reuse
            # its name, or finishing this one fails and leaves it JSONL for good
            finished = finished_name(path, self.output, self.compression)
            if finished.exists():
                continue
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            except FileExistsError:
                continue
            # looked at again once the name is ours: the compression thread may have finished the
            # segment of this name since the first look; it puts the finished file in place before
            # it removes the JSONL, so once our create has succeeded that file shows here (unless
            # the JSONL is the finished file itself: JSONL output without compression)
            if finished != path and finished.exists():
                os.close(fd)
                path.unlink()
                continue
            self._fd = fd
            break
        self._path, self._size = path, 0

    def write(self, data: bytes) -> None:
        """Append whole lines, rotating at a line boundary once ``rotate_bytes`` is reached.

        Raises ``SegmentWriteError`` saying how many bytes were appended before the failure.
        """
        written = 0
        try:
            while data:
                room = self.rotate_bytes - self._size
                if len(data) <= room:
                    self._append(data)
                    written += len(data)
                    break
                # fill this segment up to the last line that fits (at least one line), then rotate
                cut = data.rfind(b"\n", 0, max(room, 0)) + 1 or data.find(b"\n") + 1 or len(data)
                self._append(data[:cut])
                written += cut
                data = data[cut:]
        except OSError as exc:
            raise SegmentWriteError(exc, written) from exc

    def _append(self, data: bytes) -> None:
        """Append whole lines; raises OSError (e.g. ENOSPC) with nothing half-counted."""
        if self._fd is None:
            self._open()
        assert self._fd is not None
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, view[written:])
        except OSError:
            if written:  # never leave a torn line behind a failed write
                os.ftruncate(self._fd, self._size)
            raise
        self._size += written
        if self._size >= self.rotate_bytes:
            self.rotate()

    def rotate(self) -> None:
        if self._fd is None or self._path is None:
            return
        os.close(self._fd)
        path, self._fd, self._path = self._path, None, None
        if self._size == 0:
            path.unlink(missing_ok=True)
            return
        self.rotations += 1
        self._submit(path)
        self._retry_unfinished()

    def _retry_unfinished(self) -> None:
        with self._lock:
            again, self._unfinished = self._unfinished, []
        for path in again:
            if path.exists():
                self._submit(path)

    def _submit(self, path: Path) -> None:
        fut = self._pool.submit(finish_segment, path, self.output, self.compression, self.level)
        with self._lock:
            self._paths[fut] = path
            self._pending = [f for f in self._pending if not f.done()] + [fut]
        fut.add_done_callback(self._done)

    def _done(self, fut: Future[Path]) -> None:
        with self._lock:
            path = self._paths.pop(fut)
        exc = fut.exception()
        if exc is not None:
            self.finish_errors.append(f"{type(exc).__name__}: {exc}")
            if isinstance(exc, OSError) and not isinstance(exc, FileExistsError):
                with self._lock:
                    self._unfinished.append(path)
            return
        if self.on_finished:
            self.on_finished(fut.result())

    def pending_finishes(self) -> int:
        with self._lock:
            return sum(1 for f in self._pending if not f.done())

    def close(self, finish: bool = True, timeout: float | None = None) -> None:
        """Close the open segment (finished too when ``finish``) and wait for compressions."""
        if self._fd is not None:
            if finish:
                self.rotate()
            else:
                os.close(self._fd)
                self._fd = None
        if finish:  # one more try for segments whose finishing failed (the disk may have room now)
            with self._lock:
                pending = list(self._pending)
            futures.wait(pending, timeout=timeout)
            with self._lock:
                self._unfinished.clear()
            self.recover()  # this writer's JSONL segments still on disk, whatever failed them
        self._pool.shutdown(wait=True)
        with contextlib.suppress(Exception):
            for f in self._pending:
                f.result(timeout=timeout)

    def recover(self, own_only: bool = True) -> list[Path]:
        """Finish segments a crash left behind (of this worker, or of any when ``own_only`` is False)."""
        pattern = f"log_*{TMP_SUFFIX}" if not own_only else f"log_{self.worker}_*{TMP_SUFFIX}"
        for tmp in self.directory.glob(pattern):  # another live worker's compression is not ours to undo
            tmp.unlink(missing_ok=True)
        found: list[Path] = []
        for path in sorted(self.directory.glob("log_*.jsonl")):
            m = SEGMENT_RE.match(path.name)
            if not m or (own_only and int(m.group(1)) != self.worker) or path == self._path:
                continue
            trim_torn_tail(path)
            if path.stat().st_size == 0:
                path.unlink()
                continue
            found.append(path)
            self._submit(path)
        return found


def disk_usage(directory: Path) -> int:
    """Bytes in a folder tree; files that vanish while it is walked (finished segments) are skipped."""
    total = 0
    try:
        it = os.scandir(directory)
    except FileNotFoundError:
        return 0
    with it:
        for entry in it:
            try:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
                elif entry.is_dir(follow_symlinks=False):
                    total += disk_usage(Path(entry.path))
            except FileNotFoundError:
                continue
    return total
