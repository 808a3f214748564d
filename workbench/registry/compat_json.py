"""JSON Schema compatibility: does the reader schema accept every document the writer accepts?

A JSON Schema is a set of valid documents, so "the reader can read the writer's data" means the
writer's set is inside the reader's. Rules (checked structurally, conservatively: a change they
cannot prove safe is reported):

- ``type``: every writer type must be allowed by the reader (``integer`` fits in ``number``);
- ``enum``/``const``: writer values must be a subset of the reader's; a reader enum on a writer
  without one is a narrowing;
- strings, numbers, arrays, objects: a tighter ``maxLength``/``minLength``/``pattern``,
  ``minimum``/``maximum`` (and exclusive), ``multipleOf``, ``minItems``/``maxItems``,
  ``uniqueItems``, ``minProperties``/``maxProperties`` is a narrowing;
- objects: a property required by the reader but not by the writer is a new required property;
  a writer property the reader closes off (``additionalProperties: false``) or constrains
  differently is incompatible; a reader property absent from an open writer (no
  ``additionalProperties: false``) is incompatible unless it accepts anything, since the writer
  allowed any value there; closing an open content model is incompatible;
- ``items``, ``properties``, ``additionalProperties`` recurse; ``anyOf``/``oneOf``: every writer
  branch needs a reader branch that accepts it; ``allOf``: the writer must satisfy every reader
  branch; local ``$ref`` (``#/...``) is followed; ``true``/``{}`` accepts anything.
"""

from __future__ import annotations

from typing import Any

from workbench.registry.schema_types import ParsedSchema

_ANNOTATIONS = frozenset(
    [
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "format",
        "readOnly",
        "writeOnly",
        "deprecated",
        "$defs",
        "definitions",
        "$anchor",
    ]
)
# keyword: (reader bound is tighter when ...) for numeric bounds
_LOWER = ("minLength", "minimum", "minItems", "minProperties", "exclusiveMinimum")
_UPPER = ("maxLength", "maximum", "maxItems", "maxProperties", "exclusiveMaximum")


def _types(schema: dict[str, Any]) -> set[str] | None:
    value = schema.get("type")
    if value is None:
        return None
    return {value} if isinstance(value, str) else set(value)


def _accepts_anything(schema: Any) -> bool:
    return schema is True or (isinstance(schema, dict) and not (set(schema) - _ANNOTATIONS))


