"""The ingestor's metrics: named once here, counted per batch in workers, summed by the parent.

Counters (Prometheus names; labels in braces):

* ``ingest_logs_total{format,transport}``: logs stored (written to the OS)
* ``ingest_bytes_total{format,transport}``: bytes received on the wire
* ``ingest_rejected_total{reason,format}``: logs refused (malformed, invalid, encoding,
  too_large, unknown_schema, framing); samples go to ``rejected/``
* ``ingest_dropped_total{reason}``: logs accepted then dropped (``queue_full`` under
  ``--overflow drop``) or lost before we saw them (``udp_receive_buffer``, from the kernel)
* ``ingest_rotations_total``, ``ingest_compressed_files_total``, ``ingest_write_errors_total``
* ``ingest_connections_total``, ``ingest_worker_restarts_total``
* ``ingest_connections_refused_total`` (over ``max_connections``),
  ``ingest_connections_idle_closed_total`` (no complete record for ``idle_timeout_seconds``),
  ``ingest_connections_failed_total`` (the TLS handshake failed, e.g. a plain-text client on
  the TLS port; counted by worker processes, which receive their connections from the parent)
* ``ingest_processing_seconds_total``: time spent decoding, validating and encoding batches
* ``ingest_logs_by_host_total{host}``: logs stored per source host
* ``ingest_requests_total{protocol,status}``: HTTP requests of the shippers' protocols
  (otlp, hec, elasticsearch, loki; ``http`` for no route) answered, by status code

Gauges: ``ingest_queue_length`` (logs waiting for the writer), ``ingest_queue_length_max``,
``ingest_queue_bytes`` (their stored bytes, bounded by ``max_queue_bytes`` per worker),
``ingest_queue_bytes_max``,
``ingest_connections_active``, ``ingest_disk_bytes`` (data dir), ``ingest_write_blocked``
(workers whose writes fail, e.g. disk full: their reading is paused until a retry works), ``ingest_schema_source{source}``
(1 for ``registry`` or ``bundled``), ``ingest_workers``, ``ingest_up``.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

COUNTERS = (
    "logs", "bytes", "rejected", "dropped", "rotations", "compressed_files", "write_errors",
    "connections", "worker_restarts", "processing_seconds", "logs_by_host",
    "connections_refused", "connections_idle_closed", "connections_failed", "requests",
)  # fmt: skip
LABELS = {
    "logs": ("format", "transport"),
    "bytes": ("format", "transport"),
    "rejected": ("reason", "format"),
    "dropped": ("reason",),
    "logs_by_host": ("host",),
    "requests": ("protocol", "status"),
}
GAUGES = (
    "queue_length",
    "queue_length_max",
    "queue_bytes",
    "queue_bytes_max",
    "connections_active",
    "disk_bytes",
    "workers",
    "write_blocked",
)
HELP = {
    "logs": "Logs stored (handed to the OS).",
    "bytes": "Bytes received on the wire.",
    "rejected": "Logs refused, by reason; samples in rejected/.",
    "dropped": "Logs dropped after acceptance or lost in the kernel before reading.",
    "rotations": "Segment rotations.",
    "compressed_files": "Rotated segments compressed.",
    "write_errors": "Failed writes (retried; the sender is paused meanwhile).",
    "connections": "TCP connections accepted.",
    "worker_restarts": "Worker processes restarted after dying.",
    "processing_seconds": "Time spent decoding, validating and encoding batches.",
    "logs_by_host": "Logs stored per source host.",
    "requests": "HTTP requests of the shippers' protocols answered, by protocol and status.",
    "connections_refused": "TCP connections refused over max_connections.",
    "connections_idle_closed": "TCP connections closed after idle_timeout_seconds without a complete record.",
    "connections_failed": "TCP connections that failed before a byte was read (TLS handshake failed or timed out).",
    "queue_length": "Logs waiting for the writer.",
    "queue_length_max": "Highest queue length seen.",
    "queue_bytes": "Bytes of stored lines waiting for the writer.",
    "queue_bytes_max": "Highest queue bytes of one worker seen.",
    "connections_active": "Open TCP connections.",
    "disk_bytes": "Bytes in the data dir.",
    "workers": "Worker processes alive.",
    "write_blocked": "Workers whose writes fail (disk full): reading paused, data kept and retried.",
}
MAX_HOSTS = 1000  # label cardinality bound for logs_by_host; the rest count under "other"

Key = tuple[str, ...]


SAMPLE_CHARS = 2000  # what a kept sample line holds of a stored line


@dataclass
class WorkerMetrics:
    """Cumulative figures of one worker; ``snapshot()`` is what it sends to the parent."""

    counters: dict[str, dict[Key, float]] = field(
        default_factory=lambda: {c: defaultdict(float) for c in COUNTERS}
    )
    gauges: dict[str, float] = field(default_factory=lambda: dict.fromkeys(GAUGES, 0.0))
    samples: dict[str, deque[str]] = field(default_factory=dict)

    def add(self, name: str, value: float = 1.0, *labels: str) -> None:
        self.counters[name][labels] += value

    def stored(self, fmt: str, transport: str, host: str, logs: int, seconds: float) -> None:
        c = self.counters
        c["logs"][(fmt, transport)] += logs
        by_host = c["logs_by_host"]
        key = (host,) if (host,) in by_host or len(by_host) < MAX_HOSTS else ("other",)
        by_host[key] += logs
        c["processing_seconds"][()] += seconds

    def sample(self, fmt: str, line: str, keep: int = 5) -> None:
        """Keep one stored line of a format for the live page (its first ``SAMPLE_CHARS``: a
        worker's snapshot travels to the parent as one line, and logs may be megabytes)."""
        q = self.samples.get(fmt)
        if q is None:
            q = self.samples[fmt] = deque(maxlen=keep)
        q.append(line if len(line) <= SAMPLE_CHARS else line[:SAMPLE_CHARS] + f"… ({len(line)} characters)")

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: counters as ``{name: [[labels, value], ...]}``."""
        return {
            "counters": {n: [[list(k), v] for k, v in dict(c).items()] for n, c in self.counters.items()},
            "gauges": dict(self.gauges),
            "samples": {k: list(v) for k, v in self.samples.items()},
        }


def total(counter: dict[Key, float]) -> float:
    return sum(counter.values())


class Aggregate:
    """The parent's view: the sum over workers (and over dead generations of each worker)."""

    def __init__(self, history_seconds: float = 120.0) -> None:
        self.latest: dict[int, dict[str, Any]] = {}
        self.base: dict[str, dict[Key, float]] = {c: defaultdict(float) for c in COUNTERS}
        self.extra: dict[str, dict[Key, float]] = {c: defaultdict(float) for c in COUNTERS}
        self.gauges: dict[str, float] = {}
        self.history: deque[tuple[float, dict[str, float]]] = deque()
        self.history_seconds = history_seconds
        self.started = time.time()
        self.info: dict[str, Any] = {}

    def update(self, worker: int, snapshot: dict[str, Any]) -> None:
        self.latest[worker] = snapshot

    def worker_died(self, worker: int) -> None:
        """Keep a dead worker's counts: its files hold those logs."""
        snap = self.latest.pop(worker, None)
        if snap:
            for name, values in snap["counters"].items():
                for key, v in values:
                    self.base[name][tuple(key)] += v
        self.extra["worker_restarts"][()] += 1

    def counters(self) -> dict[str, dict[Key, float]]:
        out: dict[str, dict[Key, float]] = {c: defaultdict(float) for c in COUNTERS}
        for source in (self.base, self.extra):
            for name, values in source.items():
                for key, v in values.items():
                    out[name][key] += v
        for snap in self.latest.values():
            for name, values in snap["counters"].items():
                for key, v in values:
                    out[name][tuple(key)] += v
        return out

    def gauge_values(self) -> dict[str, float]:
        g: dict[str, float] = dict.fromkeys(GAUGES, 0.0)
        for snap in self.latest.values():
            for name, v in snap["gauges"].items():
                if name in ("queue_length_max", "queue_bytes_max"):
                    g[name] = max(g[name], v)
                elif name in g:
                    g[name] += v
        g.update(self.gauges)
        g["workers"] = float(len(self.latest))
        return g

    def samples(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for snap in self.latest.values():
            for fmt, lines in snap.get("samples", {}).items():
                out.setdefault(fmt, []).extend(lines)
        return {k: v[-5:] for k, v in out.items()}

    def tick(self, now: float | None = None) -> None:
        """Record totals for rate computation (call once per interval)."""
        now = now or time.time()
        c = self.counters()
        self.history.append((now, {n: total(v) for n, v in c.items()}))
        while self.history and now - self.history[0][0] > self.history_seconds:
            self.history.popleft()

    def rates(self, window: float = 1.0) -> dict[str, float]:
        """Per-second rates of every counter over about the last ``window`` seconds."""
        if len(self.history) < 2:
            return {}
        t1, last = self.history[-1]
        first = self.history[-2]
        for entry in reversed(self.history):
            if t1 - entry[0] >= window:
                first = entry
                break
        t0, prev = first
        dt = max(t1 - t0, 1e-9)
        return {n: max(0.0, last[n] - prev.get(n, 0.0)) / dt for n in last}

    def summary(self) -> dict[str, Any]:
        """Totals, rates and gauges for ``/metrics.json`` and the stdout line."""
        c = self.counters()
        totals = {n: total(v) for n, v in c.items()}
        rates = self.rates()
        logs, seconds = totals["logs"], totals["processing_seconds"]
        return {
            "time": time.time(),
            "uptime_seconds": time.time() - self.started,
            "totals": totals,
            "rates": rates,
            "logs_per_sec": rates.get("logs", 0.0),
            "mb_per_sec": rates.get("bytes", 0.0) / 1e6,
            "latency_us": (seconds / logs * 1e6) if logs else 0.0,
            "gauges": self.gauge_values(),
            "by_format": _by_label(c["logs"], 0),
            "by_transport": _by_label(c["logs"], 1),
            "rejected_by_reason": _by_label(c["rejected"], 0),
            "dropped_by_reason": _by_label(c["dropped"], 0),
            "by_host": _by_label(c["logs_by_host"], 0),
            "samples": self.samples(),
            "info": self.info,
        }

    def stats_line(self) -> str:
        s = self.summary()
        g, t = s["gauges"], s["totals"]
        return (
            f"[METRIC] Logs/sec: {s['logs_per_sec']:.0f}, MB/s: {s['mb_per_sec']:.2f}, "
            f"Latency: {s['latency_us']:.2f}µs, Queue: {g['queue_length']:.0f} (max: {g['queue_length_max']:.0f}), "
            f"Rotations: {t['rotations']:.0f}, Stored: {t['logs']:.0f}, Rejected: {t['rejected']:.0f}, "
            f"Dropped: {t['dropped']:.0f}, Connections: {g['connections_active']:.0f}"
        )

    def prometheus(self) -> str:
        lines: list[str] = []
        for name, values in self.counters().items():
            metric = (
                f"ingest_{name}_total" if name != "processing_seconds" else "ingest_processing_seconds_total"
            )
            lines.append(f"# HELP {metric} {HELP[name]}")
            lines.append(f"# TYPE {metric} counter")
            labels = LABELS.get(name, ())
            if not values and not labels:
                lines.append(f"{metric} 0")
            for key, v in sorted(values.items()):
                lines.append(f"{metric}{_labels(labels, key)} {_num(v)}")
        for name, v in self.gauge_values().items():
            metric = f"ingest_{name}"
            lines += [f"# HELP {metric} {HELP[name]}", f"# TYPE {metric} gauge", f"{metric} {_num(v)}"]
        source = self.info.get("schema_source", "bundled")
        lines += [
            "# HELP ingest_schema_source Where the validating schemas came from (1 for the source in use).",
            "# TYPE ingest_schema_source gauge",
            f'ingest_schema_source{{source="{source}"}} 1',
            "# HELP ingest_up 1 while the ingestor runs.",
            "# TYPE ingest_up gauge",
            "ingest_up 1",
        ]
        return "\n".join(lines) + "\n"


def _by_label(values: dict[Key, float], index: int) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for key, v in values.items():
        if len(key) > index:
            out[key[index]] += v
    return dict(out)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], key: Key) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(str(v))}"' for n, v in zip(names, key, strict=False)) + "}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))
