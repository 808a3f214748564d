"""Log ingestion services and the benchmarking workbench around them.

The layout follows the data flow: ``generator/ -> wire -> ingestor/ -> storage -> analysis/``,
with ``registry/`` beside it and ``scenario/`` above it. ``schemas/`` at the repository root is
the single source of truth of the normalised log entry.
"""

from __future__ import annotations

__version__ = "0.1.0"
