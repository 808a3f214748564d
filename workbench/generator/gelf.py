"""GELF over UDP, the sender of one generator client: a datagram per message, chunked when large.

The pool (``protocols.gelf_messages``) holds a batch's GELF objects, each ended by NUL, patched
like any pool (``gelf-tcp`` sends exactly those bytes with ``tcp.TcpSender`` and no header). Here
each batch is split at its NULs (one C call) and every message becomes a datagram, compressed
first with ``compression`` zlib or gzip (per message: compressed bytes cannot be patched). A
message larger than ``max_datagram_bytes`` is cut into GELF chunks (``chunks``: magic ``0x1e
0x0f``, an 8-byte message id, the chunk's number and the count, then its bytes) so that no
datagram is larger; one that would need more than 128 chunks is dropped and counted
(``oversize_records_total``). The message id is the CRC-32 of the client id and the message's
seq (32 bits each): unique per message and the same on every run with the same seed.

GELF has no acks: sent is what the socket took (``udp_datagrams_total`` per datagram); what the
receiver lost shows in its counts, not here. A datagram the kernel refuses (ENOBUFS, ICMP
unreachable) fails its message (``failed_logs_total``); no retries.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import zlib
from collections.abc import Callable

from workbench.generator.config import GeneratorConfig
from workbench.generator.pool import Chunk
from workbench.generator.stats import ClientStats, Totals
from workbench.generator.udp import connected_udp

log = logging.getLogger(__name__)
CHUNK_MAGIC = b"\x1e\x0f"
CHUNK_HEAD_BYTES = 12  # magic, message id, number, count
MAX_CHUNKS = 128
ZLIB_LEVEL = 1
MEM_LEVEL = 2


def chunks(message: bytes, datagram_bytes: int, message_id: bytes) -> list[bytes] | None:
    """``message`` as GELF chunks of at most ``datagram_bytes`` each (None past 128 chunks)."""
    size = datagram_bytes - CHUNK_HEAD_BYTES
    count = -(-len(message) // size)
    if count > MAX_CHUNKS:
        return None
    return [
        CHUNK_MAGIC + message_id + bytes((i, count)) + message[i * size : (i + 1) * size]
        for i in range(count)
    ]


def compressor(compression: str) -> Callable[[bytes], bytes] | None:
    """zlib or gzip of one message, with small hash tables (``MEM_LEVEL``): setting up zlib's
    default state costs several times what compressing a 400-byte message does (measured: 14 µs
    against 45-90 µs for ``zlib.compress``). The window stays 32 KiB: receivers tell zlib by its
    first byte 0x78, which only that window size gives."""
    if compression == "none":
        return None
    wbits = 31 if compression == "gzip" else 15

    def compress(data: bytes) -> bytes:
        c = zlib.compressobj(ZLIB_LEVEL, zlib.DEFLATED, wbits, MEM_LEVEL)
        return c.compress(data) + c.flush()

    return compress


class GelfUdpSender:
    def __init__(self, config: GeneratorConfig, stats: ClientStats, totals: Totals,
                 endpoint: tuple[str, int]) -> None:  # fmt: skip
        self.config = config
        self.address, self.port = endpoint
        self.stats = stats
        self.totals = totals
        self.max_bytes = config.max_datagram_bytes
        self.compress = compressor(config.compression)
        self._id_high = zlib.crc32(stats.client_id.encode()).to_bytes(4, "big")
        self._warned = False
        self.sock: socket.socket | None = None

    async def send(self, chunk: Chunk) -> int:
        """Send a chunk's messages; returns how many of its logs were not sent."""
        if self.sock is None:
            self.sock = connected_udp(self.address, self.port)
        send = self.sock.send
        compress, max_bytes = self.compress, self.max_bytes
        data = chunk.data
        lost = datagrams = oversize = wire = 0
        for start, end, _, first_seq in chunk.frames:
            messages = data[start:end].split(b"\0")
            messages.pop()  # what follows the last NUL
            for i, message in enumerate(messages):
                if compress is not None:
                    message = compress(message)
                if len(message) <= max_bytes:
                    parts = [message]
                else:
                    mid = self._id_high + ((first_seq + i) & 0xFFFFFFFF).to_bytes(4, "big")
                    cut = chunks(message, max_bytes, mid)
                    if cut is None:
                        oversize += 1
                        continue
                    parts = cut
                done = 0
                try:
                    for part in parts:
                        send(part)
                        done += 1
                        wire += len(part)
                except BlockingIOError:
                    sent, ok = await self._send_slowly(parts[done:])
                    wire += sum(len(part) for part in parts[done : done + sent])
                    done += sent
                    lost += not ok
                except OSError as exc:  # ECONNREFUSED from an earlier ICMP unreachable, ENOBUFS...
                    log.debug("%s: datagram not sent: %s", self.stats.client_id, exc)
                    lost += 1
                datagrams += done
        if oversize:
            self._oversize(oversize)
        self.totals.udp_datagrams_total += datagrams
        self.totals.sent_bytes_total += wire - len(
            data
        )  # the datagrams' bytes; the generator counts the pool's
        if lost:
            self.totals.failed_logs_total += lost
            self.stats.failed_logs += lost
        return lost + oversize

    async def _send_slowly(self, parts: list[bytes]) -> tuple[int, bool]:
        """The datagrams of one message when the socket buffer is full: (sent, all of them)."""
        assert self.sock is not None
        sent = 0
        for part in parts:
            for _ in range(100):
                try:
                    self.sock.send(part)
                    sent += 1
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                except OSError as exc:
                    log.debug("%s: datagram not sent: %s", self.stats.client_id, exc)
                    return sent, False
            else:
                return sent, False
        return sent, True

    def _oversize(self, n: int) -> None:
        self.totals.oversize_records_total += n
        if not self._warned:
            self._warned = True
            log.warning("%s: GELF messages that need more than %d chunks of %d bytes are dropped and counted "
                        "(oversize_records_total)", self.stats.client_id, MAX_CHUNKS, self.max_bytes)  # fmt: skip

    async def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
