"""Clients against the registry: confluent-kafka's SchemaRegistryClient (third party) and ours."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.registry import RegistryClient, SyncRegistryClient, load_log_schemas
from workbench.registry.background import registry_in_thread
from workbench.registry.errors import IncompatibleSchema, RegistryUnavailable, SchemaNotFound, SubjectNotFound
from workbench.registry.service import Registry
from workbench.schemas import avro_schema, json_schema, proto_source

REC = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
REC2 = {**REC, "fields": [*REC["fields"], {"name": "b", "type": "string", "default": ""}]}
REC_BAD = {**REC, "fields": [*REC["fields"], {"name": "c", "type": "string"}]}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with registry_in_thread(tmp_path / "reg") as reg:
        yield reg


def test_confluent_kafka_client_round_trip(registry: Registry) -> None:
    sr = pytest.importorskip("confluent_kafka.schema_registry")

    client = sr.SchemaRegistryClient({"url": registry.url})
    try:
        _round_trip(sr, client)
    finally:
        client.close()


def _round_trip(sr, client) -> None:  # type: ignore[no-untyped-def]
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    schema_id = client.register_schema("orders-value", sr.Schema(json.dumps(REC), "AVRO"))
    assert isinstance(schema_id, int)
    assert json.loads(client.get_schema(schema_id).schema_str) == REC
    client.register_schema("orders-value", sr.Schema(json.dumps(REC2), "AVRO"))
    latest = client.get_latest_version("orders-value")
    assert latest.version == 2 and json.loads(latest.schema.schema_str) == REC2
    assert client.get_version("orders-value", 1).schema_id == schema_id
    assert "orders-value" in client.get_subjects()
    assert client.get_versions("orders-value") == [1, 2]
    assert client.lookup_schema("orders-value", sr.Schema(json.dumps(REC), "AVRO")).version == 1
    assert client.test_compatibility("orders-value", sr.Schema(json.dumps(REC_BAD), "AVRO")) is False
    assert client.test_compatibility("orders-value", sr.Schema(json.dumps(REC2), "AVRO")) is True
    with pytest.raises(SchemaRegistryError) as info:
        client.register_schema("orders-value", sr.Schema(json.dumps(REC_BAD), "AVRO"))
    assert info.value.http_status_code == 409 and info.value.error_code == 409
    assert client.set_compatibility("orders-value", "FULL")["compatibility"] == "FULL"
    assert client.get_compatibility("orders-value") == "FULL"
    assert client.get_config().compatibility_level is not None
    assert sorted(client.get_schema_types()) == ["AVRO", "JSON", "PROTOBUF"]
    proto = client.get_latest_version("logs-proto-value")
    assert proto.schema.schema_type == "PROTOBUF" and "message LogEntry" in proto.schema.schema_str
    assert client.delete_version("orders-value", 1) == 1
    assert client.delete_subject("orders-value") == [2]
    assert client.delete_subject("orders-value", permanent=True) == [1, 2]
    with pytest.raises(SchemaRegistryError) as info:
        client.get_versions("orders-value")
    assert info.value.error_code == 40401
    assert client.get_contexts() == ["."]
    assert client.get_referenced_by("logs-value", 1) == []


def test_async_client(registry: Registry) -> None:
    async def scenario() -> None:
        async with RegistryClient(registry.url) as client:
            schema_id = await client.register("s", json.dumps(REC))
            got = await client.get_schema(schema_id)
            assert got.as_json() == REC and await client.get_schema(schema_id) is got  # cached by id
            assert (await client.get_latest("s")).version == 1
            ok, messages = await client.is_compatible("s", json.dumps(REC_BAD))
            assert not ok and messages
            with pytest.raises(IncompatibleSchema):
                await client.register("s", json.dumps(REC_BAD))
            with pytest.raises(SchemaNotFound):
                await client.get_schema(999)
            with pytest.raises(SubjectNotFound):
                await client.get_latest("nope")
            assert "s" in await client.subjects()

    asyncio.run(scenario())


def test_sync_client(registry: Registry) -> None:
    with SyncRegistryClient(registry.url) as client:
        schema_id = client.register("s", json.dumps(REC))
        assert client.get_schema(schema_id).as_json() == REC
        assert client.get_latest("logs-value").as_json() == json.loads(json.dumps(avro_schema()))
        assert client.is_compatible("s", json.dumps(REC2)) == (True, [])


def test_load_log_schemas_from_registry(registry: Registry) -> None:
    schemas = load_log_schemas(registry.url)
    assert schemas.from_registry
    assert (
        schemas.avro == avro_schema()
        and schemas.json_schema == json_schema()
        and schemas.proto == proto_source()
    )
    assert {schemas.avro_id, schemas.json_id, schemas.proto_id} == {1, 2, 3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_load_log_schemas_falls_back() -> None:
    bundled = load_log_schemas(None)
    assert not bundled.from_registry and bundled.avro_id is None and bundled.avro == avro_schema()
    fallback = load_log_schemas(f"http://127.0.0.1:{_free_port()}", attempts=3, backoff_seconds=0.01)
    assert not fallback.from_registry and fallback.proto == proto_source()


def test_client_retries_then_raises_unavailable() -> None:
    async def scenario() -> None:
        async with RegistryClient(
            f"http://127.0.0.1:{_free_port()}", attempts=3, backoff_seconds=0.01
        ) as client:
            with pytest.raises(RegistryUnavailable, match="after 3 attempt"):
                await client.get_schema(1)

    asyncio.run(scenario())


def test_client_waits_for_a_registry_that_starts_late(tmp_path: Path) -> None:
    port = _free_port()

    async def scenario() -> None:
        registry = Registry(tmp_path / "reg", port=port)

        async def start_late() -> None:
            await asyncio.sleep(0.3)
            await registry.start()

        starter = asyncio.create_task(start_late())
        try:
            async with RegistryClient(registry.url, attempts=8, backoff_seconds=0.05) as client:
                assert (await client.get_latest("logs-value")).schema_id == 1
        finally:
            await starter
            await registry.stop()

    asyncio.run(scenario())
