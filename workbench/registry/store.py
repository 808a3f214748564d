"""The registry's SQLite store (WAL): schemas by id, subject versions with soft deletion, config.

Every write runs in one ``BEGIN IMMEDIATE`` transaction, so several writers (threads or even
processes on the same data dir) serialise on SQLite's write lock: the same schema always gets
the same id and versions never repeat. Ids come from ``AUTOINCREMENT`` and are never reused; a
schema row stays after its last version is permanently deleted so that re-registering it gives
back its old id, as the Confluent registry does.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from workbench.registry.errors import (
    IncompatibleSchema,
    SchemaNotFound,
    StoreError,
    SubjectConfigNotFound,
    SubjectNotFound,
    SubjectNotSoftDeleted,
    SubjectSoftDeleted,
    VersionNotFound,
    VersionNotSoftDeleted,
    VersionSoftDeleted,
)
from workbench.registry.schema_types import SchemaId, Subject

DB_FILE = "registry.sqlite3"
GLOBAL = Subject("")  # the config row of the global level; subjects are never empty strings
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS schemas (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_type TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    schema TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    subject TEXT NOT NULL,
    version INTEGER NOT NULL,
    schema_id INTEGER NOT NULL REFERENCES schemas(id),
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, version)
);
CREATE INDEX IF NOT EXISTS versions_by_schema ON versions (schema_id);
CREATE TABLE IF NOT EXISTS config (subject TEXT PRIMARY KEY, compatibility TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class VersionRow:
    subject: Subject
    version: int
    schema_id: SchemaId
    schema_type: str
    schema: str
    deleted: bool


# the compatibility callback gets the effective level and the live versions, oldest first
CompatCheck = Callable[[str, list[VersionRow]], list[str]]


class SQLiteStore:
    """Synchronous store; the HTTP layer calls it from one worker thread (see ``api.py``)."""

    def __init__(self, data_dir: Path | str) -> None:
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / DB_FILE
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA_SQL)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the registry database {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"Error in the backend data store: {exc}") from exc

    # -- reads ---------------------------------------------------------------------------------
    @staticmethod
    def _rows(db: sqlite3.Connection, subject: Subject, include_deleted: bool) -> list[VersionRow]:
        sql = (
            "SELECT v.subject, v.version, v.schema_id, s.schema_type, s.schema, v.deleted "
            "FROM versions v JOIN schemas s ON s.id = v.schema_id WHERE v.subject = ?"
        )
        if not include_deleted:
            sql += " AND v.deleted = 0"
        rows = db.execute(sql + " ORDER BY v.version", (subject,)).fetchall()
        return [VersionRow(Subject(r[0]), r[1], SchemaId(r[2]), r[3], r[4], bool(r[5])) for r in rows]

    def subjects(self, *, include_deleted: bool = False, prefix: str = "") -> list[Subject]:
        where = "" if include_deleted else "WHERE deleted = 0"
        with self._tx() as db:
            rows = db.execute(f"SELECT DISTINCT subject FROM versions {where} ORDER BY subject").fetchall()
        return [Subject(r[0]) for r in rows if r[0].startswith(prefix)]

    def versions(self, subject: Subject, *, include_deleted: bool = False) -> list[VersionRow]:
        with self._tx() as db:
            rows = self._rows(db, subject, include_deleted)
        if not rows:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        return rows

    def get_version(
        self, subject: Subject, version: int | None, *, include_deleted: bool = False
    ) -> VersionRow:
        """``version`` None means the latest."""
        rows = self.versions(subject, include_deleted=include_deleted)
        if version is None:
            return rows[-1]
        for row in rows:
            if row.version == version:
                return row
        raise VersionNotFound(f"Version {version} not found.")

    def lookup(self, subject: Subject, fingerprint: str, *, include_deleted: bool = False) -> VersionRow:
        with self._tx() as db:
            rows = self._rows(db, subject, include_deleted)
            found = db.execute("SELECT id FROM schemas WHERE fingerprint = ?", (fingerprint,)).fetchone()
        if not rows:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        matches = [r for r in rows if found and r.schema_id == found[0]]
        if not matches:
            raise SchemaNotFound("Schema not found")
        live = [r for r in matches if not r.deleted]
        return (live or matches)[-1]

    def schema_by_id(self, schema_id: SchemaId) -> tuple[str, str]:
        """``(schema_type, schema)`` of an id that some version (maybe soft-deleted) still uses."""
        with self._tx() as db:
            row = db.execute(
                "SELECT s.schema_type, s.schema FROM schemas s WHERE s.id = ? "
                "AND EXISTS (SELECT 1 FROM versions v WHERE v.schema_id = s.id)",
                (schema_id,),
            ).fetchone()
        if row is None:
            raise SchemaNotFound(f"Schema {schema_id} not found")
        return row[0], row[1]

    def id_versions(self, schema_id: SchemaId, *, include_deleted: bool = False) -> list[tuple[str, int]]:
        self.schema_by_id(schema_id)
        where = "" if include_deleted else " AND deleted = 0"
        with self._tx() as db:
            rows = db.execute(
                f"SELECT subject, version FROM versions WHERE schema_id = ?{where} ORDER BY subject, version",
                (schema_id,),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def all_latest(self, *, include_deleted: bool = False) -> list[VersionRow]:
        out: list[VersionRow] = []
        for subject in self.subjects(include_deleted=include_deleted):
            out += self.versions(subject, include_deleted=include_deleted)
        return out

    # -- writes --------------------------------------------------------------------------------
    def register(
        self, subject: Subject, *, schema_type: str, schema: str, fingerprint: str, check: CompatCheck
    ) -> tuple[int, int]:
        """``(id, version)`` of ``schema`` under ``subject``, adding a version if it is new there."""
        with self._tx(write=True) as db:
            found = db.execute("SELECT id FROM schemas WHERE fingerprint = ?", (fingerprint,)).fetchone()
            live = self._rows(db, subject, include_deleted=False)
            if found is not None:
                for row in live:
                    if row.schema_id == found[0]:
                        return row.schema_id, row.version
            level = self._level(db, subject)
            messages = check(level, live)
            if messages:
                raise IncompatibleSchema(
                    f"Schema being registered is incompatible with an earlier schema for subject "
                    f'"{subject}", details: {json.dumps(messages)}'
                )
            if found is None:
                cursor = db.execute(
                    "INSERT INTO schemas (schema_type, fingerprint, schema) VALUES (?, ?, ?)",
                    (schema_type, fingerprint, schema),
                )
                schema_id = int(cursor.lastrowid or 0)
            else:
                schema_id = found[0]
            (top,) = db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM versions WHERE subject = ?", (subject,)
            ).fetchone()
            db.execute(
                "INSERT INTO versions (subject, version, schema_id) VALUES (?, ?, ?)",
                (subject, top + 1, schema_id),
            )
            return schema_id, top + 1

    def delete_subject(self, subject: Subject, *, permanent: bool = False) -> list[int]:
        with self._tx(write=True) as db:
            rows = self._rows(db, subject, include_deleted=True)
            if not rows:
                raise SubjectNotFound(f"Subject '{subject}' not found.")
            live = [r.version for r in rows if not r.deleted]
            if permanent:
                if live:
                    raise SubjectNotSoftDeleted(
                        f"Subject '{subject}' was not deleted first before being permanently deleted"
                    )
                db.execute("DELETE FROM versions WHERE subject = ?", (subject,))
                db.execute("DELETE FROM config WHERE subject = ?", (subject,))
                return [r.version for r in rows]
            if not live:
                raise SubjectSoftDeleted(
                    f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
                )
            db.execute("UPDATE versions SET deleted = 1 WHERE subject = ?", (subject,))
            return live

    def delete_version(self, subject: Subject, version: int | None, *, permanent: bool = False) -> int:
        """``version`` None means the latest live one."""
        with self._tx(write=True) as db:
            rows = self._rows(db, subject, include_deleted=True)
            if not rows or (not permanent and all(r.deleted for r in rows)):
                raise SubjectNotFound(f"Subject '{subject}' not found.")
            if version is None:
                live = [r for r in rows if not r.deleted]
                row = live[-1] if live else rows[-1]
            else:
                matches = [r for r in rows if r.version == version]
                if not matches:
                    raise VersionNotFound(f"Version {version} not found.")
                row = matches[0]
            if permanent:
                if not row.deleted:
                    raise VersionNotSoftDeleted(
                        f"Subject '{subject}' Version {row.version} was not deleted first before being "
                        "permanently deleted"
                    )
                db.execute("DELETE FROM versions WHERE subject = ? AND version = ?", (subject, row.version))
            else:
                if row.deleted:
                    raise VersionSoftDeleted(
                        f"Subject '{subject}' Version {row.version} was soft deleted.Set permanent=true to "
                        "delete permanently"
                    )
                db.execute(
                    "UPDATE versions SET deleted = 1 WHERE subject = ? AND version = ?",
                    (subject, row.version),
                )
            return row.version

    # -- config --------------------------------------------------------------------------------
    @staticmethod
    def _level(db: sqlite3.Connection, subject: Subject) -> str:
        for key in (subject, GLOBAL):
            row = db.execute("SELECT compatibility FROM config WHERE subject = ?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
        return "BACKWARD"

    def effective_level(self, subject: Subject | None) -> str:
        with self._tx() as db:
            return self._level(db, subject or GLOBAL)

    def get_config(self, subject: Subject | None) -> str | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT compatibility FROM config WHERE subject = ?", (subject or GLOBAL,)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_config(self, subject: Subject | None, level: str) -> None:
        with self._tx(write=True) as db:
            db.execute(
                "INSERT INTO config (subject, compatibility) VALUES (?, ?) "
                "ON CONFLICT(subject) DO UPDATE SET compatibility = excluded.compatibility",
                (subject or GLOBAL, level),
            )

    def delete_config(self, subject: Subject | None) -> str:
        """Remove a level and return it (the global one falls back to BACKWARD)."""
        with self._tx(write=True) as db:
            key = subject or GLOBAL
            row = db.execute("SELECT compatibility FROM config WHERE subject = ?", (key,)).fetchone()
            if row is None:
                if subject:
                    raise SubjectConfigNotFound(
                        f"Subject '{subject}' does not have subject-level compatibility configured"
                    )
                return "BACKWARD"
            db.execute("DELETE FROM config WHERE subject = ?", (key,))
            return str(row[0])
