"""Protobuf compatibility: the changes between an old and a new ``.proto`` that break readers.

Protobuf's wire rules are symmetric (an unknown field is skipped either way), so the same rules
apply to BACKWARD and FORWARD; what differs between levels is only which versions are checked.
A change is breaking when it makes old and new disagree about the meaning of bytes on the wire,
or invites that later:

- a message that existed is removed or renamed (by full name, package included);
- a field number disappears and is not ``reserved`` in the new schema (its number could be reused);
- a field keeps its name but gets another number (renumbered);
- a field number changes type, except within the wire-compatible groups
  {int32, uint32, int64, uint64, bool}, {sint32, sint64}, {fixed32, sfixed32},
  {fixed64, sfixed64}, {string, bytes}; enums and messages must keep the same type name;
- a field changes cardinality (singular <-> repeated, map <-> non-map, map key type);
- a field moves into, out of or between ``oneof``s;
- a new field uses a number or name the old schema reserved;
- a proto2 ``required`` field is added or removed;
- an enum value number disappears without being reserved, or a value name gets another number.

Renaming a field (same number and type) and ``optional`` <-> implicit presence are compatible.
"""

from __future__ import annotations

from workbench.registry.proto_parser import ProtoField, ProtoFile, ProtoMessage
from workbench.registry.schema_types import ParsedSchema

_WIRE_GROUPS = (
    frozenset(("int32", "uint32", "int64", "uint64", "bool")),
    frozenset(("sint32", "sint64")),
    frozenset(("fixed32", "sfixed32")),
    frozenset(("fixed64", "sfixed64")),
    frozenset(("string", "bytes")),
)


def _same_wire_type(old: str, new: str) -> bool:
    return old == new or any(old in group and new in group for group in _WIRE_GROUPS)


def _field_changes(where: str, old: ProtoField, new: ProtoField) -> list[str]:
    errors: list[str] = []
    if not _same_wire_type(old.type, new.type):
        errors.append(f"{where}: type changed from {old.type} to {new.type}")
    old_kind = "repeated" if old.label == "repeated" else old.label if old.label == "map" else "singular"
    new_kind = "repeated" if new.label == "repeated" else new.label if new.label == "map" else "singular"
    if old_kind != new_kind:
        errors.append(f"{where}: cardinality changed from {old_kind} to {new_kind}")
    elif old.map_key != new.map_key:
        errors.append(f"{where}: map key type changed from {old.map_key} to {new.map_key}")
    if old.oneof != new.oneof:
        errors.append(f"{where}: moved from oneof {old.oneof} to oneof {new.oneof}")
    if (old.label == "required") != (new.label == "required"):
        errors.append(f"{where}: 'required' added or removed")
    return errors


def _message_changes(old: ProtoMessage, new: ProtoMessage) -> list[str]:
    errors: list[str] = []
    new_by_number = {f.number: f for f in new.fields}
    new_by_name = {f.name: f for f in new.fields}
    old_numbers = {f.number for f in old.fields}
    for f in old.fields:
        where = f"{old.full_name}.{f.name} = {f.number}"
        moved = new_by_name.get(f.name)
        if moved is not None and moved.number != f.number:
            errors.append(f"{where}: field renumbered to {moved.number}")
        counterpart = new_by_number.get(f.number)
        if counterpart is None:
            if not new.is_reserved(f.number):
                errors.append(
                    f"{where}: field removed without reserving its number (add 'reserved {f.number};')"
                )
            elif f.label == "required":
                errors.append(f"{where}: required field removed")
            continue
        errors += _field_changes(where, f, counterpart)
    for f in new.fields:
        if f.number in old_numbers:
            continue
        where = f"{new.full_name}.{f.name} = {f.number}"
        if old.is_reserved(f.number) or f.name in old.reserved_names:
            errors.append(f"{where}: new field uses a number or name the previous schema reserved")
        if f.label == "required":
            errors.append(f"{where}: new field is required")
    return errors


def proto_changes(old: ProtoFile, new: ProtoFile) -> list[str]:
    """The breaking changes from ``old`` to ``new``; empty when they are wire compatible."""
    errors: list[str] = []
    for name, old_msg in old.messages.items():
        new_msg = new.messages.get(name)
        if new_msg is None:
            errors.append(f"message {name}: removed or renamed")
            continue
        errors += _message_changes(old_msg, new_msg)
    for name, old_enum in old.enums.items():
        new_enum = new.enums.get(name)
        if new_enum is None:
            # an enum nobody refers to any more is harmless; one still used by a kept field is not
            if any(f.type == name for m in new.messages.values() for f in m.fields):
                errors.append(f"enum {name}: removed but still referenced")
            continue
        new_numbers = set(new_enum.values.values())
        for value, number in old_enum.values.items():
            if value in new_enum.values and new_enum.values[value] != number:
                errors.append(f"enum {name}.{value}: renumbered from {number} to {new_enum.values[value]}")
            elif number not in new_numbers and number not in new_enum.reserved_numbers:
                errors.append(f"enum {name}.{value} = {number}: value removed without reserving its number")
    return errors


def check_proto(old: ParsedSchema, new: ParsedSchema) -> list[str]:
    return proto_changes(old.parsed, new.parsed)
