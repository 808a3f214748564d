"""The collector's metrics, named once here.

Counters (Prometheus names; labels in braces):

* ``collector_lines_total{file}``: records read from each file (a multi-line record counts once)
* ``collector_bytes_total{file}``: bytes read from each file
* ``collector_entries_total{level}``: entries delivered to the output, by level
* ``collector_tags_total{tag}``: entries carrying each tag
* ``collector_filtered_total``: records dropped by ``--filter`` / ``--exclude``
* ``collector_parse_errors_total{reason}``: records their format refused (samples in
  ``<state_dir>/parse_errors.jsonl``); still delivered as raw entries unless ``keep_unparsed`` is off
* ``collector_dropped_total``: records that could not be made an entry at all
* ``collector_rotations_total{kind}``: ``rename`` (the path now leads to a new file) and
  ``truncate`` (copy-truncate or a file cut short)
* ``collector_checkpoints_total``: checkpoint writes
* ``collector_forward_frames_total{state}``: ``sent``, ``acked``, ``resent`` frames (forwarding)
* ``collector_forward_connections_total``, ``collector_forward_connect_failures_total``

Gauges: ``collector_files_watched``, ``collector_forward_unacked_frames``,
``collector_lines_per_second``, ``collector_up``.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Any

MAX_FILES = 1000  # label cardinality bound; further files count under "other"

HELP = {
    "lines": ("counter", "Records read, per file."),
    "bytes": ("counter", "Bytes read, per file."),
    "entries": ("counter", "Entries delivered to the output, by level."),
    "tags": ("counter", "Entries carrying each tag."),
    "filtered": ("counter", "Records dropped by the include/exclude filters."),
    "parse_errors": ("counter", "Records their detected format refused, by reason."),
    "dropped": ("counter", "Records that could not be made an entry."),
    "rotations": ("counter", "File rotations noticed, by kind (rename, truncate)."),
    "checkpoints": ("counter", "Checkpoint writes."),
}
LABELS = {"lines": "file", "bytes": "file", "entries": "level", "tags": "tag", "parse_errors": "reason",
          "rotations": "kind"}  # fmt: skip


class CollectorMetrics:
    def __init__(self) -> None:
        self.counters: dict[str, defaultdict[str, float]] = {name: defaultdict(float) for name in HELP}
        self.started = time.time()
        self.history: deque[tuple[float, float]] = deque(maxlen=600)  # (time, lines total)
        self.recent_errors: deque[dict[str, Any]] = deque(maxlen=20)
        self.files_watched = 0
        self.forward: dict[str, Any] | None = None  # set by the collector when forwarding

    def add(self, name: str, value: float = 1, label: str = "") -> None:
        self.counters[name][label] += value

    def add_file(self, name: str, path: str, value: float) -> None:
        c = self.counters[name]
        c[path if path in c or len(c) < MAX_FILES else "other"] += value

    def total(self, name: str) -> float:
        return float(sum(self.counters[name].values()))

    def tick(self, now: float | None = None) -> None:
        self.history.append((now or time.time(), self.total("lines")))

    def lines_per_second(self, window: float = 5.0) -> float:
        if len(self.history) < 2:
            return 0.0
        t1, n1 = self.history[-1]
        t0, n0 = self.history[-2][0], self.history[-2][1]
        for t, n in reversed(self.history):
            t0, n0 = t, n
            if t1 - t >= window:
                break
        return max(0.0, n1 - n0) / max(t1 - t0, 1e-9)

    def summary(self) -> dict[str, Any]:
        c = self.counters
        out: dict[str, Any] = {
            "time": time.time(),
            "uptime_seconds": time.time() - self.started,
            "lines_per_second": self.lines_per_second(),
            "totals": {name: self.total(name) for name in HELP},
            "by_file": dict(c["lines"]),
            "bytes_by_file": dict(c["bytes"]),
            "by_level": dict(c["entries"]),
            "by_tag": dict(c["tags"]),
            "parse_errors_by_reason": dict(c["parse_errors"]),
            "rotations_by_kind": dict(c["rotations"]),
            "files_watched": self.files_watched,
            "recent_parse_errors": list(self.recent_errors),
        }
        if self.forward is not None:
            out["forward"] = dict(self.forward)
        return out

    def stats_line(self) -> str:
        t = {name: self.total(name) for name in HELP}
        line = (
            f"[COLLECTOR] lines/s: {self.lines_per_second():.0f}, lines: {t['lines']:.0f}, "
            f"entries: {t['entries']:.0f}, filtered: {t['filtered']:.0f}, "
            f"parse errors: {t['parse_errors']:.0f}, files: {self.files_watched}"
        )
        if self.forward is not None:
            line += f", unacked frames: {self.forward.get('unacked_frames', 0)}"
        return line

    def prometheus(self) -> str:
        lines: list[str] = []
        for name, (kind, text) in HELP.items():
            metric = f"collector_{name}_total"
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}"]
            label = LABELS.get(name)
            values = self.counters[name]
            if label is None:
                lines.append(f"{metric} {_num(sum(values.values()))}")
                continue
            for key, v in sorted(values.items()):
                lines.append(f'{metric}{{{label}="{_escape(key)}"}} {_num(v)}')
        if self.forward is not None:
            f = self.forward
            lines += ["# HELP collector_forward_frames_total Frames to the ingestor, by state.",
                      "# TYPE collector_forward_frames_total counter"]  # fmt: skip
            for state in ("sent", "acked", "resent"):
                lines.append(
                    f'collector_forward_frames_total{{state="{state}"}} {_num(f.get("frames_" + state, 0))}'
                )
            for key, text in (("connections", "Connections opened to the ingestor."),
                              ("connect_failures", "Failed connection attempts.")):  # fmt: skip
                metric = f"collector_forward_{key}_total"
                lines += [
                    f"# HELP {metric} {text}",
                    f"# TYPE {metric} counter",
                    f"{metric} {_num(f.get(key, 0))}",
                ]
            lines += ["# HELP collector_forward_unacked_frames Frames sent and not yet acknowledged.",
                      "# TYPE collector_forward_unacked_frames gauge",
                      f"collector_forward_unacked_frames {_num(f.get('unacked_frames', 0))}"]  # fmt: skip
        lines += [
            "# HELP collector_files_watched Files followed now.",
            "# TYPE collector_files_watched gauge",
            f"collector_files_watched {self.files_watched}",
            "# HELP collector_lines_per_second Records read per second (last seconds).",
            "# TYPE collector_lines_per_second gauge",
            f"collector_lines_per_second {self.lines_per_second():.1f}",
            "# HELP collector_up 1 while the collector runs.",
            "# TYPE collector_up gauge",
            "collector_up 1",
        ]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))
