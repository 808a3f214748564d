"""Where collected entries go: one module per output (``jsonl``, ``csv``, ``sqlite``, ``forward``).

Every sink has the same shape (``base.Sink``): ``open(mark)`` cuts the output back to the mark of
the last checkpoint, ``write(entries, positions)`` takes a batch and the file offsets it reaches,
``commit()`` makes what was written durable and says which positions that covers and the new
mark, ``close()`` flushes and releases.
"""

from __future__ import annotations

from workbench.collector.config import CollectorConfig
from workbench.collector.sinks.base import Sink


def make_sink(cfg: CollectorConfig) -> Sink:
    if cfg.output_type == "forward":
        from workbench.collector.sinks.forward import ForwardSink

        return ForwardSink(cfg)
    path = cfg.resolved_output
    assert path is not None
    if cfg.output_type == "sqlite":
        from workbench.collector.sinks.sqlite import SqliteSink

        return SqliteSink(path, fsync=cfg.fsync)
    if cfg.output_type == "csv":
        from workbench.collector.sinks.csv import CsvSink

        return CsvSink(path, fsync=cfg.fsync)
    from workbench.collector.sinks.jsonl import JsonlSink

    return JsonlSink(path, fsync=cfg.fsync)


__all__ = ["Sink", "make_sink"]
