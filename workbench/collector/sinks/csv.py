"""CSV output: a header row, then one row per entry.

Columns: ``timestamp`` (RFC 3339 UTC), ``level``, ``service``, ``host``, ``message``, ``user_id``,
``session_id``, ``trace_id``, ``client_id``, ``seq``, ``tags`` (comma-joined), ``attributes``
(a JSON object, ``tags`` included). Missing values are empty. Messages may hold newlines
(multi-line records): they are quoted, as the csv module reads them back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import msgspec

from workbench.codecs.timeparse import format_iso
from workbench.collector.sinks.base import ByteFileSink, Positions
from workbench.collector.transform import TAGS_ATTRIBUTE

COLUMNS = ("timestamp", "level", "service", "host", "message", "user_id", "session_id", "trace_id",
           "client_id", "seq", "tags", "attributes")  # fmt: skip
_json = msgspec.json.Encoder()


def row_of(e: Any) -> list[Any]:
    def opt(v: Any) -> Any:
        return "" if v is None else v

    return [
        format_iso(e.timestamp), e.level, e.service, e.host, e.message, opt(e.user_id), opt(e.session_id),
        opt(e.trace_id), opt(e.client_id), opt(e.seq), e.attributes.get(TAGS_ATTRIBUTE, ""),
        _json.encode(e.attributes).decode() if e.attributes else "",
    ]  # fmt: skip


class CsvSink(ByteFileSink):
    name = "csv"

    def start_file(self) -> None:
        self.fh.write((",".join(COLUMNS) + "\r\n").encode())

    async def write(self, entries: Sequence[Any], positions: Positions) -> None:
        if not entries:
            return
        buf = io.StringIO()
        csv.writer(buf).writerows(map(row_of, entries))
        self.fh.write(buf.getvalue().encode("utf-8"))
