"""Codecs: one module per wire format, each encoding and decoding a whole batch.

``get(name)`` returns the default codec of a format; the module of each format documents its
layout and how its fields map onto the log entry of ``schemas/``.
"""

from __future__ import annotations

from workbench.codecs.avro import AvroCodec
from workbench.codecs.base import Codec, Decoded, RecordError
from workbench.codecs.journald import JournaldCodec
from workbench.codecs.json import JsonCodec
from workbench.codecs.proto import ProtoCodec
from workbench.codecs.raw import RawCodec
from workbench.codecs.syslog import SyslogCodec
from workbench.errors import ConfigError
from workbench.formats import BINARY_FORMATS, FORMATS


def get(name: str) -> Codec:
    """A fresh codec for a format name (``json``, ``proto``, ``avro``, ``raw``, ``syslog``, ``journald``)."""
    factories: dict[str, type] = {
        "json": JsonCodec,
        "proto": ProtoCodec,
        "avro": AvroCodec,
        "raw": RawCodec,
        "syslog": SyslogCodec,
        "journald": JournaldCodec,
    }
    try:
        codec: Codec = factories[name]()
    except KeyError:
        raise ConfigError(f"unknown format {name!r}; known: {', '.join(FORMATS)}") from None
    return codec


__all__ = ["BINARY_FORMATS", "FORMATS", "Codec", "Decoded", "RecordError", "get"]
