"""Stored logs into Arrow and Polars: the ingestor's output files and the collector's outputs.

Every reader yields ``pyarrow.RecordBatch`` es of one schema, ``arrow_schema()`` of
``workbench.storage.sinks`` (derived from ``schemas/log_entry.schema.json`` plus ``received_at``,
``format``, ``transport``, ``peer``), whatever the file kind:

========================================  =====================================================
``.jsonl`` ``.jsonl.zst`` ``.jsonl.gz``    ingestor segments, collector JSONL (extra keys ignored)
``.csv`` ``.csv.zst`` ``.csv.gz``          ingestor ``--output csv``, collector CSV (``attributes``
                                           as a JSON object; missing columns are null)
``.log`` ``.log.zst`` ``.log.gz``          ingestor ``--output text`` (the raw codec's layout)
``.parquet``                               ingestor ``--output parquet`` (any Parquet of entries)
``.db`` ``.sqlite`` ``.sqlite3``           collector SQLite (table ``logs``, else the first table
                                           with a ``message`` column)
========================================  =====================================================

Compressed files are decompressed as a stream, a chunk at a time, never to disk and never whole:
memory stays bounded by ``batch_rows`` whatever the size of the data dir. ``scan_logs`` is the
lazy Polars view (a Polars IO source: projections, filters and ``head`` are pushed into the
reader, and the streaming engine pulls one batch at a time).
"""

from __future__ import annotations

import gzip
import io
import operator
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import ConfigError
from workbench.storage.sinks import arrow_schema

if TYPE_CHECKING:
    import polars as pl

BATCH_ROWS = 50_000
_READ_HINT = 8 << 20  # bytes of lines decoded per msgspec call
_SKIP_DIRS = {"tls", "rejected", "state"}
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_attrs_decoder = msgspec.json.Decoder(list[dict[str, Any] | None])


@dataclass
class LoadStats:
    """What a load read: files, rows, and lines skipped because they are not a valid entry."""

    files: int = 0
    rows: int = 0
    skipped: int = 0
    skipped_samples: list[str] = field(default_factory=list)

    def skip(self, where: str) -> None:
        self.skipped += 1
        if len(self.skipped_samples) < 20:
            self.skipped_samples.append(where)


def schema() -> pa.Schema:
    """The Arrow schema every loader returns (``workbench.storage.sinks.arrow_schema()``)."""
    return arrow_schema()


def file_kind(path: Path) -> tuple[str, str | None] | None:
    """``(kind, compression)`` of a log file (``("jsonl", "zst")``), or None when it is not one."""
    name = path.name.lower()
    compression = None
    for ext, comp in ((".zst", "zst"), (".gz", "gz")):
        if name.endswith(ext):
            name, compression = name[: -len(ext)], comp
            break
    for ext, kind in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"), (".csv", "csv"),
                      (".log", "text"), (".parquet", "parquet")):  # fmt: skip
        if name.endswith(ext):
            return kind, compression
    if compression is None and name.endswith(_SQLITE_SUFFIXES):
        return "sqlite", None
    return None


def find_log_files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    """Log files at ``source``: a file, a data dir (searched recursively, without ``tls/``,
    ``rejected/`` and collector ``state/``), a results run folder (its cells' data dirs), or a list."""
    if not isinstance(source, str | Path):
        return [f for s in source for f in find_log_files(s)]
    root = Path(source)
    if root.is_file():
        if file_kind(root) is None:
            raise ConfigError(f"{root}: not a log file this loader reads (see workbench.analysis.logs)")
        return [root]
    if not root.is_dir():
        raise ConfigError(f"{root}: no such file or folder")
    if (root / "summary.parquet").is_file() and (root / "cells").is_dir():
        root = root / "cells"
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if any(part in _SKIP_DIRS for part in rel[:-1]) or not path.is_file():
            continue
        if path.name.endswith((".json", ".json.zst", ".json.gz")) and not path.name.startswith(
            ("log_", "collected")
        ):
            continue  # generator summaries, env.json, checkpoints: not logs
        if file_kind(path) is not None:
            files.append(path)
    return files


