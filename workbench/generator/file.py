"""File sink: the generated logs written to a file (for the collector) instead of the network.

``json``: JSON lines as sent on the wire (``seq`` space-padded to a fixed width, still valid
JSON); ``text``: the raw codec's human-readable lines; ``csv``: a header row, then one row per
log with the columns of the log entry (attributes as a JSON object, missing values empty).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import msgspec

from workbench import model
from workbench.codecs.timeparse import format_iso
from workbench.errors import ConfigError
from workbench.generator.pool import Chunk

POOL_FORMAT = {"json": "json", "csv": "json", "text": "raw"}
_decoder = msgspec.json.Decoder(model.LogEntry)
_attrs = msgspec.json.Encoder()


class FileSender:
    """The sender of ``transport: file``: every client's chunks into one file (JSON lines, CSV or text)."""

    def __init__(self, path: Path, file_format: str) -> None:
        self.path = path
        self.file_format = file_format
        try:
            self.fh = path.open("wb")
        except OSError as exc:
            raise ConfigError(f"cannot open the output file {path}: {exc}") from exc
        if file_format == "csv":
            self.fh.write((",".join(model.FIELDS) + "\r\n").encode())

    async def send(self, chunk: Chunk) -> None:
        if self.file_format != "csv":
            self.fh.write(chunk.data)
            return
        out = io.StringIO()
        writer = csv.writer(out)
        rows = []
        for e in _decoder.decode_lines(chunk.data):
            row = []
            for f in model.FIELDS:
                v = getattr(e, f)
                if f == "timestamp":
                    v = format_iso(v)
                elif f == "attributes":
                    v = _attrs.encode(v).decode()
                row.append("" if v is None else v)
            rows.append(row)
        writer.writerows(rows)
        self.fh.write(out.getvalue().encode("utf-8"))

    async def close(self) -> None:
        self.fh.close()
