"""The shape of a sink, and the byte-file sink that JSONL and CSV share."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from workbench.errors import ConfigError

Positions = dict[str, int]  # file key -> offset reached


class Sink(Protocol):
    name: str
    path: Path | None

    async def open(self, mark: int | None) -> None: ...

    async def write(self, entries: Sequence[Any], positions: Positions) -> None: ...

    async def commit(self) -> tuple[Positions | None, int | None]:
        """Make writes durable; returns (positions covered, None meaning all written; new mark)."""
        ...

    async def close(self) -> Positions | None:
        """Flush and release; returns positions made durable by the close itself (forwarding)."""
        ...


class ByteFileSink:
    """An append-only file; the mark is its size, a restart truncates back to it."""

    name = "file"

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path: Path | None = path
        self._path = path
        self.fsync = fsync
        self.fh: Any = None

    async def open(self, mark: int | None) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = self._path.open("ab", buffering=1 << 20)
        except OSError as exc:
            raise ConfigError(f"cannot open the output file {self._path}: {exc}") from None
        size = self.fh.tell()
        if mark is not None and size > mark:
            # written after the last checkpoint: those lines are read again, so drop their output
            self.fh.truncate(mark)
            self.fh.seek(mark)
        if self.fh.tell() == 0:
            self.start_file()

    def start_file(self) -> None:
        """Written at the start of an empty file (a CSV header)."""

    async def commit(self) -> tuple[Positions | None, int | None]:
        self.fh.flush()
        if self.fsync:
            os.fsync(self.fh.fileno())
        return None, self.fh.tell()

    async def close(self) -> Positions | None:
        if self.fh is not None:
            self.fh.flush()
            if self.fsync:
                os.fsync(self.fh.fileno())
            self.fh.close()
            self.fh = None
        return None
