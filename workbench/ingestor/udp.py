"""UDP: JSON lines (one or more per datagram), syslog datagrams (RFC 5426) and raw lines.

The listener reads every waiting datagram (up to ``READ_BURST``) in one wake-up and decodes them
together, per sender and format, so a busy UDP port costs one batch per wake-up rather than one
per datagram. UDP cannot be paused:
when the queue is full the batch is dropped and counted (``queue_full``), and the kernel's own
receive-buffer drops are read from ``/proc/net/udp`` (``udp_receive_buffer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.codecs.base import Decoded
from workbench.ingestor.decoding import WorkerContext, decode_datagram, make_batch

if TYPE_CHECKING:
    from workbench.ingestor.listeners import ListenerContext

log = logging.getLogger(__name__)

SO_RCVBUFFORCE = 33  # Linux's value; Python's socket module does not name it

UDP_RCVBUF_BYTES = 32 << 20  # asked for; the kernel doubles it for its bookkeeping
READ_BURST = 1024  # datagrams read in one wake-up at most, then decoded as one batch per sender
MAX_DATAGRAM = 65535


class UdpProtocol:
    """What a UDP listener read in one wake-up (``pending``: datagram and sender), decoded by ``flush``."""

    def __init__(self, ctx: WorkerContext, loop: asyncio.AbstractEventLoop,
                 queue_full: Callable[[], bool] | None = None) -> None:  # fmt: skip
        self.ctx = ctx
        self.loop = loop
        self.queue_full = queue_full
        self.pending: list[tuple[bytes, Any]] = []
        self._scheduled = False

    def flush(self) -> None:
        self._scheduled = False
        pending, self.pending = self.pending, []
        t0 = time.perf_counter()
        groups: dict[tuple[str, str], Decoded] = defaultdict(Decoded)
        counters = self.ctx.metrics.counters["bytes"]
        for data, addr in pending:
            fmt, decoded = decode_datagram(self.ctx.codecs, data)
            peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
            counters[(fmt, "udp")] += len(data)
            groups[(fmt, peer)].extend(decoded)
        for (fmt, peer), decoded in groups.items():
            batch = make_batch(self.ctx, decoded, fmt, "udp", peer, peer.rsplit(":", 1)[0], t0)
            if batch is None:
                continue
            if self.queue_full is not None and self.queue_full():  # also under --overflow block
                self.ctx.metrics.add("dropped", batch.logs, "queue_full")
                continue
            self.ctx.submit(batch)


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


def udp_socket(host: str, port: int) -> socket.socket:
    """A UDP socket on the shared port (SO_REUSEPORT: every worker binds it, the kernel spreads
    the datagrams), with a receive buffer for bursts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    set_receive_buffer(sock, UDP_RCVBUF_BYTES)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def set_receive_buffer(sock: socket.socket, size: int) -> None:
    """The receive buffer a burst or a stall of the worker needs: SO_RCVBUFFORCE as root (past
    ``net.core.rmem_max``, 4 MiB here, which at 100,000 GELF datagrams/s rides out ~40 ms),
    else SO_RCVBUF up to that limit."""
    force = getattr(socket, "SO_RCVBUFFORCE", SO_RCVBUFFORCE if sys.platform.startswith("linux") else None)
    if force is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, force, size)
            return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


class UdpListener:
    """Datagrams on the UDP port; the kernel's receive-buffer drops counted as ``udp_receive_buffer``.

    The shape of every datagram listener (GELF's subclasses it): a socket per worker on a shared
    port, a protocol ``make_protocol`` builds (with a ``flush`` for what it holds), the kernel's
    drops counted under ``drop_reason``."""

    kind = "udp"
    drop_reason = "udp_receive_buffer"

    def __init__(self, shared: ListenerContext) -> None:
        self.shared = shared
        self.port = shared.ports[self.kind]
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._protocol: Any = None
        self._drops_base: int | None = None

    def make_protocol(self, loop: asyncio.AbstractEventLoop) -> Any:
        return UdpProtocol(self.shared.ctx, loop, queue_full=self.shared.pipeline.full)

    async def start(self) -> None:
        assert self.port is not None
        loop = asyncio.get_running_loop()
        self._sock = udp_socket(self.shared.config.host, self.port)
        self._protocol = self.make_protocol(loop)
        self._drops_base = kernel_drops(self._sock)
        loop.add_reader(self._sock.fileno(), self._readable)
        self._loop = loop

    def _readable(self) -> None:
        self.read(READ_BURST)

    def read(self, limit: int) -> int:
        """Up to ``limit`` waiting datagrams, then one flush: asyncio's datagram transport reads one
        a wake-up, which made a batch (and a writer wake-up) of every datagram."""
        assert self._sock is not None
        recv, pending = self._sock.recvfrom, self._protocol.pending
        n = 0
        try:
            while n < limit:
                pending.append(recv(MAX_DATAGRAM))
                n += 1
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:  # e.g. an ICMP error queued on the socket: nothing to do for a receiver
            log.debug("udp port %s: %s", self.port, exc)
        if pending:
            self._protocol.flush()
        return n

    def stop_accepting(self) -> None:
        return None  # datagrams keep arriving until close: there are no connections to drain

    def busy(self) -> bool:
        return False

    async def close(self) -> None:
        """Stop reading, then take what the kernel already holds for this socket (it was received:
        a stop does not drop it) before the socket closes."""
        if self._sock is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(self._sock.fileno())
        while self.read(READ_BURST) == READ_BURST:
            await asyncio.sleep(0)
        self.housekeeping()
        self._sock.close()
        self._sock = None

    def housekeeping(self) -> None:
        if self._sock is None or self._drops_base is None:
            return
        drops = kernel_drops(self._sock)
        if drops is not None:
            self.shared.metrics.counters["dropped"][(self.drop_reason,)] = float(drops - self._drops_base)
