"""Parsing, validation (42201 messages) and normalisation of the three schema types."""

from __future__ import annotations

import json

import pytest

from workbench.registry.errors import InvalidSchema
from workbench.registry.proto_parser import parse_proto
from workbench.registry.schema_types import SchemaType, parse_schema
from workbench.schemas import avro_schema, json_schema, proto_source


def test_bundled_schemas_parse() -> None:
    assert parse_schema("AVRO", json.dumps(avro_schema())).schema_type is SchemaType.AVRO
    assert parse_schema("JSON", json.dumps(json_schema())).schema_type is SchemaType.JSON
    proto = parse_schema("PROTOBUF", proto_source())
    assert set(proto.parsed.messages) == {"workbench.logs.LogEntry", "workbench.logs.LogBatch"}


def test_default_type_is_avro() -> None:
    assert parse_schema(None, '"string"').schema_type is SchemaType.AVRO


def test_normalised_fingerprints() -> None:
    a = parse_schema("AVRO", '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}')
    b = parse_schema("AVRO", '{"fields":[{"type":"int","name":"a"}],"name":"R","type":"record"}')
    assert a.fingerprint == b.fingerprint
    assert (
        parse_schema("JSON", '{"type": "string"}').fingerprint != parse_schema("AVRO", '"string"').fingerprint
    )
    p1 = parse_schema("PROTOBUF", 'syntax = "proto3"; message M { int32 a = 1; }')
    p2 = parse_schema("PROTOBUF", 'syntax = "proto3";\n// c\nmessage M {\n  int32 a = 1;  /* x */\n}\n')
    assert p1.fingerprint == p2.fingerprint


@pytest.mark.parametrize(
    ("schema_type", "text", "fragment"),
    [
        ("AVRO", "{not json", "not valid JSON"),
        ("AVRO", '{"type": "nope"}', "UnknownType"),
        (
            "AVRO",
            '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": "x"}]}',
            "Default value",
        ),
        ("AVRO", '{"type": "enum", "name": "E", "symbols": ["A", "A"]}', "Avro"),
        ("JSON", "[1, 2]", "must be an object"),
        ("JSON", '{"type": "strin"}', "JSON Schema at type"),
        ("JSON", '{"properties": {"a": {"minLength": -1}}}', "JSON Schema at properties/a/minLength"),
        ("PROTOBUF", "message M { int32 a = 1 }", "line 1: expected ';'"),
        ("PROTOBUF", 'syntax = "proto3"; message M { int32 a = 1; string b = 1; }', "reuses number 1"),
        ("PROTOBUF", 'syntax = "proto3"; message M { Missing a = 1; }', "unknown type 'Missing'"),
        ("PROTOBUF", 'syntax = "proto3"; message M { required int32 a = 1; }', "not allowed in proto3"),
        ("PROTOBUF", 'syntax = "proto3"; enum E { A = 1; }', "must be 0"),
        ("PROTOBUF", 'syntax = "proto3"; message M { int32 a = 0; }', "outside 1.."),
        ("PROTOBUF", "", "no schema string"),
        ("XML", "<a/>", "Invalid schema type"),
    ],
)
def test_invalid_schemas(schema_type: str, text: str, fragment: str) -> None:
    with pytest.raises(InvalidSchema) as info:
        parse_schema(schema_type, text)
    assert info.value.error_code == 42201
    assert fragment in info.value.message


def test_proto_parser_features() -> None:
    text = """
    syntax = "proto3";
    package a.b;
    import "google/protobuf/timestamp.proto";
    option java_package = "x.y";
    message Outer {
      message Inner { enum Color { RED = 0; } Color c = 1; }
      Inner inner = 1 [deprecated = true];
      map<string, Inner> by_name = 2;
      google.protobuf.Timestamp at = 3;
      reserved 4, 6 to 8, "old";
      oneof o { string s = 9; Inner.Color color = 10; }
    }
    service S { rpc Get (Outer) returns (Outer); }
    """
    parsed = parse_proto(text)
    outer = parsed.messages["a.b.Outer"]
    by_number = {f.number: f for f in outer.fields}
    assert by_number[1].type == "a.b.Outer.Inner"
    assert by_number[2].label == "map" and by_number[2].map_key == "string"
    assert by_number[3].type == "google.protobuf.Timestamp"  # unresolved, from an import
    assert by_number[10].type == "a.b.Outer.Inner.Color" and by_number[10].oneof == "o"
    assert outer.is_reserved(7) and "old" in outer.reserved_names
