"""Locate and load the bundled schemas, the single source of truth of the log entry.

In a checkout they are ``schemas/`` at the repository root; an installed wheel carries a copy
as ``workbench/_schemas``. Nothing in the package restates their fields by hand.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

JSON_SCHEMA_FILE = "log_entry.schema.json"
AVRO_SCHEMA_FILE = "log_entry.avsc"
PROTO_FILE = "log.proto"


@cache
def schema_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "schemas", here / "_schemas"):
        if (candidate / JSON_SCHEMA_FILE).is_file():
            return candidate
    raise ConfigError(f"bundled schemas not found next to {here}: expected schemas/{JSON_SCHEMA_FILE}")


def _load_json(name: str) -> dict[str, Any]:
    path = schema_dir() / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read schema {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"schema {path} is not a JSON object")
    return data


@cache
def json_schema() -> dict[str, Any]:
    """The JSON Schema of one log entry (``schemas/log_entry.schema.json``)."""
    return _load_json(JSON_SCHEMA_FILE)


@cache
def avro_schema() -> dict[str, Any]:
    """The Avro record schema of one log entry (``schemas/log_entry.avsc``), unparsed."""
    return _load_json(AVRO_SCHEMA_FILE)


@cache
def proto_source() -> str:
    """The text of ``schemas/log.proto``."""
    return (schema_dir() / PROTO_FILE).read_text(encoding="utf-8")
