"""JSONL output: one normalised entry per line, as the ingestor stores them (tags in attributes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from workbench.collector.sinks.base import ByteFileSink, Positions

_encoder = msgspec.json.Encoder()


class JsonlSink(ByteFileSink):
    name = "jsonl"

    async def write(self, entries: Sequence[Any], positions: Positions) -> None:
        if entries:
            self.fh.write(_encoder.encode_lines(entries))
