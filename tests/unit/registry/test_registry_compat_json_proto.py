"""JSON Schema and protobuf compatibility rules (see the module docstrings and docs/registry.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workbench.registry.compatibility import CompatibilityLevel, check_compatibility
from workbench.registry.schema_types import SchemaType, parse_schema

BACKWARD, FORWARD = CompatibilityLevel.BACKWARD, CompatibilityLevel.FORWARD


def obj(
    props: dict[str, Any], required: list[str] | None = None, closed: bool | None = True, **extra: Any
) -> Any:
    schema: dict[str, Any] = {"type": "object", "properties": props, **extra}
    if required:
        schema["required"] = required
    if closed is not None:
        schema["additionalProperties"] = not closed
    return schema


S, INT, N = {"type": "string"}, {"type": "integer"}, {"type": "number"}
JSON_CASES: list[tuple[str, Any, Any, bool, bool]] = [
    ("identical", obj({"a": S}), obj({"a": S}), True, True),
    ("add optional property, closed model", obj({"a": S}), obj({"a": S, "b": INT}), True, False),
    ("add required property", obj({"a": S}), obj({"a": S, "b": INT}, ["b"]), False, False),
    ("remove optional property, closed model", obj({"a": S, "b": INT}), obj({"a": S}), False, True),
    (
        "add optional property, open model",
        obj({"a": S}, closed=False),
        obj({"a": S, "b": INT}, closed=False),
        False,
        True,
    ),
    (
        "remove property, open model",
        obj({"a": S, "b": INT}, closed=False),
        obj({"a": S}, closed=False),
        True,
        False,
    ),
    ("close an open model", obj({"a": S}, closed=False), obj({"a": S}), False, True),
    ("integer widened to number", obj({"a": INT}), obj({"a": N}), True, False),
    ("string to integer", obj({"a": S}), obj({"a": INT}), False, False),
    ("type made nullable", obj({"a": S}), obj({"a": {"type": ["string", "null"]}}), True, False),
    (
        "enum value added",
        obj({"a": {"enum": ["x", "y"]}}),
        obj({"a": {"enum": ["x", "y", "z"]}}),
        True,
        False,
    ),
    (
        "maxLength lowered",
        obj({"a": {"type": "string", "maxLength": 10}}),
        obj({"a": {"type": "string", "maxLength": 5}}),
        False,
        True,
    ),
    (
        "minimum raised",
        obj({"a": {"type": "integer", "minimum": 0}}),
        obj({"a": {"type": "integer", "minimum": 1}}),
        False,
        True,
    ),
    (
        "array items widened",
        obj({"a": {"type": "array", "items": INT}}),
        obj({"a": {"type": "array", "items": N}}),
        True,
        False,
    ),
    (
        "$ref followed",
        {**obj({"a": {"$ref": "#/$defs/x"}}), "$defs": {"x": INT}},
        {**obj({"a": {"$ref": "#/$defs/x"}}), "$defs": {"x": S}},
        False,
        False,
    ),
]


def _j(schema: Any):  # type: ignore[no-untyped-def]
    return parse_schema(SchemaType.JSON, json.dumps(schema))


@pytest.mark.parametrize(
    ("name", "old", "new", "backward", "forward"), JSON_CASES, ids=[c[0] for c in JSON_CASES]
)
def test_json_schema_evolution(name: str, old: Any, new: Any, backward: bool, forward: bool) -> None:
    back = check_compatibility(BACKWARD, _j(new), [_j(old)])
    fwd = check_compatibility(FORWARD, _j(new), [_j(old)])
    assert (not back) is backward, back
    assert (not fwd) is forward, fwd


def test_bundled_json_schema_accepts_itself() -> None:
    from workbench.schemas import json_schema

    s = _j(json_schema())
    assert check_compatibility(CompatibilityLevel.FULL_TRANSITIVE, s, [s]) == []


BASE = """syntax = "proto3";
package t;
enum Kind { KIND_UNSPECIFIED = 0; A = 1; B = 2; }
message M {
  int32 id = 1;
  string name = 2;
  Kind kind = 3;
  repeated string tags = 4;
  oneof choice { string text = 5; int64 number = 6; }
}
"""
PROTO_CASES: list[tuple[str, str, bool]] = [
    (
        "identical modulo comments and layout",
        BASE.replace("int32 id = 1;", "int32   id = 1;  // the id"),
        True,
    ),
    ("add field", BASE.replace("  int32 id = 1;", "  int32 id = 1;\n  bool flag = 7;"), True),
    ("remove field without reserving", BASE.replace("  string name = 2;\n", ""), False),
    ("remove field reserving its number", BASE.replace("  string name = 2;\n", "  reserved 2;\n"), True),
    ("renumber field", BASE.replace("string name = 2;", "string name = 8;\n  reserved 2;"), False),
    ("rename field", BASE.replace("string name = 2;", "string title = 2;"), True),
    ("change type incompatible", BASE.replace("string name = 2;", "int64 name = 2;"), False),
    ("change type within a wire group", BASE.replace("int32 id = 1;", "int64 id = 1;"), True),
    ("singular to repeated", BASE.replace("string name = 2;", "repeated string name = 2;"), False),
    ("optional presence added", BASE.replace("string name = 2;", "optional string name = 2;"), True),
    (
        "field moved out of oneof",
        BASE.replace(
            "oneof choice { string text = 5; int64 number = 6; }",
            "string text = 5;\n  oneof choice { int64 number = 6; }",
        ),
        False,
    ),
    ("enum value added", BASE.replace("B = 2;", "B = 2; C = 3;"), True),
    ("enum value removed", BASE.replace(" B = 2;", ""), False),
    ("message removed", BASE + "message Extra { int32 x = 1; }", True),  # added: fine
    ("message renamed", BASE.replace("message M {", "message N {"), False),
    ("package changed", BASE.replace("package t;", "package u;"), False),
]


@pytest.mark.parametrize(("name", "new", "ok"), PROTO_CASES, ids=[c[0] for c in PROTO_CASES])
def test_protobuf_evolution(name: str, new: str, ok: bool) -> None:
    old_s, new_s = parse_schema("PROTOBUF", BASE), parse_schema("PROTOBUF", new)
    for level in (BACKWARD, FORWARD, CompatibilityLevel.FULL):
        messages = check_compatibility(level, new_s, [old_s])
        assert (not messages) is ok, messages


def test_protobuf_message_removed_is_reported() -> None:
    old = parse_schema("PROTOBUF", BASE + "message Extra { int32 x = 1; }")
    messages = check_compatibility(BACKWARD, parse_schema("PROTOBUF", BASE), [old])
    assert messages == ["message t.Extra: removed or renamed"]


def test_protobuf_reusing_reserved_number() -> None:
    old = parse_schema("PROTOBUF", BASE.replace("  string name = 2;\n", "  reserved 2, 9 to 11;\n"))
    new = parse_schema(
        "PROTOBUF", BASE.replace("  string name = 2;\n", "  reserved 2;\n  string again = 10;\n")
    )
    messages = check_compatibility(BACKWARD, new, [old])
    assert len(messages) == 1 and "reserved" in messages[0]
