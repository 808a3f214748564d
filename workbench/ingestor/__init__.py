"""The ingestor: TLS TCP for every format, UDP, validation, writers per core, rotation, metrics.

``Ingestor(IngestorConfig(...))`` with ``await start()`` / ``await stop()``; metrics are named in
``workbench.ingestor.metrics``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.ingestor.config import IngestorConfig
    from workbench.ingestor.service import Ingestor
else:
    from workbench._lazy import exports

    __getattr__ = exports(
        __name__,
        {
            "IngestorConfig": "workbench.ingestor.config",
            "Ingestor": "workbench.ingestor.service",
        },
    )

__all__ = ["Ingestor", "IngestorConfig"]
