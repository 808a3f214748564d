"""OTLP/gRPC on the ingestor's TCP ports: ``LogsService/Export`` over HTTP/2 (the h2 library).

A connection that opens with the HTTP/2 client preface (``http1.sniff``; over TLS the server
offers ALPN ``h2``) is served by a ``GrpcConnection``, on the universal port and on
``--otlp-grpc-port`` alike. Each stream is one unary call: its message (the 5-byte gRPC prefix,
``grpc-encoding`` gzip or deflate undone with the same bounds as HTTP bodies) goes to the OTLP
codec, the entries are written as one batch, and only then does the stream get its
``ExportLogsServiceResponse`` and ``grpc-status: 0``. Streams of one connection run side by
side. Refusals carry the gRPC status a client expects: UNAUTHENTICATED (16) for a wrong token,
INVALID_ARGUMENT (3) for a message that does not parse, RESOURCE_EXHAUSTED (8) over a size
bound, UNIMPLEMENTED (12) for another method, UNAVAILABLE (14) when dropped under
``--overflow drop``. ``ingest_requests_total{protocol="otlp",status="grpc-N"}`` counts them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from workbench.codecs.base import MALFORMED, TOO_LARGE, RecordError
from workbench.ingestor.decoding import WorkerContext, make_batch, stored_suffix
from workbench.ingestor.http1 import HttpSetup, TooLarge, inflate
from workbench.shippers.base import HttpReply
from workbench.shippers.otlp import OtlpCodec

log = logging.getLogger("workbench.ingestor")

EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
MAX_WINDOW = 16 << 20  # the stream and connection flow-control windows (bytes), at most
MAX_FRAME = 1 << 20  # the largest HTTP/2 frame a client may send (the default is 16 KiB)
OK, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED, UNAVAILABLE, UNAUTHENTICATED = 0, 3, 8, 12, 14, 16


@dataclass
class _Call:
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)
    refused: bool = False  # answered already (over a bound): the rest of its data is dropped


class GrpcConnection:
    """One HTTP/2 connection of gRPC calls; the shape of a stream ``Session`` for ``tcp``."""

    def __init__(self, ctx: WorkerContext, setup: HttpSetup, transport: str, peer: str, host: str,
                 write: Callable[[bytes], None], close: Callable[[], None]) -> None:  # fmt: skip
        self.ctx = ctx
        self.setup = setup
        self.transport = transport
        self.peer = peer
        self.host = host
        self.write = write
        self.close = close
        self.fmt = "otlp"
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        # a whole request may arrive without waiting for WINDOW_UPDATEs (HTTP/2's 64 KiB default
        # windows made a 250 KB Export wait for four round trips through this loop), in frames
        # of up to 1 MiB instead of 16 KiB; what is buffered stays bounded by the windows
        window = min(setup.max_request_bytes + 5, MAX_WINDOW)
        self.conn.initiate_connection()
        self.conn.update_settings({  # in force once the client acknowledges them
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
            h2.settings.SettingCodes.MAX_FRAME_SIZE: MAX_FRAME,
        })  # fmt: skip
        # accepted from now on: h2 would raise its limit at the client's ACK, but checks the frames
        # of one read against the limit in force when the read began, and a client may send
        # large frames right after the ACK in the same read (gRPC's C core does: FRAME_SIZE_ERROR)
        self.conn.max_inbound_frame_size = MAX_FRAME
        self.conn.increment_flow_control_window(window)  # the connection's window, past its 64 KiB
        self.calls: dict[int, _Call] = {}
        self._flush()

    def pending_bytes(self) -> int:
        return sum(len(c.body) for c in self.calls.values())

    def feed(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.ctx.rejects.record([RecordError(0, MALFORMED, f"HTTP/2: {exc}", b"")], self.fmt, self.transport,
                                    self.peer)  # fmt: skip
            self._flush()
            self.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.calls[event.stream_id] = _Call({k: v for k, v in event.headers})  # type: ignore[misc]
            elif isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                call = self.calls.get(event.stream_id)
                if call is not None and not call.refused:
                    call.body += event.data
                    if len(call.body) > self.setup.max_request_bytes + 5:
                        call.refused = True
                        self._too_large(event.stream_id, f"message over {self.setup.max_request_bytes} bytes")
            elif isinstance(event, h2.events.StreamEnded):
                call = self.calls.get(event.stream_id)
                if call is not None and not call.refused:
                    self._call(event.stream_id, call)
            elif isinstance(event, h2.events.StreamReset):
                self.calls.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._flush()
                self.close()
                return
        self._flush()

    def eof(self) -> None:
        self.calls.clear()

    def _call(self, stream_id: int, call: _Call) -> None:
        t0 = time.perf_counter()
        headers = call.headers
        if headers.get(":path") != EXPORT:
            self._status(stream_id, UNIMPLEMENTED, f"no method {headers.get(':path')}: only {EXPORT}")
            return
        token = self.setup.auth_token
        if token is not None and headers.get("authorization", "").partition(" ")[2].strip() != token:
            self._status(stream_id, UNAUTHENTICATED, "a valid 'authorization: Bearer <token>' is required")
            return
        body = bytes(call.body)
        if len(body) < 5 or int.from_bytes(body[1:5], "big") != len(body) - 5:
            self._malformed(stream_id, body, "not one length-prefixed gRPC message")
            return
        message = body[5:]
        if body[0] == 1:
            try:
                message = inflate(
                    message, headers.get("grpc-encoding", "identity"), self.setup.max_inflated_bytes
                )
            except TooLarge as exc:
                self._too_large(stream_id, str(exc))
                return
            except ValueError as exc:
                self._malformed(stream_id, body, str(exc))
                return
        codec = self.setup.shippers.codec("otlp")
        assert isinstance(codec, OtlpCodec)
        decoded = codec.decode_protobuf(
            message, self.host, stored_suffix(time.time(), codec.name, self.transport, self.peer)
        )
        if isinstance(decoded, HttpReply):
            self._malformed(stream_id, body, "the message is not an ExportLogsServiceRequest")
            return

        def written() -> None:
            if stream_id in self.calls:
                self._answer(stream_id, codec.response(decoded, as_json=False))

        batch = make_batch(self.ctx, decoded, codec.name, self.transport, self.peer, self.host, t0, written)
        assert batch is not None
        if not self.ctx.submit(batch):
            self._status(stream_id, UNAVAILABLE, "the ingestor is over its queue bound; retry")

    def _answer(self, stream_id: int, response: bytes) -> None:
        self.calls.pop(stream_id, None)
        self.ctx.metrics.add("requests", 1, self.fmt, f"grpc-{OK}")
        try:
            self.conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc")])
            self.conn.send_data(stream_id, b"\0" + len(response).to_bytes(4, "big") + response)
            self.conn.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as exc:
            log.info("gRPC answer to %s not sent: %s", self.peer, exc)  # the client went away
        self._flush()

    def _status(self, stream_id: int, code: int, message: str) -> None:
        """A trailers-only answer with a non-zero gRPC status."""
        self.calls.pop(stream_id, None)
        self.ctx.metrics.add("requests", 1, self.fmt, f"grpc-{code}")
        try:
            self.conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc"),
                                               ("grpc-status", str(code)), ("grpc-message", _percent(message))],
                                   end_stream=True)  # fmt: skip
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as exc:
            log.info("gRPC status to %s not sent: %s", self.peer, exc)
        self._flush()

    def _malformed(self, stream_id: int, body: bytes, detail: str) -> None:
        self.ctx.rejects.record(
            [RecordError(0, MALFORMED, detail, body[:256])], self.fmt, self.transport, self.peer
        )
        self._status(stream_id, INVALID_ARGUMENT, detail)

    def _too_large(self, stream_id: int, detail: str) -> None:
        self.ctx.rejects.record([RecordError(0, TOO_LARGE, detail, b"")], self.fmt, self.transport, self.peer)
        self._status(stream_id, RESOURCE_EXHAUSTED, detail)

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.write(data)


def _percent(text: str) -> str:
    """grpc-message is percent-encoded (printable ASCII but '%' as they are)."""
    return "".join(
        c if " " <= c <= "~" and c != "%" else "".join(f"%{b:02X}" for b in c.encode()) for c in text
    )
