"""Compiled fast paths (Cython) of hot loops, each with a pure-Python path that gives the same result.

``python -m workbench.speedups.build`` compiles them in place (``make venv`` does); without a
C compiler the Python paths run and ``available()`` says which modules are missing.

The transcoders write each record's stored JSON line in C. Their checks (``_buffer.pxi``) enforce
the log entry schema as bundled: types, the level enum, string lengths in code points, UTF-8,
real dates, the attribute limits; a record they are not sure of is declined and goes to the
Python path. The ingestor stores their lines without decoding them again with msgspec only while
the loaded schema is the one those checks were written for (``checks_enforce``); with any other
schema every line is validated by msgspec as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

MODULES = ("_syslog", "_binary", "_raw", "_json", "_otlp", "_hec", "_forward", "_loki", "_esbulk", "_otlpjson",
           "_gelf")  # fmt: skip

_STRING = {"type": "string", "maxLength": 256}
_OPTIONAL = {"type": ["string", "null"], "maxLength": 256}
# schemas/log_entry.schema.json as the compiled checks enforce it (descriptions aside)
ENFORCED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "timestamp": {"type": "string", "format": "date-time"},
        "level": {"type": "string", "enum": ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]},
        "service": {"type": "string", "minLength": 1, "maxLength": 256},
        "message": {"type": "string", "maxLength": 65536},
        "host": _STRING,
        "user_id": _OPTIONAL,
        "session_id": _OPTIONAL,
        "trace_id": _OPTIONAL,
        "attributes": {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 8192},
            "maxProperties": 128,
        },
        "client_id": _OPTIONAL,
        "seq": {"type": ["integer", "null"], "minimum": 0, "maximum": 9223372036854775807},
    },
    "required": ["timestamp", "level", "service", "message", "host"],
    "additionalProperties": False,
}


def _shape(node: Any) -> Any:
    """A schema without its annotations (description, title, $id, $schema)."""
    if isinstance(node, Mapping):
        return {k: _shape(v) for k, v in node.items() if k not in ("description", "title", "$id", "$schema")}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return node


def checks_enforce(schema: Mapping[str, Any]) -> bool:
    """Whether the compiled checks enforce exactly this log entry schema (property order counts:
    it is the order of the stored fields)."""
    shape = _shape(schema)
    return shape == ENFORCED_SCHEMA and list(shape["properties"]) == list(ENFORCED_SCHEMA["properties"])


def available() -> dict[str, bool]:
    out = {}
    for name in MODULES:
        try:
            importlib.import_module(f"workbench.speedups.{name}")
            out[name] = True
        except ImportError:
            out[name] = False
    return out
