"""The sending side of a connection to the ingestion port: flow control and ack lines.

Shared by the generator's TCP sender and the collector's forwarder. The protocol writes nothing
by itself; its owner writes through ``transport``, awaits ``drain()`` (paused at
``HIGH_WATER_BYTES``), and is told of every cumulative ``ACK <n>`` (``on_ack``) and of the end of
the connection (``on_lost``). A reply that is not an ack line aborts the connection.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Iterator
from typing import Protocol, TypeVar, cast

from workbench import wire
from workbench.errors import FramingError

log = logging.getLogger("workbench")
HIGH_WATER_BYTES = 4 << 20


class Sent(Protocol):
    conn_no: int  # its number among the frames of its connection (what an ``ACK <n>`` counts)


F = TypeVar("F", bound=Sent)


def take_acked(unacked: collections.deque[F], n: int) -> Iterator[F]:
    """The frames ``ACK <n>`` confirms, taken off the front of the window in order."""
    while unacked and unacked[0].conn_no <= n:
        yield unacked.popleft()


class AckOwner(Protocol):
    def on_ack(self, conn: AckClientProtocol, frames_done: int) -> None: ...

    def on_lost(self, conn: AckClientProtocol) -> None: ...


class AckClientProtocol(asyncio.Protocol):
    def __init__(self, owner: AckOwner, label: str) -> None:
        self.owner = owner
        self.label = label
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._resume: asyncio.Future[None] | None = None
        self._acks = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=HIGH_WATER_BYTES)

    def data_received(self, data: bytes) -> None:
        try:
            n, self._acks = wire.parse_acks(self._acks + data)
        except FramingError as exc:
            log.warning("%s: %s; closing the connection", self.label, exc)
            if self.transport is not None:
                self.transport.abort()
            return
        if n is not None:
            self.owner.on_ack(self, n)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)
        self.owner.on_lost(self)

    def pause_writing(self) -> None:
        self._resume = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)
        self._resume = None

    @property
    def alive(self) -> bool:
        return self.transport is not None and not self.closed.done() and not self.transport.is_closing()

    async def drain(self) -> None:
        if self._resume is not None:
            await self._resume
