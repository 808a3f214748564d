"""Avro schema evolution against the Avro specification's resolution rules, BACKWARD and FORWARD.

Each case is (old schema, new schema, BACKWARD ok?, FORWARD ok?): BACKWARD means the new schema
reads data written with the old one, FORWARD the old schema reads data written with the new one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from workbench.registry.compatibility import CompatibilityLevel, check_compatibility
from workbench.registry.schema_types import SchemaType, parse_schema


def rec(*fields: dict[str, Any], name: str = "R", **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields), **extra}


def f(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def enum(*symbols: str, **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "E", "symbols": list(symbols), **extra}


A = f("a", "int")
CASES: list[tuple[str, Any, Any, bool, bool]] = [
    ("identical", rec(A), rec(A), True, True),
    ("add field with default", rec(A), rec(A, f("b", "string", default="x")), True, True),
    ("add field without default", rec(A), rec(A, f("b", "string")), False, True),
    ("remove field with default", rec(A, f("b", "string", default="x")), rec(A), True, True),
    ("remove field without default", rec(A, f("b", "string")), rec(A), True, False),
    (
        "add nullable field with null default",
        rec(A),
        rec(A, f("b", ["null", "string"], default=None)),
        True,
        True,
    ),
    ("promote int to long", rec(f("a", "int")), rec(f("a", "long")), True, False),
    ("promote int to float", rec(f("a", "int")), rec(f("a", "float")), True, False),
    ("promote int to double", rec(f("a", "int")), rec(f("a", "double")), True, False),
    ("promote long to double", rec(f("a", "long")), rec(f("a", "double")), True, False),
    ("promote float to double", rec(f("a", "float")), rec(f("a", "double")), True, False),
    ("narrow long to int", rec(f("a", "long")), rec(f("a", "int")), False, True),
    ("string to bytes", rec(f("a", "string")), rec(f("a", "bytes")), True, True),
    ("int to string", rec(f("a", "int")), rec(f("a", "string")), False, False),
    ("boolean to int", rec(f("a", "boolean")), rec(f("a", "int")), False, False),
    ("widen to union", rec(f("a", "int")), rec(f("a", ["null", "int"], default=None)), True, False),
    ("union add branch", rec(f("a", ["null", "int"])), rec(f("a", ["null", "int", "string"])), True, False),
    (
        "union remove branch",
        rec(f("a", ["null", "int", "string"])),
        rec(f("a", ["null", "int"])),
        False,
        True,
    ),
    ("union branch promoted", rec(f("a", ["null", "int"])), rec(f("a", ["null", "long"])), True, False),
    ("union to single type", rec(f("a", ["null", "int"])), rec(f("a", "int")), False, True),
    ("enum add symbol", rec(f("e", enum("A", "B"))), rec(f("e", enum("A", "B", "C"))), True, False),
    ("enum remove symbol", rec(f("e", enum("A", "B", "C"))), rec(f("e", enum("A", "B"))), False, True),
    (
        "enum remove symbol with reader default",
        rec(f("e", enum("A", "B", "C", default="A"))),
        rec(f("e", enum("A", "B", default="A"))),
        True,
        True,
    ),
    ("enum renamed", rec(f("e", enum("A"))), rec(f("e", {**enum("A"), "name": "F"})), False, False),
    (
        "enum renamed with alias",
        rec(f("e", enum("A"))),
        rec(f("e", {**enum("A"), "name": "F", "aliases": ["E"]})),
        True,
        False,
    ),
    ("field renamed with alias", rec(f("a", "int")), rec(f("b", "int", aliases=["a"])), True, False),
    ("field renamed without alias", rec(f("a", "int")), rec(f("b", "int")), False, False),
    ("record renamed", rec(A), rec(A, name="S"), False, False),
    ("record renamed with alias", rec(A), rec(A, name="S", aliases=["t.R"]), True, False),
    (
        "nested record add field with default",
        rec(f("n", rec(A, name="N"))),
        rec(f("n", rec(A, f("b", "long", default=0), name="N"))),
        True,
        True,
    ),
    (
        "nested record add field without default",
        rec(f("n", rec(A, name="N"))),
        rec(f("n", rec(A, f("b", "long"), name="N"))),
        False,
        True,
    ),
    (
        "nested record field promoted",
        rec(f("n", rec(f("x", "int"), name="N"))),
        rec(f("n", rec(f("x", "long"), name="N"))),
        True,
        False,
    ),
    (
        "array items promoted",
        rec(f("l", {"type": "array", "items": "int"})),
        rec(f("l", {"type": "array", "items": "long"})),
        True,
        False,
    ),
    (
        "array items changed",
        rec(f("l", {"type": "array", "items": "int"})),
        rec(f("l", {"type": "array", "items": "string"})),
        False,
        False,
    ),
    (
        "map values promoted",
        rec(f("m", {"type": "map", "values": "float"})),
        rec(f("m", {"type": "map", "values": "double"})),
        True,
        False,
    ),
    (
        "map values to union",
        rec(f("m", {"type": "map", "values": "string"})),
        rec(f("m", {"type": "map", "values": ["null", "string"]})),
        True,
        False,
    ),
    (
        "array to map",
        rec(f("l", {"type": "array", "items": "int"})),
        rec(f("l", {"type": "map", "values": "int"})),
        False,
        False,
    ),
    (
        "fixed same size",
        rec(f("x", {"type": "fixed", "name": "X", "size": 4})),
        rec(f("x", {"type": "fixed", "name": "X", "size": 4})),
        True,
        True,
    ),
    (
        "fixed size changed",
        rec(f("x", {"type": "fixed", "name": "X", "size": 4})),
        rec(f("x", {"type": "fixed", "name": "X", "size": 8})),
        False,
        False,
    ),
    (
        "fixed to bytes",
        rec(f("x", {"type": "fixed", "name": "X", "size": 4})),
        rec(f("x", "bytes")),
        False,
        False,
    ),
    (
        "logical type over same primitive",
        rec(f("t", "long")),
        rec(f("t", {"type": "long", "logicalType": "timestamp-micros"})),
        True,
        True,
    ),
    (
        "recursive record add field with default",
        rec(f("v", "int"), f("next", ["null", "t.R"], default=None)),
        rec(f("v", "int"), f("next", ["null", "t.R"], default=None), f("w", "int", default=0)),
        True,
        True,
    ),
    (
        "named type reused by reference",
        rec(f("e", enum("A", "B")), f("e2", "t.E")),
        rec(f("e", enum("A", "B", "C")), f("e2", "t.E")),
        True,
        False,
    ),
    ("primitive top level promoted", "int", "long", True, False),
]


def _parse(schema: Any):  # type: ignore[no-untyped-def]
    return parse_schema(SchemaType.AVRO, json.dumps(schema))


@pytest.mark.parametrize(("name", "old", "new", "backward", "forward"), CASES, ids=[c[0] for c in CASES])
def test_avro_evolution(name: str, old: Any, new: Any, backward: bool, forward: bool) -> None:
    old_s, new_s = _parse(old), _parse(new)
    back = check_compatibility(CompatibilityLevel.BACKWARD, new_s, [old_s])
    fwd = check_compatibility(CompatibilityLevel.FORWARD, new_s, [old_s])
    assert (not back) is backward, back
    assert (not fwd) is forward, fwd
    full = check_compatibility(CompatibilityLevel.FULL, new_s, [old_s])
    assert (not full) is (backward and forward)
    assert check_compatibility(CompatibilityLevel.NONE, new_s, [old_s]) == []


def test_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


def test_transitive_checks_every_version() -> None:
    v1 = _parse(rec(A))
    v2 = _parse(rec(A, f("b", "int", default=0)))
    v3 = _parse(rec(A, f("b", "int")))  # b without default: fine against v2 (has b), not against v1
    assert check_compatibility(CompatibilityLevel.BACKWARD, v3, [v1, v2]) == []
    messages = check_compatibility(CompatibilityLevel.BACKWARD_TRANSITIVE, v3, [v1, v2])
    assert messages and "no default" in messages[0]


def test_message_names_the_field() -> None:
    messages = check_compatibility(
        CompatibilityLevel.BACKWARD, _parse(rec(A, f("b", "string"))), [_parse(rec(A))]
    )
    assert messages == [
        "BACKWARD: /fields/b: reader field 'b' has no default value and is missing from the writer schema"
    ]