class _Checker:
    def __init__(self, reader_root: Any, writer_root: Any) -> None:
        self.roots = (reader_root, writer_root)
        self.in_progress: set[tuple[int, int]] = set()

    @staticmethod
    def _deref(schema: Any, root: Any) -> Any:
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
            ref = schema["$ref"]
            if not ref.startswith("#"):
                return schema  # remote refs are compared as written
            target = root
            for part in [p for p in ref[1:].split("/") if p]:
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    return schema
                target = target[part]
            schema = target
            seen += 1
        return schema

    def check(self, reader: Any, writer: Any, path: str) -> list[str]:
        reader = self._deref(reader, self.roots[0])
        writer = self._deref(writer, self.roots[1])
        where = path or "#"
        if _accepts_anything(reader) or writer is False:
            return []
        if reader is False:
            return [f"{where}: the reader schema is false and rejects everything the writer allows"]
        if writer is True:
            return [f"{where}: the writer schema accepts anything but the reader schema constrains it"]
        key = (id(reader), id(writer))
        if key in self.in_progress:
            return []
        self.in_progress.add(key)
        try:
            return self._check(reader, writer, where)
        finally:
            self.in_progress.discard(key)

    def _check(self, reader: dict[str, Any], writer: dict[str, Any], where: str) -> list[str]:
        errors: list[str] = []
        # combinators first: a writer union is checked branch by branch
        for key in ("anyOf", "oneOf"):
            if key in writer and key not in reader:
                rest = {k: v for k, v in writer.items() if k != key}
                for i, branch in enumerate(writer[key]):
                    errors += self.check(
                        reader,
                        {**rest, **branch} if isinstance(branch, dict) else branch,
                        f"{where}/{key}/{i}",
                    )
                return errors
        for key in ("anyOf", "oneOf"):
            if key in reader:
                w_branches = writer.get(key, writer.get("anyOf" if key == "oneOf" else "oneOf", [writer]))
                for i, w_branch in enumerate(w_branches):
                    if not any(not self.check(r, w_branch, where) for r in reader[key]):
                        errors.append(f"{where}/{key}: no reader branch accepts writer branch {i}")
        for i, r_branch in enumerate(reader.get("allOf", [])):
            errors += self.check(r_branch, writer, f"{where}/allOf/{i}")
        if "not" in reader and reader.get("not") != writer.get("not"):
            errors.append(f"{where}/not: 'not' was added or changed")

        r_types, w_types = _types(reader), _types(writer)
        if r_types is not None:
            if w_types is None:
                errors.append(
                    f"{where}/type: the reader restricts type to {sorted(r_types)}, the writer "
                    "allowed any type"
                )
            else:
                missing = {
                    t for t in w_types if t not in r_types and not (t == "integer" and "number" in r_types)
                }
                if missing:
                    errors.append(
                        f"{where}/type: writer type(s) {sorted(missing)} not accepted by the reader "
                        f"types {sorted(r_types)}"
                    )
        errors += self._values(reader, writer, where)
        errors += self._bounds(reader, writer, where)
        errors += self._object(reader, writer, where)
        if "items" in reader or "items" in writer:
            r_items, w_items = reader.get("items", True), writer.get("items", True)
            if isinstance(r_items, list) or isinstance(w_items, list):
                if r_items != w_items:
                    errors.append(f"{where}/items: tuple items changed")
            else:
                errors += self.check(r_items, w_items, f"{where}/items")
        return errors

    @staticmethod
    def _values(reader: dict[str, Any], writer: dict[str, Any], where: str) -> list[str]:
        errors: list[str] = []
        r_values = reader.get("enum", [reader["const"]] if "const" in reader else None)
        w_values = writer.get("enum", [writer["const"]] if "const" in writer else None)
        if r_values is not None:
            if w_values is None:
                errors.append(f"{where}/enum: the reader restricts values to {r_values}, the writer did not")
            else:
                removed = [v for v in w_values if v not in r_values]
                if removed:
                    errors.append(f"{where}/enum: writer values {removed} are not accepted by the reader")
        if "pattern" in reader and reader.get("pattern") != writer.get("pattern"):
            errors.append(f"{where}/pattern: pattern added or changed to {reader['pattern']!r}")
        if "multipleOf" in reader and reader.get("multipleOf") != writer.get("multipleOf"):
            errors.append(f"{where}/multipleOf: multipleOf added or changed")
        if reader.get("uniqueItems") and not writer.get("uniqueItems"):
            errors.append(f"{where}/uniqueItems: uniqueItems added")
        return errors

    @staticmethod
    def _bounds(reader: dict[str, Any], writer: dict[str, Any], where: str) -> list[str]:
        errors: list[str] = []
        for key in _LOWER:
            r, w = reader.get(key), writer.get(key)
            if isinstance(r, int | float) and not isinstance(r, bool) and (w is None or w < r):
                errors.append(f"{where}/{key}: lower bound raised from {w} to {r}")
        for key in _UPPER:
            r, w = reader.get(key), writer.get(key)
            if isinstance(r, int | float) and not isinstance(r, bool) and (w is None or w > r):
                errors.append(f"{where}/{key}: upper bound lowered from {w} to {r}")
        return errors

    def _object(self, reader: dict[str, Any], writer: dict[str, Any], where: str) -> list[str]:
        errors: list[str] = []
        r_props: dict[str, Any] = reader.get("properties", {})
        w_props: dict[str, Any] = writer.get("properties", {})
        r_extra = reader.get("additionalProperties", True)
        w_extra = writer.get("additionalProperties", True)
        new_required = set(reader.get("required", [])) - set(writer.get("required", []))
        for name in sorted(new_required):
            errors.append(
                f"{where}/required: property {name!r} is required by the reader but not by the writer"
            )
        for name, w_schema in w_props.items():
            if name in r_props:
                errors += self.check(r_props[name], w_schema, f"{where}/properties/{name}")
            elif r_extra is False:
                errors.append(
                    f"{where}/properties/{name}: property removed and the reader's content model is "
                    "closed (additionalProperties: false)"
                )
            else:
                errors += self.check(r_extra, w_schema, f"{where}/properties/{name}")
        for name, r_schema in r_props.items():
            if name in w_props or w_extra is False:
                continue
            sub = self.check(r_schema, w_extra, f"{where}/properties/{name}")
            if sub:
                errors.append(
                    f"{where}/properties/{name}: property added to an open content model: the writer "
                    "allowed any value there"
                )
        if r_extra is False and w_extra is not False:
            errors.append(
                f"{where}/additionalProperties: the content model was closed (additionalProperties: false)"
            )
        elif w_extra is not False and not _accepts_anything(r_extra):
            errors += self.check(r_extra, w_extra, f"{where}/additionalProperties")
        return errors


def check_json(reader: ParsedSchema, writer: ParsedSchema) -> list[str]:
    """Messages saying why ``reader`` rejects documents valid under ``writer``; empty if it accepts all."""
    return _Checker(reader.parsed, writer.parsed).check(reader.parsed, writer.parsed, "")
