"""Fixtures of the reliability suite: the real ingestor, worker processes, TLS, free ports.

``LiveIngestor`` runs the library ``Ingestor`` with real worker processes (``python -m
workbench.ingestor.child``) on an event loop of its own thread, so that a test's clients can run
``asyncio.run`` freely and one ingestor can serve a whole table of cases. Tests see it only
through its ports, its HTTP endpoints and its data dir, as an operator would. Figures come from
``/metrics`` (Prometheus text), parsed strictly.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from ingest_helpers import config, metric_total, parse_prometheus

from workbench.ingestor.service import Ingestor

Metrics = dict[str, dict[tuple[tuple[str, str], ...], float]]


class LiveIngestor:
    """An ``Ingestor`` (worker processes, TLS) running on a background event loop."""

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        settings: dict[str, Any] = {"workers": 2, "rejected_samples_per_second": 1000}
        settings.update(overrides)
        self.data_dir = data_dir
        self.ing = Ingestor(config(data_dir, **settings))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="live-ingestor", daemon=True)
        self._thread.start()
        self._call(self.ing.start(), 90)

    def _call(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def tcp_port(self) -> int:
        return self.ing.tcp_port

    @property
    def udp_port(self) -> int | None:
        return self.ing.udp_port

    @property
    def cert_path(self) -> str | None:
        return self.ing.cert_path

    @property
    def url(self) -> str:
        assert self.ing.url is not None
        return self.ing.url

    def worker_pids(self) -> list[int]:
        return sorted(c.process.pid for c in self.ing._children.values() if c.process.returncode is None)

    def metrics(self) -> Metrics:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as r:
            return parse_prometheus(r.read().decode())

    def wait(self, predicate: Any, timeout: float = 20.0, what: str = "metrics") -> Metrics:
        """Poll ``/metrics`` until ``predicate(parsed)`` holds; fail with the last figures."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            if predicate(m):
                return m
            if time.monotonic() > deadline:
                short = {k: v for k, v in m.items() if k.endswith("_total") and any(v.values())}
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {short}")
            time.sleep(0.1)

    def stop(self) -> None:
        try:
            self._call(self.ing.stop(), 120)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(30)
            self.loop.close()


@contextmanager
def live_ingestor(data_dir: Path, **overrides: Any) -> Iterator[LiveIngestor]:
    live = LiveIngestor(data_dir, **overrides)
    try:
        yield live
    finally:
        live.stop()


def total(m: Metrics, name: str, **labels: str) -> float:
    return metric_total(m, name, **labels)
