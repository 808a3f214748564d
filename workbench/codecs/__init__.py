"""Codecs: one module per wire format, each encoding and decoding a whole batch.

``get(name)`` returns the default codec of a format (``workbench.formats`` names its class); the
module of each format documents its layout and how its fields map onto the log entry of
``schemas/``.
"""

from __future__ import annotations

from workbench.codecs.base import Codec, Decoded, RecordError
from workbench.errors import ConfigError
from workbench.formats import BINARY_FORMATS, FORMATS, SPECS, codec_class


def get(name: str) -> Codec:
    """A fresh codec for a format name (``json``, ``proto``, ``avro``, ``raw``, ``syslog``, ``journald``)."""
    if name not in SPECS:
        raise ConfigError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    codec: Codec = codec_class(name)()
    return codec


__all__ = ["BINARY_FORMATS", "FORMATS", "Codec", "Decoded", "RecordError", "get"]
