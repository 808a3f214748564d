"""TCP connections to workers: the parent accepts each one and hands it to the least busy worker.

With one SO_REUSEPORT listener per worker the kernel hashes every new connection to a worker,
blind to how busy each is. A log pipeline often has a few long-lived connections (two agents,
two relays): with 2 connections and 2 workers both land on the same worker half of the time,
and one core idles while the other is saturated (measured in ``bench/ingest.py``: the 2-worker
run stored less than the 1-worker one). So with worker processes the parent owns the TCP
listening socket, accepts, and passes the accepted socket (``SCM_RIGHTS`` over a Unix
``SOCK_SEQPACKET`` pair per worker) to the worker with the fewest open connections: the count a
worker last reported plus what was handed to it since. The TLS handshake, decoding and writing
stay in the worker; the parent only accepts, so this scales with the number of workers. UDP keeps
SO_REUSEPORT (a datagram stands alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

log = logging.getLogger("workbench.ingestor")
HANDOFF_TIMEOUT_SECONDS = 1.0  # a worker that cannot take a socket this long is skipped


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def handoff_pair() -> tuple[socket.socket, socket.socket]:
    """(parent end, worker end) of the channel that carries accepted sockets."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent.settimeout(HANDOFF_TIMEOUT_SECONDS)
    return parent, child


class Dispatcher:
    """Accepts on the parent's listening sockets (the universal port first, then the shippers'
    standard ports) and hands each connection to a worker."""

    def __init__(self, *socks: socket.socket) -> None:
        self.socks = list(socks)
        self.channels: dict[int, socket.socket] = {}
        self.reported: dict[int, int] = {}  # open connections a worker last reported
        self.handed: dict[int, int] = {}  # handed to it since that report
        self.dispatched = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        """The universal port."""
        return int(self.socks[0].getsockname()[1])

    def port_of(self, index: int) -> int:
        return int(self.socks[index].getsockname()[1])

    def add(self, worker_id: int, channel: socket.socket) -> None:
        self.remove(worker_id)
        self.channels[worker_id] = channel
        self.reported[worker_id] = self.handed[worker_id] = 0

    def remove(self, worker_id: int) -> None:
        channel = self.channels.pop(worker_id, None)
        if channel is not None:
            channel.close()
        self.reported.pop(worker_id, None)
        self.handed.pop(worker_id, None)

    def report(self, worker_id: int, open_connections: int) -> None:
        if worker_id in self.channels:
            self.reported[worker_id] = open_connections
            self.handed[worker_id] = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sock in self.socks:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(64):  # a burst of connections, then back to the loop
            try:
                conn, _addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: the connection waits in the backlog
                log.error("accept failed: %s", exc)
                return
            with conn:
                self._hand_over(conn)

    def _hand_over(self, conn: socket.socket) -> None:
        load: Callable[[int], tuple[int, int]] = lambda w: (self.reported[w] + self.handed[w], w)  # noqa: E731
        for worker_id in sorted(self.channels, key=load):
            try:
                socket.send_fds(self.channels[worker_id], [b"c"], [conn.fileno()])
            except OSError as exc:  # a worker that died or is stuck: the next one takes it
                log.warning("worker %d did not take a connection (%s)", worker_id, exc)
                continue
            self.handed[worker_id] += 1
            self.dispatched += 1
            return
        log.error("no worker to take a connection from %s; closing it", _peer(conn))

    def close(self) -> None:
        """Stop accepting (the listening socket closes); the channels close with ``remove``."""
        for sock in self.socks:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
            sock.close()
        for worker_id in list(self.channels):
            self.remove(worker_id)


def _peer(conn: socket.socket) -> str:
    try:
        return str(conn.getpeername())
    except OSError:
        return "?"


def receive(channel: socket.socket) -> list[socket.socket] | None:
    """Sockets waiting on a worker's end of the channel ([] when none; None when the parent is gone)."""
    out: list[socket.socket] = []
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(channel, 16, 16)
        except (BlockingIOError, InterruptedError):
            return out
        if not msg and not fds:
            return out or None
        out.extend(socket.socket(fileno=fd) for fd in fds)
