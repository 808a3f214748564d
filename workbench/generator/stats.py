"""Counters of a generator run, the periodic stats line and the final summary.

Metric names (also the keys of the summary JSON ``totals``), counted per batch, never per log:

* ``sent_logs_total``, ``sent_batches_total``, ``sent_bytes_total`` - handed to the transport
  (for TCP: written to the connection; for UDP: datagrams sent; for files: written);
* ``failed_batches_total``, ``failed_logs_total`` - given up after the retries (their seqs are
  never delivered: a receiver sees the gap);
* ``retries_total`` - attempts to resend a batch after a failed write or connection;
* ``reconnects_total`` - connections opened after the first one of each client;
* ``resent_frames_total``, ``resent_logs_total`` - ack mode: unacknowledged frames written
  again on a new connection;
* ``acked_logs_total`` - ack mode: logs whose frame the receiver acknowledged;
* ``oversize_records_total`` - UDP: records larger than one datagram (dropped, counted);
* ``requests_total`` - protocols: answers received (every status, retried ones too); the
  summary's ``responses`` counts them per status (``http-200``, ``http-401``, ``grpc-16``, ...);
  a protocol's ``acked_logs_total`` are the logs of success answers;
* ``udp_datagrams_total``; ``schema_failures_total`` and ``validated_total`` - pool records
  checked against the log schema before the clock starts (failures are left out of the pool).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SUMMARY_VERSION = 2  # 1: first version; 2: protocol, responses, totals.requests_total


@dataclass(slots=True)
class ClientStats:
    client_id: str
    first_seq: int | None = None
    last_seq: int | None = None
    sent_logs: int = 0
    sent_batches: int = 0
    acked_logs: int = 0
    unacked_logs: int = 0
    failed_logs: int = 0
    resent_frames: int = 0
    resent_logs: int = 0
    reconnects: int = 0
    next_seq: int = 0  # the seq the next generated log gets (not in the summary)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("next_seq")
        return out


@dataclass(slots=True)
class Totals:
    sent_logs_total: int = 0
    sent_batches_total: int = 0
    sent_bytes_total: int = 0
    failed_batches_total: int = 0
    failed_logs_total: int = 0
    retries_total: int = 0
    reconnects_total: int = 0
    resent_frames_total: int = 0
    resent_logs_total: int = 0
    acked_logs_total: int = 0
    oversize_records_total: int = 0
    udp_datagrams_total: int = 0
    requests_total: int = 0
    schema_failures_total: int = 0
    validated_total: int = 0


@dataclass(slots=True)
class RunStats:
    totals: Totals = field(default_factory=Totals)
    clients: list[ClientStats] = field(default_factory=list)
    started: float = 0.0  # monotonic, when the clock started
    started_cpu: float = 0.0  # process CPU time then
    _last_time: float = 0.0
    _last_logs: int = 0
    _last_bytes: int = 0

    def start(self) -> None:
        self.started = self._last_time = time.monotonic()
        self.started_cpu = time.process_time()

    def cpu_seconds(self) -> float:
        return time.process_time() - self.started_cpu if self.started else 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.started if self.started else 0.0

    def line(self, final: bool = False) -> str:
        """One stats line; rates over the window since the last line (the whole run if final)."""
        now = time.monotonic()
        t = self.totals
        if final:
            window, logs, nbytes = now - self.started, t.sent_logs_total, t.sent_bytes_total
        else:
            window = now - self._last_time
            logs, nbytes = t.sent_logs_total - self._last_logs, t.sent_bytes_total - self._last_bytes
            self._last_time, self._last_logs, self._last_bytes = now, t.sent_logs_total, t.sent_bytes_total
        window = max(window, 1e-9)
        parts = [
            f"{'summary' if final else 'stats'} t={now - self.started:.1f}s",
            f"sent={t.sent_logs_total} logs/{t.sent_batches_total} batches",
            f"failed={t.failed_batches_total} batches",
            f"rate={logs / window:,.0f} logs/s",
            f"{nbytes / window / 1e6:.1f} MB/s",
            f"retries={t.retries_total}",
            f"resent={t.resent_frames_total}",
            f"oversize={t.oversize_records_total}",
        ]
        if t.acked_logs_total:
            parts.append(f"acked={t.acked_logs_total}")
        return " ".join(parts)


@dataclass(slots=True)
class Summary:
    """What a run did; ``as_dict`` is the ``--summary-json`` document."""

    seed: int
    format: str
    transport: str
    tls: bool
    ack: bool
    duration_seconds: float
    logs_per_second: float
    mb_per_second: float
    totals: Totals
    clients: list[ClientStats]
    stopped_by: str
    schema_source: str
    cpu_seconds: float = 0.0
    protocol: str | None = None
    responses: dict[str, int] = field(default_factory=dict)
    version: int = SUMMARY_VERSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "seed": self.seed,
            "format": self.format,
            "transport": self.transport,
            "tls": self.tls,
            "ack": self.ack,
            "duration_seconds": round(self.duration_seconds, 6),
            "cpu_seconds": round(self.cpu_seconds, 6),
            "logs_per_second": round(self.logs_per_second, 1),
            "mb_per_second": round(self.mb_per_second, 3),
            "stopped_by": self.stopped_by,
            "schema_source": self.schema_source,
            "protocol": self.protocol,
            "responses": dict(sorted(self.responses.items())),
            "totals": asdict(self.totals),
            "clients": [c.as_dict() for c in self.clients],
        }

    def write_json(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
