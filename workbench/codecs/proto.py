"""Protobuf: one ``LogBatch`` message (``schemas/log.proto``) per payload.

On a stream each payload is a length-prefixed frame (see ``workbench.wire``). Timestamps travel
as int64 microseconds since the epoch (UTC); the level as the ``Level`` enum, whose zero value
``LEVEL_UNSPECIFIED`` is rejected by validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import DecodeError as ProtoDecodeError

from workbench import model
from workbench._generated import log_pb2
from workbench.codecs.base import MALFORMED, Decoded, RecordError, validate

LogBatch = log_pb2.LogBatch
_LEVEL_NAMES: tuple[str, ...] = tuple(log_pb2.Level.Name(i) for i in range(len(log_pb2.Level.keys())))
_LEVEL_NUMBERS: dict[str, int] = {name: log_pb2.Level.Value(name) for name in model.LEVELS}
_OPTIONAL = (*model.OPTIONAL_STRINGS, "seq")


class ProtoCodec:
    name = "proto"
    binary = True

    def encode(self, entries: Sequence[Any]) -> bytes:
        batch = LogBatch()
        add = batch.entries.add
        for e in entries:
            msg = add(
                timestamp=model.micros_from_utc(e.timestamp),
                level=_LEVEL_NUMBERS[e.level],
                service=e.service,
                message=e.message,
                host=e.host,
                attributes=e.attributes,
            )
            for f in _OPTIONAL:
                value = getattr(e, f)
                if value is not None:
                    setattr(msg, f, value)
        return batch.SerializeToString()

    def decode(self, payload: bytes) -> Decoded:
        try:
            batch = LogBatch.FromString(payload)
        except ProtoDecodeError as exc:
            return Decoded(errors=[RecordError(0, MALFORMED, f"not a LogBatch: {exc}", payload[:4096])])
        records: list[dict[str, Any]] = []
        levels = _LEVEL_NAMES
        for m in batch.entries:
            rec: dict[str, Any] = {
                "timestamp": model.utc_from_micros(m.timestamp),
                "level": levels[m.level] if 0 <= m.level < len(levels) else str(m.level),
                "service": m.service,
                "message": m.message,
                "host": m.host,
                "attributes": dict(m.attributes),
            }
            for f in _OPTIONAL:
                if m.HasField(f):
                    rec[f] = getattr(m, f)
            records.append(rec)
        return validate(records, lambda i: batch.entries[i].SerializeToString())


CODEC = ProtoCodec()
