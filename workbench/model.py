"""The one normalised log entry, compiled from ``schemas/log_entry.schema.json``.

``LogEntry`` is a msgspec ``Struct`` built at import from the JSON Schema, so the schema file
stays the single source of truth and validation of a whole batch runs in C: decoding JSON
into ``LogEntry`` (or ``msgspec.convert``-ing dicts into it) checks types, enums, required
fields and size limits in one call. ``compile_entry_type`` compiles other versions of the
schema (from the registry) the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

import msgspec

from workbench.errors import ConfigError
from workbench.schemas import json_schema

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

_Timestamp = Annotated[dt.datetime, msgspec.Meta(tz=True)]


def _meta(spec: Mapping[str, Any]) -> msgspec.Meta | None:
    kwargs: dict[str, Any] = {}
    for key, meta_key in (
        ("minLength", "min_length"),
        ("maxLength", "max_length"),
        ("minProperties", "min_length"),
        ("maxProperties", "max_length"),
        ("minimum", "ge"),
        ("maximum", "le"),
        ("pattern", "pattern"),
    ):
        if key in spec:
            kwargs[meta_key] = spec[key]
    return msgspec.Meta(**kwargs) if kwargs else None


def _annotate(tp: Any, spec: Mapping[str, Any]) -> Any:
    meta = _meta(spec)
    return Annotated[tp, meta] if meta is not None else tp


def _field_type(name: str, spec: Mapping[str, Any]) -> tuple[Any, bool]:
    """The msgspec type of one JSON Schema property, and whether it admits null."""
    types = spec.get("type")
    type_list = list(types) if isinstance(types, list) else [types]
    nullable = "null" in type_list
    base = [t for t in type_list if t != "null"]
    if "enum" in spec:
        values = tuple(v for v in spec["enum"] if v is not None)
        tp: Any = Literal[values]  # type: ignore[valid-type]
    elif base == ["string"] and spec.get("format") == "date-time":
        tp = _Timestamp
    elif base == ["string"]:
        tp = _annotate(str, spec)
    elif base == ["integer"]:
        tp = _annotate(int, spec)
    elif base == ["number"]:
        tp = _annotate(float, spec)
    elif base == ["boolean"]:
        tp = bool
    elif base == ["object"]:
        values_spec = spec.get("additionalProperties", {})
        value_tp, _ = _field_type(name, values_spec) if isinstance(values_spec, dict) else (Any, False)
        tp = _annotate(dict[str, value_tp], spec)  # type: ignore[valid-type]
    else:
        raise ConfigError(
            f"log entry schema: property {name!r} has a type this compiler does not know: {types}"
        )
    return tp, nullable


def compile_entry_type(schema: Mapping[str, Any], name: str = "LogEntry") -> type[msgspec.Struct]:
    """Compile a JSON Schema of the log entry into a validating msgspec Struct type.

    Required properties become required fields; optional ones default to ``None`` (objects to an
    empty dict). ``additionalProperties: false`` forbids unknown fields.
    """
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        raise ConfigError("log entry schema has no properties")
    required = set(schema.get("required", ()))
    fields: list[tuple[Any, ...]] = []
    for prop, spec in props.items():
        tp, _ = _field_type(prop, spec)
        if prop in required:
            fields.append((prop, tp))
        elif spec.get("type") == "object":
            fields.append((prop, tp, msgspec.field(default_factory=dict)))
        else:
            fields.append((prop, tp | None, None))
    return msgspec.defstruct(
        name,
        fields,
        kw_only=True,
        forbid_unknown_fields=schema.get("additionalProperties", True) is False,
        omit_defaults=True,
        module=__name__,
    )


_SCHEMA = json_schema()
LogEntry: Any = compile_entry_type(_SCHEMA)
"""The normalised log entry (a msgspec Struct); fields as in ``schemas/log_entry.schema.json``."""

FIELDS: tuple[str, ...] = tuple(_SCHEMA["properties"])
REQUIRED: frozenset[str] = frozenset(_SCHEMA["required"])
LEVELS: tuple[str, ...] = tuple(_SCHEMA["properties"]["level"]["enum"])
OPTIONAL_STRINGS: tuple[str, ...] = tuple(
    f for f, s in _SCHEMA["properties"].items() if f not in REQUIRED and "string" in s.get("type", ())
)

_ENTRY_LIST = list[LogEntry]  # type: ignore[valid-type]


def to_entries(records: Iterable[Mapping[str, Any]]) -> list[Any]:
    """Validate many dicts into ``LogEntry`` objects in one C call (raises ``msgspec.ValidationError``)."""
    return msgspec.convert(records if isinstance(records, list) else list(records), _ENTRY_LIST)


def to_entry(record: Mapping[str, Any]) -> Any:
    return msgspec.convert(record, LogEntry)


def to_dict(entry: Any) -> dict[str, Any]:
    """All fields of an entry as a plain dict (optional ones included, as ``None``)."""
    return {f: getattr(entry, f) for f in FIELDS}


def utc_from_micros(micros: int) -> dt.datetime:
    """Microseconds since the epoch to an aware UTC datetime; ``ValueError`` outside years 1-9999."""
    try:
        return EPOCH + dt.timedelta(microseconds=micros)
    except OverflowError:
        raise ValueError(f"timestamp {micros} µs since the epoch is outside the years 1-9999") from None


def micros_from_utc(ts: dt.datetime) -> int:
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def now_utc() -> dt.datetime:
    return dt.datetime.now(UTC)