# -- opening ---------------------------------------------------------------------------------


def open_stream(path: Path, compression: str | None) -> IO[bytes]:
    """A binary stream of the decompressed bytes, read as it is consumed."""
    if compression == "gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    raw = open(path, "rb")  # noqa: SIM115 - handed to the caller inside the stream
    if compression == "zst":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True)
        return io.BufferedReader(reader, 1 << 20)  # type: ignore[arg-type]
    return raw


# -- conversion into the schema ----------------------------------------------------------------


def _py_type(t: pa.DataType) -> Any:
    if pa.types.is_integer(t):
        return int | None
    if pa.types.is_floating(t):
        return float | None
    if pa.types.is_boolean(t):
        return bool | None
    if pa.types.is_map(t):
        return dict[str, Any] | None
    return str | None  # timestamps too: parsed by Arrow in C, a column at a time


def _load_struct() -> Any:
    """A loose struct of the stored fields, derived from ``arrow_schema()``: types only, no limits,
    so that a loader reads what an older or newer schema version wrote."""
    return msgspec.defstruct("LoadedEntry", [(f.name, _py_type(f.type), None) for f in arrow_schema()])


_LoadedEntry = _load_struct()
_decoder = msgspec.json.Decoder(_LoadedEntry)


def _map_array(values: Iterable[Any]) -> pa.Array:
    offsets, keys, items = [0], [], []
    for d in values:
        if d:
            keys.extend(d)
            items.extend(d.values())
        offsets.append(len(keys))
    try:
        item_array = pa.array(items, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers or objects as attribute values
        item_array = pa.array([v if v is None or isinstance(v, str) else msgspec.json.encode(v).decode()
                               for v in items], pa.string())  # fmt: skip
    return pa.MapArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(keys, pa.string()), item_array)


def _entries_batch(entries: list[Any], target: pa.Schema) -> pa.RecordBatch:
    """Entry objects (``_LoadedEntry`` or codec entries) into a batch: one C call per entry to
    take its fields, one Arrow conversion per column."""
    names = [f.name for f in target]
    present = [n for n in names if hasattr(entries[0], n)]
    columns = dict(zip(present, zip(*map(operator.attrgetter(*present), entries), strict=True), strict=True))
    arrays = []
    for f in target:
        values = columns.get(f.name)
        if values is None:
            arrays.append(pa.nulls(len(entries), f.type))
        elif pa.types.is_map(f.type):
            arrays.append(_map_array(values))
        elif pa.types.is_timestamp(f.type) and any(isinstance(v, str) for v in values):
            arrays.append(_timestamps(pa.array(values, pa.string()), f.type))
        else:
            arrays.append(pa.array(values, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def _timestamps(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """ISO 8601 strings to timestamps in C; a column with a bad value is parsed value by value
    (the bad ones become null) rather than failing the load."""
    try:
        return pc.cast(arr, target)
    except pa.ArrowInvalid:
        from workbench.codecs.timeparse import parse_iso

        return pa.array([parse_iso(v) if v else None for v in arr.to_pylist()], target)


def _attributes(arr: pa.Array) -> pa.Array:
    """JSON object strings (CSV, SQLite) into the map column."""
    texts = [v if v else "null" for v in arr.to_pylist()]
    try:
        parsed = _attrs_decoder.decode(("[" + ",".join(texts) + "]").encode())
    except msgspec.DecodeError:
        parsed = []
        for t in texts:
            try:
                parsed.append(msgspec.json.decode(t))
            except msgspec.DecodeError:
                parsed.append({"_raw": t})
    return _map_array(d if isinstance(d, dict) else None for d in parsed)


def conform(table: pa.Table | pa.RecordBatch, target: pa.Schema | None = None) -> pa.RecordBatch:
    """Any table of entry columns into the schema: missing columns null, extra ones dropped,
    ISO strings to timestamps, JSON attribute objects to the map, numbers from strings."""
    target = target or arrow_schema()
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    arrays = []
    for f in target:
        if f.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name).combine_chunks()
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):  # CSV, SQLite: "" is null
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)
        if col.type == f.type:
            arrays.append(col)
            continue
        if pa.types.is_timestamp(f.type) and pa.types.is_timestamp(col.type) and col.type.tz is None:
            col = pc.assume_timezone(col, "UTC")
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            if pa.types.is_map(f.type):
                arrays.append(_attributes(col))
                continue
            if pa.types.is_timestamp(f.type):
                arrays.append(_timestamps(col, f.type))
                continue
        if pa.types.is_null(col.type):
            arrays.append(pa.nulls(table.num_rows, f.type))
            continue
        arrays.append(pc.cast(col, f.type))
    batch = pa.RecordBatch.from_arrays(arrays, schema=target)
    for name in ("level", "service", "message", "host"):  # required strings: never null
        i = target.get_field_index(name)
        if batch.column(i).null_count:
            batch = batch.set_column(i, target.field(i), pc.fill_null(batch.column(i), ""))
    return batch


