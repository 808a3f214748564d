"""The collector: tail log files, parse, filter, tag, and write them out or forward them.

Layout after Vector's file source: ``paths`` (glob expansion), ``fingerprint`` (file identity),
``checkpoint`` (persisted offsets), ``watcher`` (one followed file), ``events`` (file-system
notifications, polling as fallback); then ``parse`` (multi-line, detection, decoding),
``transform`` (filter, tags), ``sinks/`` (jsonl, csv, sqlite, forward), ``metrics`` and
``http``; ``service.Collector`` ties them together and ``cli`` is the ``collect`` verb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.collector.config import CollectorConfig, TagRule
    from workbench.collector.service import Collector
else:
    from workbench._lazy import exports

    __getattr__ = exports(
        __name__,
        {
            "CollectorConfig": "workbench.collector.config",
            "TagRule": "workbench.collector.config",
            "Collector": "workbench.collector.service",
        },
    )

__all__ = ["Collector", "CollectorConfig", "TagRule"]
