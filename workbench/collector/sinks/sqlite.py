"""SQLite output: table ``logs`` indexed by timestamp, level, service and tags.

Schema (``SCHEMA``): ``id`` INTEGER PRIMARY KEY, ``timestamp`` TEXT (RFC 3339 UTC, sorts as
time), ``level``, ``service``, ``host``, ``message``, ``user_id``, ``session_id``, ``trace_id``,
``client_id``, ``seq`` INTEGER, ``tags`` (comma-joined), ``attributes`` (a JSON object). Rows of
a flush interval go in one transaction; the mark of a checkpoint is the highest ``id``
committed, and a restart deletes rows above it (they are read again from the files).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from workbench.codecs.timeparse import format_iso
from workbench.collector.sinks.base import Positions
from workbench.collector.transform import TAGS_ATTRIBUTE
from workbench.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    timestamp TEXT NOT NULL,
    level TEXT NOT NULL,
    service TEXT NOT NULL,
    host TEXT NOT NULL,
    message TEXT NOT NULL,
    user_id TEXT,
    session_id TEXT,
    trace_id TEXT,
    client_id TEXT,
    seq INTEGER,
    tags TEXT NOT NULL DEFAULT '',
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS logs_timestamp ON logs (timestamp);
CREATE INDEX IF NOT EXISTS logs_level ON logs (level);
CREATE INDEX IF NOT EXISTS logs_service ON logs (service);
CREATE INDEX IF NOT EXISTS logs_tags ON logs (tags);
"""
_INSERT = (
    "INSERT INTO logs (timestamp, level, service, host, message, user_id, session_id, trace_id, "
    "client_id, seq, tags, attributes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_json = msgspec.json.Encoder()


def _row(e: Any) -> tuple[Any, ...]:
    attrs = e.attributes
    return (
        format_iso(e.timestamp), e.level, e.service, e.host, e.message, e.user_id, e.session_id,
        e.trace_id, e.client_id, e.seq, attrs.get(TAGS_ATTRIBUTE, ""), _json.encode(attrs).decode(),
    )  # fmt: skip


class SqliteSink:
    name = "sqlite"

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path: Path | None = path
        self._path = path
        self.fsync = fsync
        self.db: sqlite3.Connection | None = None

    async def open(self, mark: int | None) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self._path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
            self.db.executescript(SCHEMA)
            if mark is not None:
                self.db.execute("DELETE FROM logs WHERE id > ?", (mark,))
            self.db.commit()
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the SQLite output {self._path}: {exc}") from None

    async def write(self, entries: Sequence[Any], positions: Positions) -> None:
        if entries:
            assert self.db is not None
            self.db.executemany(_INSERT, map(_row, entries))

    async def commit(self) -> tuple[Positions | None, int | None]:
        assert self.db is not None
        self.db.commit()
        (mark,) = self.db.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()
        return None, int(mark)

    async def close(self) -> Positions | None:
        if self.db is not None:
            self.db.commit()
            self.db.close()
            self.db = None
        return None