# -- readers per kind --------------------------------------------------------------------------


def _read_jsonl(
    path: Path, compression: str | None, batch_rows: int, stats: LoadStats
) -> Iterator[pa.RecordBatch]:
    target = arrow_schema()
    pending: list[Any] = []
    with open_stream(path, compression) as fh:
        line_no = 0
        while True:
            try:
                lines = fh.readlines(_READ_HINT)
            except Exception as exc:  # zstandard.ZstdError, gzip's BadGzipFile, EOFError
                raise ConfigError(f"{path}: unreadable after line {line_no}: {exc}") from None
            if not lines:
                break
            if not lines[-1].endswith(b"\n"):  # an in-progress segment ends mid-line
                more = fh.readline()
                lines[-1] += more
            try:
                entries = _decoder.decode_lines(b"".join(lines))
            except (msgspec.ValidationError, msgspec.DecodeError):
                entries = []
                for i, line in enumerate(lines):
                    if not line.strip():
                        continue
                    try:
                        entries.append(_decoder.decode(line))
                    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                        stats.skip(f"{path}:{line_no + i + 1}: {exc}")
            line_no += len(lines)
            pending.extend(entries)
            while len(pending) >= batch_rows:
                yield _entries_batch(pending[:batch_rows], target)
                pending = pending[batch_rows:]
    if pending:
        yield _entries_batch(pending, target)


def _read_csv(
    path: Path, compression: str | None, batch_rows: int, stats: LoadStats
) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pacsv

    stream = open_stream(path, compression)
    with stream:
        head = stream.peek(1 << 16) if hasattr(stream, "peek") else b""
        first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        columns = [c.strip('"') for c in first.split(",")] if first else []
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=4 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=False
            ),
        )
        rows: list[pa.RecordBatch] = []
        n = 0
        for batch in reader:
            rows.append(batch)
            n += batch.num_rows
            if n >= batch_rows:
                yield conform(pa.Table.from_batches(rows))
                rows, n = [], 0
        if rows:
            yield conform(pa.Table.from_batches(rows))


