"""Settings of the load generator: one frozen pydantic model, units in every name.

``GeneratorConfig`` is what the CLI, the scenario runner and notebooks build; a typo in a field
name is an error (``extra="forbid"``). ``parse_burst`` and ``parse_level_mix`` turn the CLI's
compact forms (``5x,2s,10s``, ``ERROR=5,WARN=10,INFO=70,DEBUG=15``) into fields.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.errors import ConfigError
from workbench.formats import STANDARD_PORTS, UDP_FORMATS, Format, GeneratorProtocol
from workbench.units import parse_seconds  # re-exported: the CLI and tests take it from here

FILE_FORMATS = ("json", "csv", "text")
DEFAULT_LEVEL_MIX: dict[str, float] = {"ERROR": 0.05, "WARN": 0.10, "INFO": 0.70, "DEBUG": 0.15}
MAX_DATAGRAM_BYTES = 1400
Compression = Literal["none", "gzip", "zlib"]
# what each protocol may compress with (``compression``); our stream formats take none
COMPRESSIONS: dict[str, tuple[str, ...]] = {"gelf-udp": ("none", "gzip", "zlib"), "gelf-tcp": ("none",)}
HTTP_COMPRESSIONS = ("none", "gzip")  # the HTTP protocols (Content-Encoding), gRPC, Forward (gzip entries)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BurstConfig(_Frozen):
    """Periodic spikes: for ``length_seconds`` at the start of every ``period_seconds`` the rate is
    multiplied by ``factor``."""

    factor: float = Field(gt=0)
    length_seconds: float = Field(gt=0)
    period_seconds: float = Field(gt=0)

    @model_validator(mode="after")
    def _length_within_period(self) -> BurstConfig:
        if self.length_seconds > self.period_seconds:
            raise ValueError("burst length must not exceed its period")
        return self

    def factor_at(self, elapsed_seconds: float) -> float:
        return self.factor if elapsed_seconds % self.period_seconds < self.length_seconds else 1.0


class GeneratorConfig(_Frozen):
    # where to
    address: str = "127.0.0.1"
    tcp_port: int = Field(3001, ge=0, le=65535)
    udp_port: int = Field(3002, ge=0, le=65535)
    # several receivers (e.g. one ingestor per host): client n sends to targets[n % len(targets)],
    # so the load spreads without a load balancer; empty: every client to address and the port
    targets: tuple[tuple[str, int], ...] = ()
    transport: Literal["tcp", "udp", "file"] = "tcp"
    tls: bool = True
    ca_file: Path | None = None
    insecure: bool = False
    ack: bool = False
    header: bool = True  # False: no LOGWB/1 line, for third-party receivers (syslog over TCP/TLS)
    output_file: Path | None = None
    file_format: Literal["json", "csv", "text"] = "json"
    # a shipper's protocol instead of our stream ``format``: HTTP/1.1 or gRPC requests over TCP/TLS
    # (each answer an ack), Forward messages (acks with ``ack``) or GELF over TCP/TLS or UDP;
    # ``batch_size`` records per request or message (gelf-udp: per datagram burst)
    protocol: GeneratorProtocol | None = None
    # a protocol's compression: gzip bodies (HTTP Content-Encoding, gRPC message, Forward's
    # CompressedPackedForward), gzip or zlib GELF datagrams; done per send (see requestpool)
    compression: Compression = "none"
    auth_token: str | None = None  # sent as the protocol's Authorization (Bearer, Splunk, ApiKey)
    request_timeout_seconds: float = Field(30.0, gt=0)  # a request's answer, before it is retried
    # what
    format: Format = "json"
    registry_url: str | None = None
    replay_file: Path | None = None
    level_mix: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_LEVEL_MIX))
    services: tuple[str, ...] = ()
    concurrent_sessions: int = Field(32, ge=1)
    seed: int | None = None
    client_prefix: str | None = None
    start_time: dt.datetime | None = None  # logical timestamps (reproducible bytes) instead of the wall clock
    # how much and how fast
    batch_size: int = Field(100, ge=1, le=1_000_000)
    interval_ms: float = Field(1000, ge=0)
    rate_per_second: float | None = Field(None, gt=0)
    count: int | None = Field(None, ge=0)
    duration_seconds: float | None = Field(None, gt=0)
    clients: int = Field(1, ge=1, le=10_000)
    # processes > 1: that many generator processes, each with ``clients`` clients, its share of
    # ``count`` and ``rate_per_second``, client ids PREFIX-p<i>-<n> and seed seed+i (``split``)
    processes: int = Field(1, ge=1, le=256)
    burst: BurstConfig | None = None
    pool_logs: int = Field(8192, ge=1)
    max_write_bytes: int = Field(1 << 20, ge=1024)
    max_unacked_frames: int = Field(4096, ge=1)
    # reliability
    retries: int = Field(3, ge=0)
    retry_backoff_seconds: float = Field(0.1, ge=0)
    connect_timeout_seconds: float = Field(5.0, gt=0)
    drain_timeout_seconds: float = Field(10.0, ge=0)
    max_datagram_bytes: int = Field(MAX_DATAGRAM_BYTES, ge=64, le=65507)
    # reporting
    stats_interval_seconds: float = Field(5.0, ge=0)
    summary_json: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _gelf_udp_defaults(cls, data: Any) -> Any:
        """GELF over UDP goes by UDP to GELF's port unless told otherwise."""
        if isinstance(data, dict) and data.get("protocol") == "gelf-udp":
            return {"transport": "udp", "udp_port": STANDARD_PORTS["gelf_port"], **data}
        return data

    @model_validator(mode="after")
    def _coherent(self) -> GeneratorConfig:
        self._protocol_fits()
        if self.transport == "udp" and self.protocol is None and self.format not in UDP_FORMATS:
            raise ValueError(f"UDP carries {', '.join(UDP_FORMATS)} lines, not {self.format}")
        if self.transport == "udp" and self.ack:
            raise ValueError("ack mode needs TCP (acknowledgements come back on the connection)")
        if self.transport == "file" and self.output_file is None:
            raise ValueError("transport 'file' needs output_file")
        if self.ca_file is not None and self.insecure:
            raise ValueError("give either a CA file or insecure, not both")
        unknown = set(self.level_mix) - {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
        if unknown:
            raise ValueError(f"level_mix names unknown levels: {', '.join(sorted(unknown))}")
        if not self.level_mix or sum(self.level_mix.values()) <= 0 or min(self.level_mix.values()) < 0:
            raise ValueError("level_mix needs non-negative weights with a positive sum")
        if self.client_prefix is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", self.client_prefix):
            raise ValueError("client_prefix: 1-64 characters of A-Z a-z 0-9 . _ -")
        return self

    def _protocol_fits(self) -> None:
        protocol = self.protocol
        if protocol is None:
            if self.compression != "none":
                raise ValueError(
                    "compression is a shipper protocol's (give a protocol); our formats are not compressed"
                )
            return
        over = "udp" if protocol == "gelf-udp" else "tcp"
        if self.transport != over:
            raise ValueError(f"protocol {protocol} runs over {'UDP' if over == 'udp' else 'TCP/TLS'}, "
                             f"not {self.transport}")  # fmt: skip
        if self.ack and protocol != "forward":
            why = "GELF has no acks" if protocol.startswith("gelf") else "every answer is an ack already"
            raise ValueError(f"protocol {protocol}: {why} (no ack mode)")
        allowed = COMPRESSIONS.get(protocol, HTTP_COMPRESSIONS)
        if self.compression not in allowed:
            raise ValueError(
                f"protocol {protocol} compresses with {' or '.join(allowed)}, not {self.compression}"
            )

    @property
    def port(self) -> int:
        return self.udp_port if self.transport == "udp" else self.tcp_port

    def endpoint(self, client_index: int) -> tuple[str, int]:
        """The (address, port) client ``client_index`` sends to: round-robin over ``targets``."""
        if self.targets:
            return self.targets[client_index % len(self.targets)]
        return self.address, self.port

    def per_client_rate(self) -> float | None:
        """Logs per second of one client, or None for 'as fast as possible'."""
        if self.rate_per_second is not None:
            return self.rate_per_second / self.clients
        if self.interval_ms <= 0:
            return None
        return self.batch_size * 1000.0 / self.interval_ms

    def per_client_counts(self) -> list[int | None]:
        if self.count is None:
            return [None] * self.clients
        base, extra = divmod(self.count, self.clients)
        return [base + (1 if i < extra else 0) for i in range(self.clients)]


def resolve(config: GeneratorConfig) -> GeneratorConfig:
    """``config`` with a seed and a client prefix chosen where it leaves them to chance."""
    return config.model_copy(update={
        "seed": config.seed if config.seed is not None else secrets.randbits(32),
        "client_prefix": config.client_prefix or f"gen-{secrets.token_hex(4)}",
    })  # fmt: skip


def split(config: GeneratorConfig) -> list[GeneratorConfig]:
    """The configs of ``config.processes`` generator processes that together do what ``config``
    (resolved) asks."""
    n = config.processes
    prefix, seed = config.client_prefix, int(config.seed or 0)
    counts = (
        [None] * n if config.count is None else [config.count // n + (i < config.count % n) for i in range(n)]
    )
    rate = None if config.rate_per_second is None else config.rate_per_second / n
    return [
        config.model_copy(update={"processes": 1, "client_prefix": f"{prefix}-p{i}", "seed": seed + i,
                                  "count": counts[i], "rate_per_second": rate, "summary_json": None})
        for i in range(n)
    ]  # fmt: skip


def parse_targets(text: str) -> tuple[tuple[str, int], ...]:
    """``HOST:PORT,HOST:PORT`` (IPv6 as ``[::1]:3001``) to a tuple of (host, port)."""
    out = []
    for part in text.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--targets {text!r}: expected HOST:PORT,HOST:PORT such as 10.0.0.5:3001")
        out.append((host.removeprefix("[").removesuffix("]"), int(port)))
    return tuple(out)


def parse_burst(text: str) -> BurstConfig:
    """``FACTORx,LENGTH,PERIOD`` such as ``5x,2s,10s``."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not parts[0].lower().endswith("x"):
        raise ConfigError(f"--burst {text!r}: expected FACTORx,LENGTH,PERIOD such as 5x,2s,10s")
    try:
        factor = float(parts[0][:-1])
    except ValueError:
        raise ConfigError(f"--burst {text!r}: {parts[0]!r} is not a factor such as 5x") from None
    try:
        return BurstConfig(
            factor=factor, length_seconds=parse_seconds(parts[1]), period_seconds=parse_seconds(parts[2])
        )
    except ValueError as exc:
        raise ConfigError(f"--burst {text!r}: {exc}") from None


def parse_level_mix(text: str) -> dict[str, float]:
    """``ERROR=5,WARN=10,INFO=70,DEBUG=15`` (weights, normalised later) to a dict."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            mix[name.strip().upper()] = float(value.rstrip("%"))
        except ValueError:
            raise ConfigError(
                f"--level-mix {text!r}: expected LEVEL=WEIGHT,... such as ERROR=5,WARN=10"
            ) from None
        if not sep:
            raise ConfigError(f"--level-mix {text!r}: expected LEVEL=WEIGHT,...")
    return mix
