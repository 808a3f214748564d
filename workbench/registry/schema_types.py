"""Schema types of the registry: parse, validate and normalise AVRO, PROTOBUF and JSON schemas.

A ``ParsedSchema`` keeps the text to store and return, the parsed form the compatibility
checkers use, and a ``fingerprint`` (type + normalised text) that gives the same schema the same
id across subjects: Avro and JSON Schema are compared as JSON with sorted keys and no
whitespace, protobuf as its token stream (comments and layout do not matter).
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any, NewType

import fastavro

from workbench.registry.errors import InvalidSchema
from workbench.registry.proto_parser import ProtoParseError, parse_proto, tokenize

# a subject's name and a schema's global id, kept apart from other strings and ints by the type
# checker (as Karapace does); the store and the domain take and return these
Subject = NewType("Subject", str)
SchemaId = NewType("SchemaId", int)


class SchemaType(enum.StrEnum):
    AVRO = "AVRO"
    PROTOBUF = "PROTOBUF"
    JSON = "JSON"

    @classmethod
    def parse(cls, value: object) -> SchemaType:
        if value is None or value == "":
            return cls.AVRO  # the API's default when schemaType is absent
        try:
            return cls(str(value).upper())
        except ValueError:
            raise InvalidSchema(
                f"Invalid schema type {value!r}: expected one of AVRO, PROTOBUF, JSON"
            ) from None


@dataclass(frozen=True, slots=True)
class ParsedSchema:
    schema_type: SchemaType
    text: str  # what GET returns as "schema"
    fingerprint: str  # sha256 of type + normalised text: equal fingerprints share one id
    parsed: Any  # Avro: (parsed schema, named types); JSON: dict|bool; PROTOBUF: ProtoFile


def _fingerprint(schema_type: SchemaType, normal: str) -> str:
    return hashlib.sha256(f"{schema_type.value}\n{normal}".encode()).hexdigest()


def _parse_avro(text: str) -> ParsedSchema:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InvalidSchema(f"Invalid schema: Avro schema is not valid JSON: {exc}") from None
    named: dict[str, Any] = {}
    try:
        parsed = fastavro.parse_schema(raw, named_schemas=named, _write_hint=False)
    except Exception as exc:  # fastavro raises several unrelated types for bad schemas
        raise InvalidSchema(f"Invalid schema: Avro: {type(exc).__name__}: {exc}") from None
    stored = json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
    normal = json.dumps(raw, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return ParsedSchema(SchemaType.AVRO, stored, _fingerprint(SchemaType.AVRO, normal), (parsed, named))


def _check_json_schema(raw: Any) -> None:
    try:
        import jsonschema
    except ImportError:  # the meta-schema check is best effort without jsonschema installed
        return
    try:
        jsonschema.validators.validator_for(raw, default=jsonschema.Draft202012Validator).check_schema(raw)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise InvalidSchema(f"Invalid schema: JSON Schema at {where}: {exc.message}") from None


def _parse_json(text: str) -> ParsedSchema:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InvalidSchema(f"Invalid schema: JSON Schema is not valid JSON: {exc}") from None
    if not isinstance(raw, dict | bool):
        raise InvalidSchema("Invalid schema: a JSON Schema must be an object or a boolean")
    _check_json_schema(raw)
    stored = json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
    normal = json.dumps(raw, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return ParsedSchema(SchemaType.JSON, stored, _fingerprint(SchemaType.JSON, normal), raw)


def _parse_protobuf(text: str) -> ParsedSchema:
    try:
        parsed = parse_proto(text)
        normal = " ".join(value for _, value, _ in tokenize(text))
    except ProtoParseError as exc:
        raise InvalidSchema(f"Invalid schema: protobuf: {exc}") from None
    return ParsedSchema(SchemaType.PROTOBUF, text, _fingerprint(SchemaType.PROTOBUF, normal), parsed)


def parse_schema(schema_type: SchemaType | str | None, text: object) -> ParsedSchema:
    """Validate ``text`` as a schema of ``schema_type``; raises ``InvalidSchema`` (42201)."""
    kind = schema_type if isinstance(schema_type, SchemaType) else SchemaType.parse(schema_type)
    if not isinstance(text, str) or not text.strip():
        raise InvalidSchema("Invalid schema: the request has no schema string")
    if kind is SchemaType.AVRO:
        return _parse_avro(text)
    if kind is SchemaType.JSON:
        return _parse_json(text)
    return _parse_protobuf(text)
