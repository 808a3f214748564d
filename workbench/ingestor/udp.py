"""UDP: JSON lines (one or more per datagram), syslog datagrams (RFC 5426) and raw lines.

Datagrams that arrive in one loop iteration are decoded together, per sender and format, so a
busy UDP port costs one batch per iteration rather than one per datagram. UDP cannot be paused:
when the queue is full the batch is dropped and counted (``queue_full``), and the kernel's own
receive-buffer drops are read from ``/proc/net/udp`` (``udp_receive_buffer``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.codecs.base import Decoded
from workbench.ingestor.decoding import Worker, decode_datagram, make_batch


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, worker: Worker, loop: asyncio.AbstractEventLoop,
                 queue_full: Callable[[], bool] | None = None) -> None:  # fmt: skip
        self.w = worker
        self.loop = loop
        self.queue_full = queue_full
        self.pending: list[tuple[bytes, Any]] = []
        self._scheduled = False
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.pending.append((data, addr))
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self.pending = self.pending, []
        t0 = time.perf_counter()
        groups: dict[tuple[str, str], Decoded] = defaultdict(Decoded)
        counters = self.w.metrics.counters["bytes"]
        for data, addr in pending:
            fmt, decoded = decode_datagram(self.w.codecs, data)
            peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
            counters[(fmt, "udp")] += len(data)
            groups[(fmt, peer)].extend(decoded)
        for (fmt, peer), decoded in groups.items():
            batch = make_batch(self.w, decoded, fmt, "udp", peer, peer.rsplit(":", 1)[0], t0)
            if batch is None:
                continue
            if self.queue_full is not None and self.queue_full():  # also under --overflow block
                self.w.metrics.add("dropped", batch.logs, "queue_full")
                continue
            self.w.submit(batch)

    def error_received(self, exc: Exception) -> None:  # ICMP errors: nothing to do for a receiver
        pass


def kernel_drops(sock: socket.socket) -> int | None:
    """The receive-buffer drops the kernel counted for this socket (Linux), by its inode."""
    try:
        inode = os.fstat(sock.fileno()).st_ino
    except OSError:
        return None
    family = "udp6" if sock.family == socket.AF_INET6 else "udp"
    try:
        lines = Path(f"/proc/net/{family}").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        cols = line.split()
        if len(cols) >= 13 and cols[9] == str(inode):
            return int(cols[-1])
    return None
