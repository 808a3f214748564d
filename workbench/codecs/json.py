"""JSON lines: one log entry per line, names exactly as in ``schemas/log_entry.schema.json``.

A payload of many lines is decoded and validated by msgspec in one C call; only when that
fails are lines decoded one by one to say which record is bad and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from workbench import model
from workbench.codecs.base import ENCODING, INVALID, MALFORMED, Decoded, RecordError, decode_text, split_lines

_decoder = msgspec.json.Decoder(model.LogEntry)
_encoder = msgspec.json.Encoder()


class JsonCodec:
    name = "json"
    binary = False

    def encode(self, entries: Sequence[Any]) -> bytes:
        return _encoder.encode_lines(entries)

    def decode(self, payload: bytes) -> Decoded:
        try:
            return Decoded(_decoder.decode_lines(payload))
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            pass
        return self.decode_lines(split_lines(payload))

    def decode_lines(self, lines: Sequence[bytes]) -> Decoded:
        out = Decoded()
        for i, line in enumerate(lines):
            try:
                out.entries.append(_decoder.decode(line))
            except msgspec.ValidationError as exc:
                out.errors.append(RecordError(i, INVALID, str(exc), line))
            # msgspec raises UnicodeDecodeError itself for bad UTF-8 inside a string
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                reason = ENCODING if decode_text(line) is None else MALFORMED
                out.errors.append(RecordError(i, reason, str(exc), line))
        return out


CODEC = JsonCodec()
