"""Run a ``Registry`` on its own event loop in a background thread (notebooks, sync code, tests)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench.registry.service import Registry


@contextmanager
def registry_in_thread(data_dir: Path | str, **options: Any) -> Iterator[Registry]:
    """Start a registry (default port 0) in a thread; stop it and its loop on exit."""
    options.setdefault("port", 0)
    registry = Registry(data_dir, **options)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="registry-loop", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(registry.start(), loop).result(timeout=30)
        yield registry
    finally:
        try:
            asyncio.run_coroutine_threadsafe(registry.stop(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()
