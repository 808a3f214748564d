"""Entry point of a worker process: ``python -m workbench.ingestor.child`` (started by the parent).

Kept apart from ``worker.py`` so that ``-m`` runs a module the package has not imported yet.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
from typing import Any

from workbench import eventloop
from workbench.ingestor.decoding import SchemaSet
from workbench.ingestor.process import setup_logging, ssl_context_for, worker_settings
from workbench.ingestor.worker import WorkerRuntime


def worker_main() -> None:
    """Entry point of a worker process (``python -m workbench.ingestor.child``).

    The parent writes one JSON line on stdin (config, worker id, schemas, ports, the descriptor
    of the channel its TCP connections arrive on) and keeps stdin
    open: EOF or a ``stop`` line means stop. The worker writes JSON lines on stdout: ``ready``,
    ``metrics`` snapshots, ``stopped``. It also stops on SIGTERM/SIGINT; it exits 0 after a
    graceful stop.
    """
    import json
    import sys

    setup_logging()
    # a batch allocates thousands of short-lived objects: with the default gen-0 threshold (700)
    # the collector ran so often that it took half of msgspec's decode time (profiled); entries
    # hold no reference cycles, so collecting rarely is safe
    gc.set_threshold(200_000, 50, 100)
    line = sys.stdin.readline()
    if not line:  # the parent gave up before handing this worker its spec (a start that failed)
        return
    spec = json.loads(line)
    config = worker_settings(spec["config"])  # validated by the parent
    worker_id = int(spec["worker"])
    schemas = SchemaSet.from_json(spec["schemas"])
    out = sys.stdout

    def send(kind: str, payload: Any) -> None:
        out.write(json.dumps({"kind": kind, "worker": worker_id, "payload": payload}) + "\n")
        out.flush()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        handoff = socket.socket(fileno=spec["handoff_fd"]) if spec.get("handoff_fd") is not None else None
        runtime = WorkerRuntime(config, worker_id, schemas, ssl_context_for(config), spec["tcp_port"],
                                spec["udp_port"], publish=lambda snap: send("metrics", snap),
                                handoff=handoff, standard_ports=spec.get("standard_ports"))  # fmt: skip
        await runtime.start()
        send("ready", None)

        def on_stdin() -> None:
            line = os.read(sys.stdin.fileno(), 4096)
            if not line or b"stop" in line:
                loop.remove_reader(sys.stdin.fileno())
                stop.set()

        loop.add_reader(sys.stdin.fileno(), on_stdin)
        await stop.wait()
        await runtime.stop()
        send("stopped", None)

    eventloop.run(run())


if __name__ == "__main__":
    worker_main()
