"""Fluent's Forward protocol v1 on the ingestor's TCP ports, and its UDP heartbeat.

A connection whose first bytes are a MessagePack array of 2 to 4 elements with a string first
(``http1.sniff``: fixarray 0x92–0x94, or array16 0xdc with such a count, then a str marker) is
served by a ``ForwardConnection``, on the universal port and on ``--forward-port`` alike (TLS or
not, as the port). Each message's events go to the write pipeline as one batch
(``workbench.shippers.forward`` maps them); a message with the ``chunk`` option gets
``{"ack": chunk}`` only once its batch is written (the ack-mode promise). A (Compressed)PackedForward
stream is written to stored lines by the compiled transcoder when it takes it
(``ForwardCodec.stored``), else unpacked and mapped in Python; a message refused
whole (not a Forward message, entries over a bound) is counted and acked too, so that a sender
does not resend it forever, as rejected events are. Under
``--overflow drop`` a message that asked for an ack and was dropped gets no ack and its
connection is closed, so the sender resends it; nothing of it is stored.

With ``--forward-shared-key`` the server speaks first on ``--forward-port``: HELO (a nonce, no
user auth), the client's PING proves the key (SHA-512 of salt, hostname, nonce and key), the
server answers PONG with its own proof, and only then are events read. A wrong key gets a PONG
saying so and the connection is closed. A client cannot get HELO on the universal port (it waits
for the server to speak while the server waits to detect it), so with a shared key set, Forward
events that arrive without the handshake are refused there.

The heartbeat: a UDP datagram to the Forward port is answered with one byte ``0x00``
(``HeartbeatListener``, one socket per worker with SO_REUSEPORT).

Counted: ``ingest_requests_total{protocol="forward",status}`` per message (``ok``,
``dropped``, ``malformed``, ``too_large``, ``unauthorized``); rejected events in
``ingest_rejected_total{reason,format="forward"}``. A stream that is not MessagePack cannot be
resynchronised: the connection is closed and counted ``framing``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack

from workbench.codecs.base import TOO_LARGE, RecordError
from workbench.errors import FramingError
from workbench.ingestor.decoding import WorkerContext, make_batch, stored_suffix
from workbench.ingestor.udp import udp_socket
from workbench.shippers.forward import ForwardCodec, ForwardError, decode_event_time, parse_message

if TYPE_CHECKING:
    from workbench.ingestor.listeners import ListenerContext

log = logging.getLogger("workbench.ingestor")

# An ack is sent no sooner than this after its message arrived. Fluent's Node.js logger listens
# for an ack only once its write of the message has completed (sender.js ``_doWrite``); an ack
# that overtakes that callback is emitted to no listener and the sender waits for it forever.
# The compiled transcoder acks a 400-entry message in well under a millisecond over TLS, which
# lost about one ack in two; senders that keep several messages unacked (Fluent Bit, Fluentd,
# the generator) do not wait on this.
ACK_FLOOR_SECONDS = 0.005


@dataclass
class ForwardSetup:
    """What every Forward connection of one worker shares."""

    codec: ForwardCodec
    max_message_bytes: int  # one message as received (``max_request_bytes``)
    max_inflated_bytes: int  # its gzipped entries inflated
    shared_key: str | None = None
    port: int | None = None  # --forward-port: where the server says HELO first
    hostname: str = socket.gethostname()

    @classmethod
    def from_config(cls, config: Any, port: int | None) -> ForwardSetup:
        return cls(ForwardCodec(config.default_service), config.max_request_bytes, config.max_inflated_bytes,
                   config.forward_shared_key, port)  # fmt: skip


def _digest(*parts: bytes) -> str:
    h = hashlib.sha512()
    for part in parts:
        h.update(part)
    return h.hexdigest()


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


class ForwardConnection:
    """One Forward connection; the shape of a stream ``Session`` for ``tcp.IngestProtocol``."""

    fmt = "forward"

    def __init__(self, ctx: WorkerContext, setup: ForwardSetup, transport: str, peer: str, host: str,
                 write: Callable[[bytes], None], close: Callable[[], None], handshake: bool = False) -> None:  # fmt: skip
        self.ctx = ctx
        self.setup = setup
        self.transport = transport
        self.peer = peer
        self.host = host
        self.write = write
        self.close = close
        self._unpacker = msgpack.Unpacker(max_buffer_size=setup.max_message_bytes)
        self._buffer = bytearray()  # what the unpacker holds, to take each message's bytes from
        self._offset = 0  # the unpacker's position where ``_buffer`` starts
        self._closed = False
        self._nonce: bytes | None = None  # set from HELO until the client's PING proves the key
        self._authenticated = False
        if handshake and setup.shared_key is not None:
            self._nonce = os.urandom(16)
            self.write(msgpack.packb(["HELO", {"nonce": self._nonce, "auth": b"", "keepalive": True}]))

    def pending_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            self._unpacker.feed(data)
        except msgpack.BufferFull:
            self._refuse(TOO_LARGE, f"a Forward message over {self.setup.max_message_bytes} bytes")
            return
        self._buffer += data
        messages: list[bytes] = []
        while True:
            try:
                self._unpacker.skip()
            except msgpack.OutOfData:
                break
            except (ValueError, msgpack.UnpackException) as exc:
                self._messages(messages)
                self._closed = True
                raise FramingError(f"the Forward stream is not MessagePack: {exc}") from None
            end = self._unpacker.tell() - self._offset
            messages.append(bytes(self._buffer[:end]))
            del self._buffer[:end]
            self._offset += end
        self._messages(messages)

    def eof(self) -> None:
        self._closed = True

    def _messages(self, raws: list[bytes]) -> None:
        for raw in raws:
            if self._closed:
                return
            try:
                obj = msgpack.unpackb(raw, ext_hook=decode_event_time, strict_map_key=False)
            except UnicodeDecodeError:  # text that is not UTF-8: kept as bytes, checked per record
                obj = msgpack.unpackb(raw, raw=True, ext_hook=decode_event_time, strict_map_key=False)
            if self._nonce is not None:
                self._ping(obj)
                continue
            self._message(obj, raw)

    def _message(self, obj: Any, raw: bytes) -> None:
        t0 = time.perf_counter()
        if self.setup.shared_key is not None and not self._authenticated:
            self._status("unauthorized")
            log.warning("closing Forward connection from %s: events without the shared-key handshake "
                        "(send them to --forward-port %s)", self.peer, self.setup.port)  # fmt: skip
            self._closed = True
            self.close()
            return
        codec = self.setup.codec
        limit = self.setup.max_inflated_bytes
        try:
            message = parse_message(obj, limit, defer=codec.fast)
            # a packed stream's stored lines written by the transcoder (with the batch's fields)
            end = stored_suffix(time.time(), self.fmt, self.transport, self.peer) if codec.fast else b"}\n"
            decoded = codec.stored(message, self.host, limit, end)
        except ForwardError as exc:
            self.ctx.rejects.record([RecordError(0, exc.reason, exc.detail, raw[:512])], self.fmt, self.transport,
                                    self.peer)  # fmt: skip
            self._status(exc.reason)
            option = obj[-1] if isinstance(obj, (list, tuple)) and obj and isinstance(obj[-1], dict) else {}
            if isinstance(option.get("chunk"), str):  # refused and counted, as a rejected event is: acked
                self.write(msgpack.packb({"ack": option["chunk"]}))
            return
        chunk = message.chunk
        on_written: Callable[[], None] | None = None
        if chunk is not None:
            received = time.monotonic()
            on_written = lambda: self._ack(chunk, received)  # noqa: E731
        batch = make_batch(self.ctx, decoded, self.fmt, self.transport, self.peer, self.host, t0, on_written)
        if batch is None:  # nothing valid and no ack asked for: counted in make_batch
            self._status("ok")
            return
        if self.ctx.submit(batch):
            if on_written is None:
                self._status("ok")
            return
        self._status("dropped")
        if chunk is not None:  # no ack for what was not stored: the sender resends it after reconnecting
            self._closed = True
            self.close()

    def _ack(self, chunk: str, received: float) -> None:
        self._status("ok")
        wait = received + ACK_FLOOR_SECONDS - time.monotonic()
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, self.write, msgpack.packb({"ack": chunk}))
        else:
            self.write(msgpack.packb({"ack": chunk}))

    def _ping(self, obj: Any) -> None:
        """The client's PING: ``["PING", hostname, salt, hexdigest, username, password_digest]``."""
        assert self._nonce is not None and self.setup.shared_key is not None
        key = self.setup.shared_key.encode()
        if not isinstance(obj, (list, tuple)) or len(obj) < 4 or _bytes(obj[0]) != b"PING":
            self._pong_fail("the handshake expects PING")
            return
        hostname, salt, proof = _bytes(obj[1]), _bytes(obj[2]), _bytes(obj[3]).decode("ascii", "replace")
        if proof != _digest(salt, hostname, self._nonce, key):
            self._pong_fail("shared_key mismatch")
            return
        me = self.setup.hostname.encode()
        self.write(
            msgpack.packb(["PONG", True, "", self.setup.hostname, _digest(salt, me, self._nonce, key)])
        )
        self._nonce = None
        self._authenticated = True

    def _pong_fail(self, reason: str) -> None:
        self._status("unauthorized")
        log.warning("closing Forward connection from %s: %s", self.peer, reason)
        self.write(msgpack.packb(["PONG", False, reason, self.setup.hostname, ""]))
        self._closed = True
        self.close()

    def _refuse(self, reason: str, detail: str) -> None:
        self.ctx.rejects.record([RecordError(0, reason, detail, b"")], self.fmt, self.transport, self.peer)
        self._status(reason)
        log.warning("closing Forward connection from %s: %s", self.peer, detail)
        self._closed = True
        self.close()

    def _status(self, status: str) -> None:
        self.ctx.metrics.add("requests", 1, self.fmt, status)


class HeartbeatProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.transport is not None:
            self.transport.sendto(b"\0", addr)

    def error_received(self, exc: Exception) -> None:
        pass


class HeartbeatListener:
    """The Forward heartbeat: UDP on the Forward port, each datagram answered with ``0x00``."""

    kind = "forward_heartbeat"

    def __init__(self, shared: ListenerContext) -> None:
        self.shared = shared
        self.port = shared.ports[self.kind]
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        assert self.port is not None
        sock = udp_socket(self.shared.config.host, self.port)
        self._transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            HeartbeatProtocol, sock=sock
        )

    def stop_accepting(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def busy(self) -> bool:
        return False

    async def close(self) -> None:
        self.stop_accepting()

    def housekeeping(self) -> None:
        return None
