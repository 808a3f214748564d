"""The registry's domain operations over the store, independent of HTTP.

Parsing and compatibility checks run here; the SQLite calls run in one worker thread so that the
event loop never blocks on disk and writes stay serialised (SQLite's lock covers other processes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from workbench import schemas as bundled
from workbench.registry.compatibility import CompatibilityLevel, check_compatibility
from workbench.registry.errors import IncompatibleSchema, InvalidVersion, SubjectNotFound
from workbench.registry.schema_types import ParsedSchema, SchemaType, Subject, parse_schema
from workbench.registry.store import SQLiteStore, VersionRow

log = logging.getLogger(__name__)
T = TypeVar("T")

# (contract) the subjects seeded from the bundled schemas/ on start, when absent
SEED_SUBJECTS: dict[Subject, SchemaType] = {
    Subject("logs-value"): SchemaType.AVRO,
    Subject("logs-proto-value"): SchemaType.PROTOBUF,
    Subject("logs-json-value"): SchemaType.JSON,
}
_MAX_VERSION = 2**31 - 1


def bundled_schema_text(schema_type: SchemaType) -> str:
    import json

    if schema_type is SchemaType.AVRO:
        return json.dumps(bundled.avro_schema())
    if schema_type is SchemaType.JSON:
        return json.dumps(bundled.json_schema())
    return bundled.proto_source()


def parse_version(value: str | int) -> int | None:
    """A version path segment: a positive int, or ``latest``/``-1`` (None); else 42202."""
    text = str(value).strip()
    if text.lower() == "latest" or text == "-1":
        return None
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= _MAX_VERSION:
        raise InvalidVersion(
            f"The specified version '{text}' is not a valid version id. Allowed values are between "
            f'[1, {_MAX_VERSION}] and the string "latest"'
        )
    return number


def _parse_row(row: VersionRow) -> ParsedSchema:
    return parse_schema(SchemaType(row.schema_type), row.schema)


class RegistryService:
    def __init__(self, data_dir: Path | str) -> None:
        self.store = SQLiteStore(data_dir)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-store")

    async def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.store.close()

    # -- registration --------------------------------------------------------------------------
    def register_sync(self, subject: Subject, parsed: ParsedSchema) -> tuple[int, int]:
        def check(level: str, live: list[VersionRow]) -> list[str]:
            return check_compatibility(CompatibilityLevel(level), parsed, [_parse_row(r) for r in live])

        return self.store.register(
            subject,
            schema_type=parsed.schema_type.value,
            schema=parsed.text,
            fingerprint=parsed.fingerprint,
            check=check,
        )

    async def register(self, subject: Subject, schema_type: str | None, schema: object) -> tuple[int, int]:
        parsed = parse_schema(schema_type, schema)
        return await self.run(self.register_sync, subject, parsed)

    async def lookup(
        self, subject: Subject, schema_type: str | None, schema: object, deleted: bool
    ) -> VersionRow:
        parsed = parse_schema(schema_type, schema)
        return await self.run(self.store.lookup, subject, parsed.fingerprint, include_deleted=deleted)

    async def check(
        self, subject: Subject, version: str | None, schema_type: str | None, schema: object
    ) -> list[str]:
        """Compatibility messages of ``schema`` against one version, or all versions when ``version`` is None."""
        parsed = parse_schema(schema_type, schema)
        level = CompatibilityLevel(await self.run(self.store.effective_level, subject))
        if version is None:
            try:
                rows = await self.run(self.store.versions, subject)
            except SubjectNotFound:
                return []  # nothing registered yet: anything is compatible
            return check_compatibility(level, parsed, [_parse_row(r) for r in rows])
        row = await self.run(self.store.get_version, subject, parse_version(version))
        return check_compatibility(level, parsed, [_parse_row(row)])

    # -- seeding -------------------------------------------------------------------------------
    def seed(self) -> list[str]:
        """Register the bundled schemas under ``SEED_SUBJECTS`` unless already there; returns those added."""
        added: list[str] = []
        for subject, schema_type in SEED_SUBJECTS.items():
            parsed = parse_schema(schema_type, bundled_schema_text(schema_type))
            try:
                before = {r.version for r in self._live(subject)}
                _, version = self.register_sync(subject, parsed)
            except IncompatibleSchema as exc:
                log.warning("not seeding %s: %s", subject, exc)
                continue
            if version not in before:
                added.append(subject)
        return added

    def _live(self, subject: Subject) -> list[VersionRow]:
        try:
            return self.store.versions(subject)
        except SubjectNotFound:
            return []
