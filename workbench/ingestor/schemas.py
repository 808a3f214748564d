"""The schemas an ingestor validates against: every version of the log subjects in the registry
(retried with backoff at start), else the bundled ``schemas/`` with a loud warning.

Schema id 0 always names the bundled schemas, so senders without a registry still work.
"""

from __future__ import annotations

import logging
from typing import Any

from workbench.ingestor.decoding import SchemaSet

log = logging.getLogger("workbench.ingestor")
SUBJECTS = {"avro": "logs-value", "json": "logs-json-value", "proto": "logs-proto-value"}


async def fetch_schema_set(url: str | None, timeout_seconds: float = 10.0) -> SchemaSet:
    if url is None:
        return SchemaSet(source="bundled")
    from workbench.registry.client import RegistryClient
    from workbench.registry.errors import RegistryError

    schemas = SchemaSet(source="registry")
    try:
        async with RegistryClient(url, deadline_seconds=timeout_seconds) as client:
            for kind, subject in SUBJECTS.items():
                latest = await client.get_latest(subject)
                for version in range(1, (latest.version or 1) + 1):
                    try:
                        reg = (
                            latest
                            if version == latest.version
                            else await client.get_version(subject, version)
                        )
                    except RegistryError:
                        continue  # a deleted version
                    _add(schemas, kind, reg.schema_id, reg.as_json() if kind != "proto" else None)
    except (TimeoutError, RegistryError, OSError) as exc:
        log.error(
            "SCHEMA REGISTRY %s UNREACHABLE (%s): validating against the bundled schemas/ instead", url, exc
        )
        return SchemaSet(source="bundled")
    log.info("validating against registry %s: avro ids %s, json ids %s, proto ids %s", url,
             sorted(schemas.avro), sorted(schemas.json), sorted(schemas.proto_ids))  # fmt: skip
    return schemas


def _add(schemas: SchemaSet, kind: str, schema_id: int, parsed: Any) -> None:
    if kind == "avro":
        schemas.avro[schema_id] = parsed
    elif kind == "json":
        schemas.json[schema_id] = parsed
    else:
        schemas.proto_ids.add(schema_id)
