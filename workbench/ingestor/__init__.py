"""The ingestor: TLS TCP for every format, UDP, validation, writers per core, rotation, metrics.

``Ingestor(IngestorConfig(...))`` with ``await start()`` / ``await stop()``; metrics are named in
``workbench.ingestor.metrics``.
"""

from __future__ import annotations

from workbench.ingestor.config import IngestorConfig
from workbench.ingestor.service import Ingestor

__all__ = ["Ingestor", "IngestorConfig"]
