"""Settings of the ingestor: one frozen pydantic model, built from flags or a scenario."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OutputFormat = Literal["jsonl", "csv", "text", "parquet"]
Compression = Literal["zstd", "gzip", "none"]
Overflow = Literal["block", "drop"]


class IngestorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    tcp_port: int = Field(
        3001, ge=0, le=65535, description="TLS (or plain) TCP port for every format; 0 picks one"
    )
    udp_port: int | None = Field(3002, ge=0, le=65535, description="UDP port; None disables UDP")
    http_port: int | None = Field(8080, ge=0, le=65535, description="metrics and page; None disables HTTP")
    # the shippers' standard ports (``formats.STANDARD_PORTS``); None: served on tcp_port only
    otlp_grpc_port: int | None = Field(None, ge=0, le=65535, description="OTLP/gRPC (4317); 0 picks one")
    otlp_http_port: int | None = Field(None, ge=0, le=65535, description="OTLP/HTTP (4318); 0 picks one")
    hec_port: int | None = Field(None, ge=0, le=65535, description="Splunk HEC (8088); 0 picks one")
    elasticsearch_port: int | None = Field(None, ge=0, le=65535, description="Elasticsearch bulk (9200)")
    loki_port: int | None = Field(None, ge=0, le=65535, description="Loki push (3100); 0 picks one")
    forward_port: int | None = Field(
        None, ge=0, le=65535, description="Fluent Forward TCP + heartbeat UDP (24224)"
    )
    gelf_port: int | None = Field(
        None, ge=0, le=65535, description="GELF on UDP and TCP (12201); 0 picks one"
    )
    forward_shared_key: str | None = Field(
        None, min_length=1, description="Forward clients must prove it in the HELO/PING/PONG handshake"
    )
    auth_token: str | None = Field(
        None,
        min_length=1,
        description="the HTTP protocols require it (Bearer, or Splunk for HEC); None: open",
    )
    max_request_bytes: int = Field(16 << 20, ge=1024, description="an HTTP request body as received")
    max_inflated_bytes: int = Field(64 << 20, ge=1024, description="an HTTP body once decompressed")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0,
                         description="worker processes; 0 runs the pipeline inside this process")  # fmt: skip
    registry_url: str | None = None
    registry_timeout_seconds: float = 10.0
    tls: bool = True
    cert: Path | None = None
    key: Path | None = None
    client_ca: Path | None = None
    rotate_bytes: int = Field(50_000_000, ge=1024)
    compression: Compression = "zstd"
    compression_level: int = 1  # zstd 1: faster than 3 and smaller on stored JSONL (docs/performance.md)
    output: OutputFormat = "jsonl"
    overflow: Overflow = "block"
    max_queue_bytes: int = Field(
        32 << 20, ge=1 << 16,
        description="per worker: stored bytes waiting for the writer; over it TCP pauses (block) or drops (drop)",
    )  # fmt: skip
    max_queue_logs: int = Field(
        1_000_000, ge=1, description="per worker: a second bound, in logs, acting the same way"
    )
    flush_interval_seconds: float = Field(
        1.0, gt=0, description="writers hand their buffers to the OS at least this often"
    )
    max_line_bytes: int = 1 << 20
    max_frame_bytes: int = 16 << 20
    max_connections: int = Field(10_000, ge=1, description="per worker")
    idle_timeout_seconds: float = Field(300.0, gt=0)
    drain_seconds: float = Field(
        2.0, ge=0, description="on shutdown, keep reading open connections this long"
    )
    metrics_interval_seconds: float = Field(1.0, gt=0)
    stats_line: bool = True
    rejected_samples_per_second: int = Field(
        10, ge=0, description="per worker and reason, written to rejected/"
    )
    default_service: str = "raw"
