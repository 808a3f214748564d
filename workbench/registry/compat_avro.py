"""Avro compatibility: can a reader schema read data written with a writer schema?

Follows the schema resolution rules of the Avro specification: records match fields by name
(or reader field aliases), a reader field missing from the writer needs a default, writer
fields unknown to the reader are skipped; enums need every writer symbol unless the reader has
an enum default; fixed sizes must be equal; arrays and maps resolve their items and values;
the promotions int->long->float->double and string<->bytes are allowed; a writer union needs
every branch readable, a reader union needs one branch that reads the writer. Named types match
by unqualified name or a reader alias. Recursive types are handled by assuming a pair already
under comparison is compatible.
"""

from __future__ import annotations

from typing import Any

from workbench.registry.schema_types import ParsedSchema

PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
# writer type -> reader types that can read it
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset(("long", "float", "double")),
    "long": frozenset(("float", "double")),
    "float": frozenset(("double",)),
    "string": frozenset(("bytes",)),
    "bytes": frozenset(("string",)),
}


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class _Checker:
    def __init__(self, reader_named: dict[str, Any], writer_named: dict[str, Any]) -> None:
        self.reader_named = reader_named
        self.writer_named = writer_named
        self.in_progress: set[tuple[str, str]] = set()

    def _deref(self, schema: Any, named: dict[str, Any]) -> Any:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return named.get(schema, schema)
        if isinstance(schema, dict) and schema.get("type") in PRIMITIVES:
            return schema["type"]  # a logical type reads like its underlying primitive
        return schema

    @staticmethod
    def _kind(schema: Any) -> str:
        if isinstance(schema, list):
            return "union"
        if isinstance(schema, dict):
            kind = schema.get("type")
            return "record" if kind == "error" else str(kind)
        return str(schema)

    @staticmethod
    def _names_match(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
        r_name, w_name = reader["name"], writer["name"]
        if _short(r_name) == _short(w_name):
            return True
        aliases = reader.get("aliases") or []
        return w_name in aliases or _short(w_name) in aliases

    def check(self, reader: Any, writer: Any, path: str) -> list[str]:
        reader = self._deref(reader, self.reader_named)
        writer = self._deref(writer, self.writer_named)
        r_kind, w_kind = self._kind(reader), self._kind(writer)

        if w_kind == "union":
            errors: list[str] = []
            for i, branch in enumerate(writer):
                errors += self.check(reader, branch, f"{path}/{i}")
            return errors
        if r_kind == "union":
            for branch in reader:
                if not self.check(branch, writer, path):
                    return []
            return [
                f"{path}: reader union {self._describe(reader)} has no branch that reads writer type "
                f"{self._describe(writer)}"
            ]
        if r_kind != w_kind:
            if r_kind in PROMOTIONS.get(w_kind, ()):
                return []
            return [f"{path}: reader type {r_kind} cannot read writer type {w_kind}"]
        if r_kind in PRIMITIVES:
            return []
        if r_kind in ("record", "enum", "fixed") and not self._names_match(reader, writer):
            return [
                f"{path}: reader {r_kind} name {reader['name']!r} does not match writer name "
                f"{writer['name']!r} (add an alias to the reader)"
            ]
        if r_kind == "record":
            return self._record(reader, writer, path)
        if r_kind == "enum":
            return self._enum(reader, writer, path)
        if r_kind == "fixed":
            if reader.get("size") != writer.get("size"):
                return [f"{path}/size: fixed size changed from {writer.get('size')} to {reader.get('size')}"]
            return []
        if r_kind == "array":
            return self.check(reader["items"], writer["items"], f"{path}/items")
        if r_kind == "map":
            return self.check(reader["values"], writer["values"], f"{path}/values")
        return [f"{path}: unknown Avro type {r_kind!r}"]

    def _record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[str]:
        key = (reader["name"], writer["name"])
        if key in self.in_progress:
            return []
        self.in_progress.add(key)
        try:
            writer_fields = {f["name"]: f for f in writer.get("fields", [])}
            errors: list[str] = []
            for r_field in reader.get("fields", []):
                name = r_field["name"]
                w_field = writer_fields.get(name)
                if w_field is None:
                    for alias in r_field.get("aliases") or []:
                        if alias in writer_fields:
                            w_field = writer_fields[alias]
                            break
                field_path = f"{path}/fields/{name}"
                if w_field is None:
                    if "default" not in r_field:
                        errors.append(
                            f"{field_path}: reader field {name!r} has no default value and is "
                            "missing from the writer schema"
                        )
                    continue
                errors += self.check(r_field["type"], w_field["type"], f"{field_path}/type")
            return errors
        finally:
            self.in_progress.discard(key)

    @staticmethod
    def _enum(reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[str]:
        if "default" in reader:
            return []
        missing = [s for s in writer.get("symbols", []) if s not in set(reader.get("symbols", []))]
        if missing:
            return [
                f"{path}/symbols: reader enum {reader['name']!r} lacks writer symbols {missing} "
                "and has no default"
            ]
        return []

    def _describe(self, schema: Any) -> str:
        if isinstance(schema, list):
            return "[" + ", ".join(self._describe(s) for s in schema) + "]"
        if isinstance(schema, dict):
            return str(schema.get("name") or schema.get("type"))
        return str(schema)


def check_avro(reader: ParsedSchema, writer: ParsedSchema) -> list[str]:
    """Messages saying why ``reader`` cannot read data written with ``writer``; empty if it can."""
    r_schema, r_named = reader.parsed
    w_schema, w_named = writer.parsed
    return [
        m if not m.startswith(":") else "/" + m
        for m in _Checker(r_named, w_named).check(r_schema, w_schema, "")
    ]
