"""Client of the registry (and of any Confluent-compatible one) for the ingestor and generator.

``RegistryClient`` is async (aiohttp): it retries connection failures and 5xx answers with
exponential backoff, bounded by ``attempts`` and ``deadline_seconds``, then raises
``RegistryUnavailable``; API errors become the typed errors of ``registry.errors``
(``SchemaNotFound``, ``SubjectNotFound``, ``IncompatibleSchema``...). Schemas are cached by id.
``SyncRegistryClient`` wraps it for code without an event loop, and ``load_log_schemas`` fetches
the three log schemas at start, falling back to the bundled ``schemas/`` when there is no
registry or it stays unreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from workbench import schemas as bundled
from workbench.registry.errors import RegistryUnavailable, error_from_body
from workbench.registry.schema_types import SchemaType
from workbench.registry.subjects import SEED_SUBJECTS

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    schema_id: int
    schema: str
    schema_type: SchemaType = SchemaType.AVRO
    subject: str | None = None
    version: int | None = None

    def as_json(self) -> Any:
        """The schema parsed as JSON (Avro and JSON Schema)."""
        return json.loads(self.schema)


class RegistryClient:
    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        attempts: int = 5,
        backoff_seconds: float = 0.1,
        max_backoff_seconds: float = 2.0,
        deadline_seconds: float = 15.0,
        request_timeout_seconds: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.auth = aiohttp.BasicAuth(*auth) if auth else None
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.deadline_seconds = deadline_seconds
        self.timeout = aiohttp.ClientTimeout(total=request_timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._by_id: dict[int, RegisteredSchema] = {}

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(auth=self.auth, timeout=self.timeout)
        deadline = time.monotonic() + self.deadline_seconds
        delay = self.backoff_seconds
        last = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                async with self._session.request(
                    method,
                    self.url + path,
                    json=body,
                    headers={"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE},
                ) as response:
                    text = await response.text()
                    data = json.loads(text) if text.strip() else None
                    if response.status < 400:
                        return data
                    if response.status < 500:
                        raise error_from_body(response.status, data)
                    last = f"HTTP {response.status}: {text[:200]}"
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt == self.attempts or time.monotonic() + delay > deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff_seconds)
        raise RegistryUnavailable(
            f"schema registry {self.url} unavailable after {attempt} attempt(s): {last}"
        )

    @staticmethod
    def _registered(data: dict[str, Any], schema_id: int | None = None) -> RegisteredSchema:
        return RegisteredSchema(
            schema_id=int(data.get("id", schema_id or 0)),
            schema=str(data["schema"]),
            schema_type=SchemaType.parse(data.get("schemaType")),
            subject=data.get("subject"),
            version=data.get("version"),
        )

    async def get_schema(self, schema_id: int) -> RegisteredSchema:
        cached = self._by_id.get(schema_id)
        if cached is None:
            cached = self._registered(await self._request("GET", f"/schemas/ids/{schema_id}"), schema_id)
            self._by_id[schema_id] = cached
        return cached

    async def get_version(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        result = self._registered(await self._request("GET", f"/subjects/{subject}/versions/{version}"))
        self._by_id.setdefault(result.schema_id, result)
        return result

    async def get_latest(self, subject: str) -> RegisteredSchema:
        return await self.get_version(subject, "latest")

    async def register(
        self, subject: str, schema: str, schema_type: SchemaType | str = SchemaType.AVRO
    ) -> int:
        kind = SchemaType.parse(schema_type)
        data = await self._request(
            "POST", f"/subjects/{subject}/versions", {"schema": schema, "schemaType": kind.value}
        )
        return int(data["id"])

    async def is_compatible(
        self,
        subject: str,
        schema: str,
        schema_type: SchemaType | str = SchemaType.AVRO,
        version: int | str = "latest",
    ) -> tuple[bool, list[str]]:
        kind = SchemaType.parse(schema_type)
        data = await self._request(
            "POST",
            f"/compatibility/subjects/{subject}/versions/{version}?verbose=true",
            {"schema": schema, "schemaType": kind.value},
        )
        return bool(data["is_compatible"]), list(data.get("messages", []))

    async def subjects(self) -> list[str]:
        return list(await self._request("GET", "/subjects"))


class SyncRegistryClient:
    """Blocking wrapper: each call runs the async client on a private event loop."""

    def __init__(self, url: str, **options: Any) -> None:
        self._client = RegistryClient(url, **options)
        self._loop = asyncio.new_event_loop()

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def close(self) -> None:
        self._run(self._client.close())
        self._loop.close()

    def __enter__(self) -> SyncRegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_schema(self, schema_id: int) -> RegisteredSchema:
        return self._run(self._client.get_schema(schema_id))  # type: ignore[no-any-return]

    def get_latest(self, subject: str) -> RegisteredSchema:
        return self._run(self._client.get_latest(subject))  # type: ignore[no-any-return]

    def register(self, subject: str, schema: str, schema_type: SchemaType | str = SchemaType.AVRO) -> int:
        return self._run(self._client.register(subject, schema, schema_type))  # type: ignore[no-any-return]

    def is_compatible(
        self,
        subject: str,
        schema: str,
        schema_type: SchemaType | str = SchemaType.AVRO,
        version: int | str = "latest",
    ) -> tuple[bool, list[str]]:
        return self._run(self._client.is_compatible(subject, schema, schema_type, version))  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class LogSchemas:
    """The three log schemas; ids are None when they come from the bundled files."""

    avro: dict[str, Any]
    json_schema: dict[str, Any]
    proto: str
    avro_id: int | None
    json_id: int | None
    proto_id: int | None
    from_registry: bool


def bundled_log_schemas() -> LogSchemas:
    return LogSchemas(
        bundled.avro_schema(), bundled.json_schema(), bundled.proto_source(), None, None, None, False
    )


_SUBJECT = {kind: subject for subject, kind in SEED_SUBJECTS.items()}


async def aload_log_schemas(
    url: str | None,
    *,
    auth: tuple[str, str] | None = None,
    attempts: int = 5,
    deadline_seconds: float = 10.0,
    backoff_seconds: float = 0.1,
) -> LogSchemas:
    """Latest ``logs-value``, ``logs-json-value``, ``logs-proto-value`` from the registry, else bundled."""
    if url is None:
        return bundled_log_schemas()
    async with RegistryClient(
        url, auth=auth, attempts=attempts, deadline_seconds=deadline_seconds, backoff_seconds=backoff_seconds
    ) as client:
        try:
            avro = await client.get_latest(_SUBJECT[SchemaType.AVRO])
            json_schema = await client.get_latest(_SUBJECT[SchemaType.JSON])
            proto = await client.get_latest(_SUBJECT[SchemaType.PROTOBUF])
        except RegistryUnavailable as exc:
            log.warning("using the bundled log schemas: %s", exc)
            return bundled_log_schemas()
    return LogSchemas(
        avro.as_json(),
        json_schema.as_json(),
        proto.schema,
        avro.schema_id,
        json_schema.schema_id,
        proto.schema_id,
        True,
    )


def load_log_schemas(url: str | None, **options: Any) -> LogSchemas:
    """Blocking ``aload_log_schemas`` for code without a running event loop."""
    return asyncio.run(aload_log_schemas(url, **options))
