"""Output formats of finished segments, converted from the JSONL a segment is written as.

Every stored line is a normalised log entry plus ``received_at``, ``format``, ``transport`` and
``peer`` (``STORED_FIELDS``). ``jsonl`` is copied as it is; ``csv`` has a header row and
``attributes`` as a JSON object in one column; ``text`` is the raw codec's human-readable
layout; ``parquet`` has the Arrow schema ``arrow_schema()`` derived from
``schemas/log_entry.schema.json``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

from workbench import model
from workbench.codecs.raw import RawCodec
from workbench.schemas import json_schema

EXTENSIONS = {"jsonl": ".jsonl", "csv": ".csv", "text": ".log", "parquet": ".parquet"}
EXTRA_FIELDS = {
    "received_at": {"type": "string", "format": "date-time"},
    "format": {"type": "string"},
    "transport": {"type": "string"},
    "peer": {"type": "string"},
}
STORED_FIELDS: tuple[str, ...] = (*model.FIELDS, *EXTRA_FIELDS)
_CHUNK_LINES = 20_000

if TYPE_CHECKING:
    import pyarrow as pa


def _stored_schema() -> dict[str, Any]:
    schema = dict(json_schema())
    schema["properties"] = {**schema["properties"], **EXTRA_FIELDS}
    schema["additionalProperties"] = True  # newer schema versions may add fields
    return schema


StoredEntry: Any = model.compile_entry_type(_stored_schema(), "StoredEntry")
_decoder = msgspec.json.Decoder(StoredEntry)


def arrow_type(spec: dict[str, Any]) -> pa.DataType:
    import pyarrow as pa  # imported on use: workers that write JSONL never pay for it

    types = spec.get("type")
    base = [t for t in (types if isinstance(types, list) else [types]) if t != "null"]
    if spec.get("format") == "date-time":
        return pa.timestamp("us", tz="UTC")
    if base == ["integer"]:
        return pa.int64()
    if base == ["number"]:
        return pa.float64()
    if base == ["boolean"]:
        return pa.bool_()
    if base == ["object"]:
        return pa.map_(pa.string(), pa.string())
    return pa.string()


def arrow_schema() -> pa.Schema:
    """The Arrow schema of stored entries, derived from the JSON Schema (plus the stored extras)."""
    import pyarrow as pa

    props = _stored_schema()["properties"]
    required = set(json_schema()["required"])
    return pa.schema(
        [pa.field(name, arrow_type(spec), nullable=name not in required) for name, spec in props.items()]
    )


def iter_entries(segment: Path) -> Iterator[list[Any]]:
    """Chunks of ``StoredEntry`` from a JSONL segment, without loading it whole."""
    with open(segment, "rb") as fh:
        while True:
            lines = fh.readlines(_CHUNK_LINES * 200)
            if not lines:
                return
            yield _decoder.decode_lines(b"".join(lines))


def _rows(entries: list[Any]) -> list[dict[str, Any]]:
    return msgspec.to_builtins(entries, builtin_types=(dt.datetime,))  # type: ignore[no-any-return]


def convert(segment: Path, output: str, out: BinaryIO) -> None:
    """Write a JSONL segment to ``out`` in the output format (``jsonl``, ``csv`` or ``text``)."""
    if output == "jsonl":
        with open(segment, "rb") as fh:
            while block := fh.read(1 << 20):
                out.write(block)
        return
    if output == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text)
        writer.writerow(STORED_FIELDS)
        for chunk in iter_entries(segment):
            for e in chunk:
                row = [getattr(e, f, None) for f in STORED_FIELDS]
                row[STORED_FIELDS.index("attributes")] = msgspec.json.encode(e.attributes).decode()
                writer.writerow(["" if v is None else _csv_value(v) for v in row])
        text.flush()
        text.detach()
        return
    if output == "text":
        codec = RawCodec()
        for chunk in iter_entries(segment):
            out.write(codec.encode(chunk))
        return
    raise ValueError(f"unknown output format {output!r}")


def _csv_value(v: Any) -> Any:
    return v.isoformat().replace("+00:00", "Z") if isinstance(v, dt.datetime) else v


def jsonl_to_parquet(segment: Path, target: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema()
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        for chunk in iter_entries(segment):
            rows = _rows(chunk)
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
