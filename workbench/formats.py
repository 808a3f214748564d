"""The registry of wire formats: one entry per format, in one place (light to import: no codec is
loaded until one is asked for).

``Format`` is the type every setting that names a format uses (generator, scenario, CLI
choices); ``SPECS`` says, per format, what the rest of the code asks about it: whether it is
binary (length-prefixed frames on a stream) or text, the framing a header that names only the
format gets, whether UDP carries it, whether a compiled transcoder stores it directly, and its
codec (``module:Class``, imported on first use by ``codec_class``). The codec class carries the
behaviour: decoding for the ingestor (``decode_text``, ``decode_frame``, ``decode_records``,
``for_ingestor``), encoding for the generator (``encode``, ``for_generator``), and ``stored``
when compiled. ``docs/architecture.md`` ("Add a format") shows the two edits a new format takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from workbench._lazy import resolve

Format = Literal["json", "proto", "avro", "raw", "syslog", "journald"]
Framing = Literal["lines", "octet", "length", "export"]


@dataclass(frozen=True)
class FormatSpec:
    name: str
    binary: bool  # length-prefixed frames on a stream (a header must say framing=length); else text
    framing: Framing  # what a header that names only the format gets
    codec: str  # "module:Class" of its codec
    udp: bool = False  # a datagram carries its records (as lines, or one syslog message)
    transcoder: bool = False  # a compiled transcoder writes stored lines without decoding (codec.stored)
    detect: str = ""  # how detection tells it from the others without a header (docs; codecs/detect.py)


SPECS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec("json", False, "lines", "workbench.codecs.json:JsonCodec", udp=True, transcoder=True,
                   detect="a line that is a JSON object with a timestamp and a message"),
        FormatSpec("proto", True, "length", "workbench.codecs.proto:ProtoCodec", transcoder=True,
                   detect="a 4-byte big-endian length whose first byte is 0, then a non-zero byte"),
        FormatSpec("avro", True, "length", "workbench.codecs.avro:AvroCodec", transcoder=True,
                   detect="a 4-byte big-endian length whose first byte is 0, then the magic byte 0"),
        FormatSpec("raw", False, "lines", "workbench.codecs.raw:RawCodec", udp=True, transcoder=True,
                   detect="any other text line"),
        FormatSpec("syslog", False, "octet", "workbench.codecs.syslog:SyslogCodec", udp=True, transcoder=True,
                   detect="<PRI> at a line's start (RFC 5424 or 3164), or an octet count before it"),
        FormatSpec("journald", False, "export", "workbench.codecs.journald:JournaldCodec",
                   detect="journal export fields (__REALTIME_TIMESTAMP=...) or their JSON form"),
    )
}  # fmt: skip
FORMATS: tuple[str, ...] = get_args(Format)
BINARY_FORMATS = frozenset(name for name, spec in SPECS.items() if spec.binary)
UDP_FORMATS: tuple[str, ...] = tuple(name for name, spec in SPECS.items() if spec.udp)
DEFAULT_FRAMING: dict[str, str] = {name: spec.framing for name, spec in SPECS.items()}
FRAMINGS: tuple[str, ...] = get_args(Framing)


# --- the shippers' protocols (HTTP family; ``workbench.shippers``) ------------------------------

Protocol = Literal["otlp", "hec", "elasticsearch", "loki"]


@dataclass(frozen=True)
class ProtocolSpec:
    name: str  # the ``format`` of its stored entries and the ``protocol`` label of its requests
    codec: str  # "module:Class" of its ``shippers.base.ShipperCodec``
    paths: str  # docs: the routes it serves


PROTOCOLS: dict[str, ProtocolSpec] = {
    spec.name: spec
    for spec in (
        ProtocolSpec("otlp", "workbench.shippers.otlp:OtlpCodec", "POST /v1/logs (and gRPC LogsService/Export)"),
        ProtocolSpec("hec", "workbench.shippers.hec:HecCodec", "/services/collector/{event,raw,health,ack}"),
        ProtocolSpec("elasticsearch", "workbench.shippers.elasticsearch:ElasticsearchCodec", "GET /, /_bulk, /{index}/_bulk"),
        ProtocolSpec("loki", "workbench.shippers.loki:LokiCodec", "POST /loki/api/v1/push, GET /ready"),
    )
}  # fmt: skip

# The standard ports a shipper expects (``IngestorConfig`` field: default), opened by their flags
# or all at once by ``--standard-ports``. Every TCP port serves every protocol (and our formats):
# a connection is told by its first bytes, so a port is only where a shipper looks by default.
STANDARD_PORTS: dict[str, int] = {
    "otlp_grpc_port": 4317,
    "otlp_http_port": 4318,
    "hec_port": 8088,
    "elasticsearch_port": 9200,
    "loki_port": 3100,
    "forward_port": 24224,  # Fluent Forward on TCP, and its UDP heartbeat on the same number
    "gelf_port": 12201,  # GELF on TCP (NUL-delimited) and UDP (chunked, compressed) on the same number
}
# the standard ports that also take UDP (each worker binds them with SO_REUSEPORT): the listener kind
UDP_STANDARD_PORTS: dict[str, str] = {"forward_port": "forward_heartbeat", "gelf_port": "gelf_udp"}


# What the generator sends as a shipper (``generate --protocol``, a scenario group's ``protocol``):
# each name is one shipper protocol (of ``PROTOCOLS``, Fluent Forward, GELF) in one encoding or transport.
GeneratorProtocol = Literal["otlp-http", "otlp-json", "otlp-grpc", "hec", "elasticsearch", "loki", "loki-protobuf",
                            "forward", "gelf-tcp", "gelf-udp"]  # fmt: skip
GENERATOR_PROTOCOLS: tuple[str, ...] = get_args(GeneratorProtocol)
# the request protocols, where every answer is an ack; Forward acks only with ``--ack`` (its chunk
# option); GELF has no acks
ANSWERED_PROTOCOLS = frozenset(
    {"otlp-http", "otlp-json", "otlp-grpc", "hec", "elasticsearch", "loki", "loki-protobuf"}
)
ACK_MODE_PROTOCOLS = frozenset({"forward"})


def protocol_class(name: str) -> Any:
    """The codec class of a shipper protocol (its module imported now)."""
    return resolve(PROTOCOLS[name].codec)


def codec_class(name: str) -> Any:
    """The codec class of a format (its module imported now)."""
    return resolve(SPECS[name].codec)


__all__ = ["ACK_MODE_PROTOCOLS", "ANSWERED_PROTOCOLS", "BINARY_FORMATS", "DEFAULT_FRAMING", "FORMATS", "FRAMINGS", "GENERATOR_PROTOCOLS", "PROTOCOLS", "SPECS",
           "STANDARD_PORTS", "UDP_FORMATS", "UDP_STANDARD_PORTS", "Format", "FormatSpec", "Framing",
           "GeneratorProtocol", "Protocol", "ProtocolSpec", "codec_class", "protocol_class"]  # fmt: skip
