"""Checkpoints: how far each file has been delivered, persisted atomically.

One JSON file ``<state_dir>/checkpoints.json``::

    {"version": 1, "output": {"path": "...", "mark": 12345},
     "files": {"<dev>:<ino>": {"path": "...", "offset": 812, "fp_length": 256, "fp": "..."}}}

``offset`` is the byte just after the last line whose entry is delivered: written to the output
and flushed to the OS (file outputs, SQLite committed), or acknowledged by the ingestor
(forwarding). ``output.mark`` is the size (JSONL/CSV) or last row id (SQLite) of the output at
that moment: on restart the output is cut back to it, so lines after ``offset`` are read again
exactly once. The file is written to a temporary name, flushed (and fsync-ed when asked) and
renamed over the old one, so a crash leaves the old or the new checkpoint, never half of one.
Entries of files not seen for ``retention_seconds`` are dropped.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

VERSION = 1
FILE_NAME = "checkpoints.json"


@dataclass(slots=True)
class FileCheckpoint:
    path: str
    offset: int
    fp_length: int
    fp: str
    seen: float = 0.0  # unix time the file was last seen


class Checkpoints:
    def __init__(self, state_dir: Path, fsync: bool = False, retention_seconds: float = 7 * 86400) -> None:
        self.path = state_dir / FILE_NAME
        self.fsync = fsync
        self.retention_seconds = retention_seconds
        self.files: dict[str, FileCheckpoint] = {}
        self.output_path: str | None = None
        self.output_mark: int | None = None
        self.writes = 0

    def load(self) -> None:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"cannot read the checkpoint file {self.path}: {exc}") from None
        try:
            data: dict[str, Any] = json.loads(raw)
            if data.get("version") != VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
            self.files = {k: FileCheckpoint(**v) for k, v in data.get("files", {}).items()}
            out = data.get("output") or {}
            self.output_path, self.output_mark = out.get("path"), out.get("mark")
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"checkpoint file {self.path} is unreadable ({exc}); move it away to start over"
            ) from None

    def get(self, key: str) -> FileCheckpoint | None:
        return self.files.get(key)

    def update(self, key: str, cp: FileCheckpoint) -> None:
        self.files[key] = cp

    def save(self, output_path: str | None, output_mark: int | None) -> None:
        now = time.time()
        self.files = {
            k: v for k, v in self.files.items() if not v.seen or now - v.seen < self.retention_seconds
        }
        self.output_path, self.output_mark = output_path, output_mark
        data = {
            "version": VERSION,
            "output": {"path": output_path, "mark": output_mark},
            "files": {k: asdict(v) for k, v in self.files.items()},
        }
        body = json.dumps(data, indent=1).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, body)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        if self.fsync:
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        self.writes += 1
