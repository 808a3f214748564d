"""Schema registry: a Confluent Schema Registry compatible HTTP service over SQLite, and its client.

See ``docs/registry.md``. ``Registry`` is the service (async ``start()``/``stop()``),
``RegistryClient``/``SyncRegistryClient``/``load_log_schemas`` the client side.
"""

from __future__ import annotations

from workbench.registry.client import (
    LogSchemas,
    RegisteredSchema,
    RegistryClient,
    SyncRegistryClient,
    load_log_schemas,
)
from workbench.registry.errors import RegistryError, RegistryUnavailable, SchemaNotFound, SubjectNotFound
from workbench.registry.service import Registry

__all__ = [
    "LogSchemas",
    "RegisteredSchema",
    "Registry",
    "RegistryClient",
    "RegistryError",
    "RegistryUnavailable",
    "SchemaNotFound",
    "SubjectNotFound",
    "SyncRegistryClient",
    "load_log_schemas",
]
