"""``python -m workbench ingest`` as a real subprocess on free ports, for end-to-end and reliability tests.

``IngestProcess`` looks like an ``Ingestor`` to ``ingest_helpers`` (``tcp_port``, ``cert_path``,
``url``) and keeps the process's stdout and stderr lines, so a test can check what it logged.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from workbench import contract

READY = re.compile(r"\[READY\] tcp=(\d+) udp=(\d+|None) http=(\d+|None)")


class IngestProcess:
    """``python -m workbench ingest`` on free ports; looks like an ``Ingestor`` to the helpers."""

    def __init__(self, data_dir: Path, *args: str, workers: int = 2) -> None:
        self.data_dir = data_dir
        cmd = [sys.executable, "-m", "workbench", "ingest", "--data-dir", str(data_dir), "--tcp-port", "0",
               "--udp-port", "0", "--http-port", "0", "--workers", str(workers), "--quiet", *args]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._ready = threading.Event()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.tcp_port = self.udp_port = self.http_port = 0
        self.cert_path: str | None = str(data_dir / "tls" / "ingestor-cert.pem")
        deadline = time.monotonic() + 60
        while not self._ready.is_set():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"ingest did not start: {self.stderr_text()[-3000:]}")
            self._ready.wait(0.1)
        m = next(filter(None, (READY.search(line) for line in self.lines)))
        self.tcp_port, self.udp_port, self.http_port = int(m[1]), int(m[2]), int(m[3])
        self.url = f"http://127.0.0.1:{self.http_port}"
        # the JSON ready event: every port bound (the shippers' standard ports too)
        self.ready = next(e for e in map(contract.parse, self.lines) if e and e.get("event") == "ready")

    def _pump(self, stream: object, sink: list[str]) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            line = raw.decode("utf-8", "replace").rstrip("\n")
            sink.append(line)
            if line.startswith('{"event": "ready"'):  # printed right after the [READY] line
                self._ready.set()

    def stderr_text(self) -> str:
        return "\n".join(self.errors)

    def worker_pids(self) -> list[int]:
        import psutil

        out = []
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                if "workbench.ingestor.child" in " ".join(child.cmdline()):
                    out.append(child.pid)
            except psutil.NoSuchProcess:
                pass
        return sorted(out)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._close_pipes()
        return code

    def _close_pipes(self) -> None:
        for t in self._threads:
            t.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def kill(self) -> None:
        """SIGKILL the workers and the parent (a crash of the whole ingestor)."""
        if self.proc.poll() is None:
            for pid in self.worker_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.kill()
        self.proc.wait(30)
        self._close_pipes()

    def summary(self) -> str:
        return next(line for line in self.lines if line.startswith("[SUMMARY]"))
