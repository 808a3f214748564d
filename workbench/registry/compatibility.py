"""Compatibility levels and the check of a new schema against a subject's existing versions.

BACKWARD: the new schema reads data written with the old one (consumers upgrade first).
FORWARD: the old schema reads data written with the new one (producers upgrade first).
FULL: both. The ``_TRANSITIVE`` variants check every live version instead of only the latest.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from workbench.registry.compat_avro import check_avro
from workbench.registry.compat_json import check_json
from workbench.registry.compat_proto import check_proto
from workbench.registry.errors import InvalidCompatibilityLevel
from workbench.registry.schema_types import ParsedSchema, SchemaType


class CompatibilityLevel(enum.StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @classmethod
    def parse(cls, value: object) -> CompatibilityLevel:
        try:
            return cls(str(value).upper())
        except ValueError:
            raise InvalidCompatibilityLevel(
                "Invalid compatibility level. Valid values are none, backward, forward, full, "
                "backward_transitive, forward_transitive, and full_transitive"
            ) from None

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


DEFAULT_LEVEL = CompatibilityLevel.BACKWARD


def reader_writer_errors(reader: ParsedSchema, writer: ParsedSchema) -> list[str]:
    """Why ``reader`` cannot read ``writer``'s data (Avro, JSON Schema); same-type schemas only."""
    if reader.schema_type is SchemaType.AVRO:
        return check_avro(reader, writer)
    if reader.schema_type is SchemaType.JSON:
        return check_json(reader, writer)
    return check_proto(writer, reader)  # protobuf rules are symmetric: writer=old, reader=new


def check_compatibility(
    level: CompatibilityLevel, new: ParsedSchema, existing: Sequence[ParsedSchema]
) -> list[str]:
    """Messages why ``new`` breaks ``level`` against ``existing`` (oldest first); empty if compatible."""
    if level is CompatibilityLevel.NONE or not existing:
        return []
    targets = existing if level.transitive else existing[-1:]
    messages: list[str] = []
    for old in reversed(targets):
        if old.schema_type is not new.schema_type:
            messages.append(f"schema type changed from {old.schema_type.value} to {new.schema_type.value}")
            continue
        if new.schema_type is SchemaType.PROTOBUF:
            # one diff old -> new covers both directions
            messages += check_proto(old, new)
            continue
        if level.backward:
            messages += [f"BACKWARD: {m}" for m in reader_writer_errors(new, old)]
        if level.forward:
            messages += [f"FORWARD: {m}" for m in reader_writer_errors(old, new)]
    return messages
