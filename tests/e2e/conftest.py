"""Fixtures of the end-to-end tests: the ``ingest`` CLI as a real subprocess on free ports.

The shared helpers live in ``tests/integration/ingest_helpers.py``; this makes them importable.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from ingest_process import IngestProcess


@pytest.fixture
def start_ingest() -> Iterator[object]:
    """A factory of ``IngestProcess``; whatever still runs at the end is killed."""
    started: list[IngestProcess] = []

    def start(data_dir: Path, *args: str, workers: int = 2) -> IngestProcess:
        p = IngestProcess(data_dir, *args, workers=workers)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()