def _read_text(
    path: Path, compression: str | None, batch_rows: int, stats: LoadStats
) -> Iterator[pa.RecordBatch]:
    from workbench.codecs.raw import RawCodec

    codec = RawCodec()
    target = arrow_schema()
    with open_stream(path, compression) as fh:
        while lines := fh.readlines(_READ_HINT // 4):
            records = [ln.rstrip(b"\r\n") for ln in lines if ln.strip()]
            for start in range(0, len(records), batch_rows):
                decoded = codec.decode_records(records[start : start + batch_rows])
                for err in decoded.errors:
                    stats.skip(f"{path}: {err}")
                if decoded.entries:
                    yield _entries_batch(decoded.entries, target)


def _read_parquet(
    path: Path, compression: str | None, batch_rows: int, stats: LoadStats
) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield conform(batch)


def sqlite_table(con: sqlite3.Connection) -> str | None:
    """The collector's table: ``logs`` if present, else the first with a ``message`` column."""
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    if "logs" in tables:
        return "logs"
    for t in tables:
        cols = [r[1] for r in con.execute(f'PRAGMA table_info("{t}")')]
        if "message" in cols:
            return t
    return None


def _read_sqlite(
    path: Path, compression: str | None, batch_rows: int, stats: LoadStats
) -> Iterator[pa.RecordBatch]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            table = sqlite_table(con)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{path}: not an SQLite database ({exc})") from None
        if table is None:
            return
        cur = con.execute(f'SELECT * FROM "{table}"')
        names = [d[0] for d in cur.description]
        while rows := cur.fetchmany(batch_rows):
            cols = list(zip(*rows, strict=True))
            data = {}
            for name, values in zip(names, cols, strict=True):
                if name == "seq":
                    data[name] = pa.array([None if v in (None, "") else int(v) for v in values], pa.int64())
                else:
                    data[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
            yield conform(pa.table(data))
    finally:
        con.close()


_READERS = {"jsonl": _read_jsonl, "csv": _read_csv, "text": _read_text, "parquet": _read_parquet,
            "sqlite": _read_sqlite}  # fmt: skip


# -- public API --------------------------------------------------------------------------------


def iter_batches(source: str | Path | Iterable[str | Path], *, batch_rows: int = BATCH_ROWS,
                 stats: LoadStats | None = None) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """Record batches (at most ``batch_rows`` rows each) of every log file at ``source``,
    one file after another, each streamed: memory is bounded by the batch, not the data."""
    stats = stats if stats is not None else LoadStats()
    for path in find_log_files(source):
        kind = file_kind(path)
        assert kind is not None
        stats.files += 1
        for batch in _READERS[kind[0]](path, kind[1], batch_rows, stats):
            stats.rows += batch.num_rows
            yield batch


def read_logs(source: str | Path | Iterable[str | Path], *, stats: LoadStats | None = None) -> pa.Table:
    """Every entry at ``source`` in one Arrow table (for data that fits in memory)."""
    return pa.Table.from_batches(list(iter_batches(source, stats=stats)), schema=arrow_schema())


def polars_schema() -> pl.Schema:
    import polars as pl

    return pl.from_arrow(arrow_schema().empty_table()).schema  # type: ignore[union-attr]


def scan_logs(source: str | Path | Iterable[str | Path], *, batch_rows: int = BATCH_ROWS) -> pl.LazyFrame:
    """A lazy frame over every log file at ``source``. Nothing is read until ``collect()``;
    selected columns, filters and ``head(n)`` are applied batch by batch while reading, so
    ``scan_logs(d).filter(...).group_by(...).agg(...).collect(engine="streaming")`` runs in
    bounded memory over a data dir of any size. ``attributes`` is a Map column."""
    import polars as pl
    from polars.io.plugins import register_io_source

    files = find_log_files(source)  # resolved now: a missing folder is an error here, not at collect
    full = polars_schema()

    def io_source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
                  batch_size: int | None) -> Iterator[pl.DataFrame]:  # fmt: skip
        left = n_rows
        for batch in iter_batches(files, batch_rows=min(batch_size or batch_rows, batch_rows)):
            df = pl.from_arrow(batch)
            assert isinstance(df, pl.DataFrame)
            if predicate is not None:
                df = df.filter(predicate)
            if with_columns is not None:
                df = df.select(with_columns)
            if left is not None:
                df = df.head(left)
                left -= df.height
            yield df
            if left is not None and left <= 0:
                return

    return register_io_source(io_source, schema=full, explain_name="workbench logs",
                              explain_detail=f"{len(files)} file(s)")  # fmt: skip


def logs_frame(source: str | Path | Iterable[str | Path]) -> pl.DataFrame:
    """Every entry at ``source`` as one Polars frame (for data that fits in memory)."""
    import polars as pl

    df = pl.from_arrow(read_logs(source))
    assert isinstance(df, pl.DataFrame)
    return df
