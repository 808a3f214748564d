"""The three schemas in ``schemas/`` describe one log entry, and ``LogEntry`` enforces it.

Field for field, the Avro schema, the JSON Schema and the protobuf descriptor must agree on
names, order, types, enum symbols and optionality (mapping: ``timestamp-micros`` long =
``date-time`` string = int64; ``["null", T]`` with a null default = not required and nullable
= proto3 ``optional``; map of strings = object of strings = ``map<string, string>``; long =
integer = int64). The generated ``log_pb2.py`` must be what ``make proto`` makes today.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from google.protobuf.descriptor import FieldDescriptor

from workbench import model, schemas
from workbench._generated import log_pb2
from workbench.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
AVRO = schemas.avro_schema()
JSON = schemas.json_schema()
PROTO = log_pb2.DESCRIPTOR.message_types_by_name["LogEntry"]
PROTO_LEVEL = log_pb2.DESCRIPTOR.enum_types_by_name["Level"]


def avro_kind(tp: Any) -> tuple[str, bool]:
    """(normalised type, optional) of an Avro field type."""
    optional = isinstance(tp, list)
    if optional:
        assert tp[0] == "null" and len(tp) == 2, f"optional fields are ['null', T], got {tp}"
        tp = tp[1]
    if isinstance(tp, dict):
        if tp.get("logicalType") == "timestamp-micros":
            assert tp["type"] == "long"
            return "timestamp", optional
        if tp["type"] == "enum":
            return "enum", optional
        if tp["type"] == "map":
            assert tp["values"] == "string"
            return "map<string,string>", optional
    return {"string": "string", "long": "int64"}[tp], optional


def json_kind(name: str, spec: dict[str, Any]) -> tuple[str, bool]:
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    nullable = "null" in types
    (base,) = [t for t in types if t != "null"]
    optional = name not in JSON["required"]
    assert nullable == (optional and base != "object"), f"{name}: optional fields are nullable, others not"
    if "enum" in spec:
        return "enum", optional
    if base == "string" and spec.get("format") == "date-time":
        return "timestamp", optional
    if base == "object":
        assert spec["additionalProperties"]["type"] == "string"
        return "map<string,string>", optional
    return {"string": "string", "integer": "int64"}[base], optional


def proto_kind(field: Any) -> tuple[str, bool]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        entry = field.message_type
        assert entry.GetOptions().map_entry
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        assert key.type == value.type == FieldDescriptor.TYPE_STRING
        return "map<string,string>", True
    if field.name == "timestamp":
        assert field.type == FieldDescriptor.TYPE_INT64
        return "timestamp", field.has_presence
    kind = {
        FieldDescriptor.TYPE_STRING: "string",
        FieldDescriptor.TYPE_INT64: "int64",
        FieldDescriptor.TYPE_ENUM: "enum",
    }[field.type]
    return kind, field.has_presence  # proto3 `optional` gives presence


def test_same_fields_in_the_same_order() -> None:
    avro = [f["name"] for f in AVRO["fields"]]
    assert avro == list(JSON["properties"]) == [f.name for f in PROTO.fields] == list(model.FIELDS)
    assert [f.number for f in PROTO.fields] == list(range(1, len(avro) + 1))


def test_same_types_and_optionality() -> None:
    avro = {f["name"]: avro_kind(f["type"]) for f in AVRO["fields"]}
    json = {name: json_kind(name, spec) for name, spec in JSON["properties"].items()}
    proto = {f.name: proto_kind(f) for f in PROTO.fields}
    # a map is optional everywhere (it defaults to empty) and never null
    assert avro["attributes"] == ("map<string,string>", False)
    avro["attributes"] = json["attributes"]
    assert avro == json == proto
    assert {n for n, (_, opt) in json.items() if not opt} == set(JSON["required"]) == model.REQUIRED


def test_avro_optional_fields_default_to_null_and_the_map_to_empty() -> None:
    for f in AVRO["fields"]:
        if isinstance(f["type"], list):
            assert f["default"] is None, f["name"]
    assert next(f for f in AVRO["fields"] if f["name"] == "attributes")["default"] == {}


def test_same_level_symbols() -> None:
    avro = next(f for f in AVRO["fields"] if f["name"] == "level")["type"]["symbols"]
    json = JSON["properties"]["level"]["enum"]
    proto = [v.name for v in sorted(PROTO_LEVEL.values, key=lambda v: v.number)]
    assert proto[0] == "LEVEL_UNSPECIFIED" and PROTO_LEVEL.values_by_name["LEVEL_UNSPECIFIED"].number == 0
    assert avro == json == proto[1:] == list(model.LEVELS)
    assert [PROTO_LEVEL.values_by_name[s].number for s in avro] == list(range(1, len(avro) + 1))


def test_seq_range_fits_int64_and_avro_long() -> None:
    assert JSON["properties"]["seq"]["minimum"] == 0
    assert JSON["properties"]["seq"]["maximum"] == 2**63 - 1


@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="grpcio-tools is not installed")
def test_generated_proto_module_is_current(tmp_path: Path) -> None:
    """``make proto`` regenerates ``log_pb2.py`` byte for byte (grpcio-tools is pinned for this)."""
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-Ischemas",
        f"--python_out={tmp_path}",
        "schemas/log.proto",
    ]
    subprocess.run(cmd, cwd=REPO_ROOT, check=True, capture_output=True, timeout=60)
    fresh = (tmp_path / "log_pb2.py").read_bytes()
    committed = (REPO_ROOT / "workbench" / "_generated" / "log_pb2.py").read_bytes()
    assert fresh == committed, "workbench/_generated/log_pb2.py is stale: run `make proto` and commit it"


# --- LogEntry validation -------------------------------------------------------------------

VALID: dict[str, Any] = {
    "timestamp": "2025-06-30T21:59:23.123456Z",
    "level": "INFO",
    "service": "api",
    "message": "m",
    "host": "",
}


def test_minimal_entry_and_defaults() -> None:
    entry = model.to_entry(VALID)
    assert entry.timestamp == dt.datetime(2025, 6, 30, 21, 59, 23, 123_456, tzinfo=dt.UTC)
    assert entry.attributes == {} and all(getattr(entry, f) is None for f in model.OPTIONAL_STRINGS)
    assert entry.seq is None
    assert model.to_dict(entry)["user_id"] is None
    assert msgspec.json.decode(msgspec.json.encode(entry), type=model.LogEntry) == entry


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"service": None}, "Object missing required field `service`"),
        ({"level": "LOUD"}, "Invalid enum value 'LOUD' - at `$.level`"),
        ({"level": "info"}, "Invalid enum value 'info'"),
        ({"timestamp": "2025-06-30T21:59:23"}, "Expected `datetime` with a timezone"),
        ({"timestamp": dt.datetime(2025, 6, 30)}, "Expected `datetime` with a timezone"),
        ({"colour": "red"}, "Object contains unknown field `colour`"),
        ({"attributes": {str(i): "v" for i in range(129)}}, "Expected `object` of length <= 128"),
        ({"attributes": {"k": "v" * 8193}}, "Expected `str` of length <= 8192"),
        ({"attributes": {"k": 1}}, "Expected `str`, got `int`"),
        ({"message": "m" * 65537}, "Expected `str` of length <= 65536"),
        ({"service": ""}, "Expected `str` of length >= 1"),
        ({"service": "s" * 257}, "Expected `str` of length <= 256"),
        ({"user_id": "u" * 257}, "Expected `str` of length <= 256"),
        ({"seq": -1}, "Expected `int` >= 0"),
        ({"seq": 2**63}, "Expected `int` <= 9223372036854775807"),
        ({"host": 42}, "Expected `str`, got `int`"),
    ],
)
def test_entry_rejects(change: dict[str, Any], expected: str) -> None:
    record = {**VALID, **change}
    record = {k: v for k, v in record.items() if v is not None}
    with pytest.raises(msgspec.ValidationError, match=re.escape(expected)):
        model.to_entry(record)


def test_entry_accepts_the_limits() -> None:
    entry = model.to_entry(
        {
            **VALID,
            "message": "m" * 65536,
            "service": "s" * 256,
            "attributes": {str(i): "v" * 8192 for i in range(128)},
            "seq": 2**63 - 1,
        }
    )
    assert len(entry.attributes) == 128


def test_to_entries_validates_a_batch_in_one_call() -> None:
    assert len(model.to_entries([VALID, VALID])) == 2
    assert len(model.to_entries(iter([VALID]))) == 1
    with pytest.raises(msgspec.ValidationError, match=r"\$\[1\]"):
        model.to_entries([VALID, {**VALID, "level": "LOUD"}])


def test_microsecond_conversions() -> None:
    ts = dt.datetime(2025, 6, 30, 21, 59, 23, 123_456, tzinfo=dt.UTC)
    assert model.micros_from_utc(ts) == 1_751_320_763_123_456
    assert model.utc_from_micros(1_751_320_763_123_456) == ts
    assert model.utc_from_micros(-1) == dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC)
    other_zone = ts.astimezone(dt.timezone(dt.timedelta(hours=-7)))
    assert model.micros_from_utc(other_zone) == model.micros_from_utc(ts)
    for out_of_range in (2**63 - 1, -(2**63)):
        with pytest.raises(ValueError, match="outside the years 1-9999"):
            model.utc_from_micros(out_of_range)


def test_compile_rejects_a_schema_it_cannot_compile() -> None:
    with pytest.raises(ConfigError, match="no properties"):
        model.compile_entry_type({"type": "object"})
    with pytest.raises(ConfigError, match="'blob'"):
        model.compile_entry_type({"properties": {"blob": {"type": "array"}}})
