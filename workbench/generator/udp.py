"""UDP sender: newline-separated JSON, raw or syslog lines, no datagram over ``max_datagram_bytes``.

Each batch is cut at record boundaries into datagrams of at most ``max_datagram_bytes`` (1400
by default, under a common path MTU so nothing is fragmented); the spans are computed once per
pool batch. A record that alone is larger than a datagram is **dropped**, counted in
``oversize_records_total`` and warned about once: sending it alone would break the size
guarantee, and its seq gap tells the receiver exactly what is missing. A datagram the kernel
refuses (full buffer, ICMP unreachable) is counted in ``failed_batches_total``'s companion
``failed_logs_total`` by its records; UDP has no retries.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from workbench.generator.config import GeneratorConfig
from workbench.generator.pool import Chunk, Pool
from workbench.generator.stats import ClientStats, Totals

log = logging.getLogger(__name__)


def connected_udp(address: str, port: int) -> socket.socket:
    """A non-blocking UDP socket connected to the receiver, with a 4 MiB send buffer (bursts of
    datagrams are not dropped in our own kernel)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.connect((address, port))
    sock.setblocking(False)
    return sock


class UdpSender:
    def __init__(self, config: GeneratorConfig, stats: ClientStats, totals: Totals, pool: Pool,
                 endpoint: tuple[str, int] | None = None) -> None:  # fmt: skip
        self.config = config
        self.address, self.port = endpoint or (config.address, config.udp_port)
        self.stats = stats
        self.totals = totals
        self.pool = pool
        self._spans: dict[int, tuple[list[tuple[int, int]], int]] = {}
        self._warned = False
        self.sock: socket.socket | None = None

    def spans(self, batch: int) -> tuple[list[tuple[int, int]], int]:
        cached = self._spans.get(batch)
        if cached is None:
            cached = self._spans[batch] = self.pool.datagrams(batch, self.config.max_datagram_bytes)
            if cached[1] and not self._warned:
                self._warned = True
                log.warning(
                    "%s: records larger than %d bytes do not fit one datagram; they are dropped and "
                    "counted (oversize_records_total)",
                    self.stats.client_id,
                    self.config.max_datagram_bytes,
                )
        return cached

    async def send(self, chunk: Chunk) -> int:
        """Send a chunk's datagrams; returns how many of its logs were not sent."""
        if self.sock is None:
            self.sock = connected_udp(self.address, self.port)
        data = chunk.data
        lost = 0
        for i, (start, end, n, _) in enumerate(chunk.frames):
            spans, oversize = self.spans(chunk.batch + i)
            if end - start != self.pool.frame_sizes(chunk.batch + i, 1)[0]:  # a cut last batch
                spans = [(s, min(e, end - start)) for s, e in spans if s < end - start]
                oversize = n - sum(data.count(b"\n", start + s, start + e) for s, e in spans)
            if oversize:
                self.totals.oversize_records_total += oversize
                lost += oversize
            for s, e in spans:
                lost += await self._send_one(data[start + s : start + e])
        return lost

    async def _send_one(self, datagram: bytes) -> int:
        assert self.sock is not None
        for _ in range(100):
            try:
                self.sock.send(datagram)
                self.totals.udp_datagrams_total += 1
                return 0
            except BlockingIOError:
                await asyncio.sleep(0.001)
            except OSError as exc:  # ECONNREFUSED from an earlier ICMP unreachable, ENOBUFS...
                log.debug("%s: datagram not sent: %s", self.stats.client_id, exc)
                break
        lost = datagram.count(b"\n")
        self.totals.failed_logs_total += lost
        self.stats.failed_logs += lost
        return lost

    async def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
