"""Schema registry: a Confluent Schema Registry compatible HTTP service over SQLite, and its client.

See ``docs/registry.md``. ``Registry`` is the service (async ``start()``/``stop()``),
``RegistryClient``/``SyncRegistryClient``/``load_log_schemas`` the client side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.registry.client import (
        LogSchemas,
        RegisteredSchema,
        RegistryClient,
        SyncRegistryClient,
        load_log_schemas,
    )
    from workbench.registry.errors import RegistryError, RegistryUnavailable, SchemaNotFound, SubjectNotFound
    from workbench.registry.service import Registry
else:
    from workbench._lazy import exports

    __getattr__ = exports(
        __name__,
        {
            "LogSchemas": "workbench.registry.client",
            "RegisteredSchema": "workbench.registry.client",
            "RegistryClient": "workbench.registry.client",
            "SyncRegistryClient": "workbench.registry.client",
            "load_log_schemas": "workbench.registry.client",
            "RegistryError": "workbench.registry.errors",
            "RegistryUnavailable": "workbench.registry.errors",
            "SchemaNotFound": "workbench.registry.errors",
            "SubjectNotFound": "workbench.registry.errors",
            "Registry": "workbench.registry.service",
        },
    )

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
