"""The collector: tail log files, parse, filter, tag, and write them out or forward them.

Layout after Vector's file source: ``paths`` (glob expansion), ``fingerprint`` (file identity),
``checkpoint`` (persisted offsets), ``watcher`` (one followed file), ``events`` (file-system
notifications, polling as fallback); then ``parse`` (multi-line, detection, decoding),
``transform`` (filter, tags), ``sinks/`` (jsonl, csv, sqlite, forward), ``metrics`` and
``http``; ``service.Collector`` ties them together and ``cli`` is the ``collect`` verb.
"""

from __future__ import annotations

from workbench.collector.config import CollectorConfig, TagRule
from workbench.collector.service import Collector

__all__ = ["Collector", "CollectorConfig", "TagRule"]
