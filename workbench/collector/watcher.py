"""One followed file: read complete lines in chunks, notice truncation and rotation.

A ``WatchedFile`` holds an open descriptor, so a file renamed away (rotation by rename) is still
read to its end through it, and ``pread`` at an explicit offset, so nothing depends on a shared
file position. Only complete lines are handed out: the bytes after the last newline wait in
``partial`` until the line is finished (or the file is rotated away and quiet: then the last
line is taken as it is). A line longer than ``max_line_bytes`` is skipped up to its newline and
counted (the parser skips complete lines over the limit the same way), so a file without
newlines cannot grow memory without bound. Files of any size are
read ``chunk_bytes`` at a time and never loaded whole.

Truncation (copy-truncate rotation, or ``> file``) shows as a size below our offset, or as a
first-bytes fingerprint that no longer matches: reading restarts at 0.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from typing import Any

from workbench.collector.fingerprint import FINGERPRINT_BYTES, Fingerprint, file_key


@dataclass(slots=True)
class Pending:
    """A multi-line record still open at the end of what was read: its lines and first offset."""

    lines: list[bytes] = field(default_factory=list)
    start: int = 0
    updated: float = 0.0


@dataclass(slots=True)
class Chunk:
    data: bytes  # complete lines, each ended by b"\n"
    start: int  # file offset of data[0]
    skipped: list[tuple[int, bytes]] = field(default_factory=list)  # (size, sample) of over-long lines


class WatchedFile:
    def __init__(self, path: str, fd: int, st: os.stat_result, offset: int, fp: Fingerprint) -> None:
        self.path = path
        self.fd = fd
        self.dev, self.ino = st.st_dev, st.st_ino
        self.key = file_key(st.st_dev, st.st_ino)
        self.offset = offset  # first byte not yet handed out as part of a complete line
        self.partial = b""  # bytes read after ``offset``, no newline among them yet
        self.discarding = 0  # bytes of an over-long line skipped so far
        self.fp = fp
        self.rotated = False  # the path no longer leads to this file
        self.last_growth = time.monotonic()
        self.size = st.st_size
        self.pending = Pending()
        self.closed = False
        self.service: str | None = None  # default service of raw lines (set by the collector)

    @classmethod
    def open(cls, path: str, offset_of: Any) -> WatchedFile | None:
        """Open ``path``; ``offset_of(key, fd, st)`` says where to start. None if it vanished."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            return None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        offset = offset_of(file_key(st.st_dev, st.st_ino), fd, st)
        return cls(path, fd, st, min(offset, st.st_size), Fingerprint.of_fd(fd))

    @property
    def consumed(self) -> int:
        """Offset up to which every line is in an emitted entry (a pending record holds the rest)."""
        return self.pending.start if self.pending.lines else self.offset

    def check(self) -> bool:
        """Truncated or rewritten since we read it? If so, start again from 0 (returns True)."""
        st = os.fstat(self.fd)
        read_pos = self.offset + len(self.partial) + self.discarding
        if st.st_size > self.size:
            self.last_growth = time.monotonic()
        self.size = st.st_size
        truncated = st.st_size < read_pos
        if not truncated and self.fp.length and not self.fp.matches(self.fd):
            truncated = True
        if truncated:
            self.offset, self.partial, self.discarding = 0, b"", 0
            self.pending = Pending()
            self.fp = Fingerprint.of_fd(self.fd)
            return True
        if self.fp.length < FINGERPRINT_BYTES and st.st_size > self.fp.length:
            self.fp = Fingerprint.of_fd(self.fd)
        return False

    def has_more(self) -> bool:
        return self.size > self.offset + len(self.partial) + self.discarding

    def read(self, chunk_bytes: int, max_line_bytes: int) -> Chunk | None:
        """The next chunk of complete lines, or None at the end of what is there."""
        pos = self.offset + len(self.partial) + self.discarding
        data = os.pread(self.fd, chunk_bytes, pos)
        if not data:
            return None
        self.last_growth = time.monotonic()
        self.size = max(self.size, pos + len(data))
        if self.fp.length < FINGERPRINT_BYTES:  # the file was short: extend what identifies it
            self.fp = Fingerprint.of_fd(self.fd)
        skipped: list[tuple[int, bytes]] = []
        if self.discarding:
            nl = data.find(b"\n")
            if nl < 0:
                self.discarding += len(data)
                return Chunk(b"", self.offset, skipped)
            skipped.append((self.discarding + nl, b""))
            self.offset += self.discarding + nl + 1
            self.discarding = 0
            data = data[nl + 1 :]
        buf = self.partial + data if self.partial else data
        cut = buf.rfind(b"\n") + 1
        start = self.offset
        complete, self.partial = buf[:cut], buf[cut:]
        self.offset += cut
        if len(self.partial) > max_line_bytes:
            skipped.append((len(self.partial), self.partial[:256]))
            self.discarding = len(self.partial)
            self.partial = b""
        return Chunk(complete, start, skipped)

    def take_partial(self) -> Chunk | None:
        """The unfinished last line as a line of its own (the file is rotated away and quiet)."""
        if not self.partial:
            return None
        data, start = self.partial + b"\n", self.offset
        self.offset += len(self.partial)
        self.partial = b""
        return Chunk(data, start)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)
