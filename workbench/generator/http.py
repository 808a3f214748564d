"""Senders of the shippers' protocols: HTTP/1.1 requests and OTLP/gRPC calls, each answer an ack.

A client keeps one keep-alive connection (TLS as for our streams: ``--ca``/``--insecure``; gRPC
offers ALPN ``h2``) and sends the pre-rendered requests of a chunk (``requestpool``) one after
another, each once the answer to the one before is in: the ingestor answers a request only
once its records are written, so the answer is the acknowledgement.

Accounting, per request (its records all share its fate):

* a success (HTTP 2xx, ``grpc-status: 0``): sent and acked; records the answer still names as
  rejected (OTLP ``partial_success``, bulk items with an error) are failed instead;
* a refusal (any other status): failed, counted under its status in ``responses``
  (``http-401``, ``grpc-16``); 429, 502, 503, 504 and gRPC UNAVAILABLE are retried first;
* a connection that fails or closes before the answer: reconnect with backoff and send the
  request again (``retries``); after that it is failed. As in ack mode, a request whose answer
  was lost with the connection may be stored twice.

A protocol whose bodies are compressed (``loki-protobuf``'s snappy, ``compression: gzip``) has
its requests finished per send (``requestpool.finisher``); ``sent_bytes_total`` counts what went
on the wire. ``close`` shuts TLS down cleanly (close_notify, then read to EOF).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from workbench.errors import ConfigError, WorkbenchError
from workbench.generator.config import GeneratorConfig
from workbench.generator.pool import Chunk
from workbench.generator.protocols import SPECS, rejected_in
from workbench.generator.requestpool import finisher
from workbench.generator.stats import ClientStats, Totals

log = logging.getLogger(__name__)
RETRY_HTTP = frozenset({429, 502, 503, 504})
RETRY_GRPC = frozenset({14})  # UNAVAILABLE (the ingestor over its queue bound under --overflow drop)
MAX_HEAD_BYTES = 64 << 10


class Refused(WorkbenchError):
    """The receiver answered with a status that is not a success."""

    def __init__(self, label: str, retry: bool) -> None:
        super().__init__(label)
        self.label = label
        self.retry = retry


class _Client(asyncio.Protocol):
    """What both connection kinds share: the transport, a future per answer, close and drain."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.alive = False
        self.closed: asyncio.Future[None] = loop.create_future()
        self.waiter: asyncio.Future[tuple[str, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.alive = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if not self.closed.done():
            self.closed.set_result(None)
        self._fail(ConnectionResetError("connection closed before the answer"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _answer(self, label: str, body: bytes) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((label, body))

    async def exchange(self, request: bytes, timeout: float) -> tuple[str, bytes]:
        """Send one request; its answer's (status label, body). ``Refused`` for a non-success."""
        raise NotImplementedError


class Http1Client(_Client):
    """One HTTP/1.1 keep-alive connection; responses read with Content-Length or chunked."""

    def __init__(self, success: tuple[int, ...]) -> None:
        super().__init__()
        self.success = success
        self.buf = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.buf:
            parsed = _parse_response(self.buf)
            if parsed is None:
                if len(self.buf) > MAX_HEAD_BYTES and b"\r\n\r\n" not in self.buf:
                    self._fail(ConnectionError("an HTTP answer head over 64 KiB"))
                    if self.transport is not None:
                        self.transport.abort()
                return
            status, keep, body, used = parsed
            del self.buf[:used]
            if 100 <= status < 200:
                continue
            if not keep:
                self.alive = False
            self._answer(f"http-{status}", body)

    async def exchange(self, request: bytes, timeout: float) -> tuple[str, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        label, body = await asyncio.wait_for(self.waiter, timeout)
        status = int(label[5:])
        if status not in self.success and not 200 <= status < 300:
            raise Refused(label, status in RETRY_HTTP)
        return label, body


def _parse_response(buf: bytearray) -> tuple[int, bool, bytes, int] | None:
    """(status, keep-alive, body, bytes used) of the first complete response in ``buf``."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buf[:end]).split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ConnectionError(f"not an HTTP/1.1 answer: {lines[0][:80]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    keep = headers.get(b"connection") != b"close" and parts[0] != b"HTTP/1.0"
    start = end + 4
    if headers.get(b"transfer-encoding", b"").endswith(b"chunked"):
        pos, body = start, bytearray()
        while True:
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                return None
            size = int(bytes(buf[pos:nl]).split(b";")[0], 16)
            if len(buf) < nl + 2 + size + 2:
                return None
            body += buf[nl + 2 : nl + 2 + size]
            pos = nl + 2 + size + 2
            if size == 0:
                return status, keep, bytes(body), pos
    length = int(headers.get(b"content-length", b"0") or 0)
    if status in (204, 304) or 100 <= status < 200:
        length = 0
    if len(buf) < start + length:
        return None
    return status, keep, bytes(buf[start : start + length]), start + length


class GrpcClient(_Client):
    """One HTTP/2 connection (the h2 library) of unary ``LogsService/Export`` calls, one at a time."""

    def __init__(self, authority: str, tls: bool, token: str | None, encoding: str | None = None) -> None:
        import h2.config
        import h2.connection

        super().__init__()
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.headers = [(":method", "POST"), (":scheme", "https" if tls else "http"),
                        (":path", SPECS["otlp-grpc"].path), (":authority", authority),
                        ("content-type", "application/grpc"), ("te", "trailers"),
                        ("user-agent", "workbench-generator")]  # fmt: skip
        if token:
            self.headers.append(("authorization", f"Bearer {token}"))
        if encoding:  # the messages' compressed flag is set (``requestpool.finisher``)
            self.headers.append(("grpc-encoding", encoding))
        self.stream_id = 0
        self.status: str | None = None
        self.body = bytearray()
        self.window = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.conn.initiate_connection()
        self._flush()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        import h2.events
        import h2.exceptions

        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._fail(ConnectionError(f"HTTP/2: {exc}"))
            if self.transport is not None:
                self.transport.abort()
            return
        for event in events:
            if isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                self.window.set()
            elif isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if event.stream_id == self.stream_id:
                    self.body += event.data
            elif isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                if event.stream_id == self.stream_id:
                    for name, value in event.headers or ():
                        if name in ("grpc-status", b"grpc-status"):
                            self.status = value.decode() if isinstance(value, bytes) else str(value)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == self.stream_id:
                self._answer(
                    f"grpc-{self.status if self.status is not None else 'missing'}", bytes(self.body[5:])
                )
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == self.stream_id:
                self._fail(ConnectionResetError(f"stream reset (error code {event.error_code})"))
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.alive = False
                self._fail(ConnectionResetError("the server ended the HTTP/2 connection (GOAWAY)"))
        self._flush()

    async def exchange(self, request: bytes, timeout: float) -> tuple[str, bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.waiter = loop.create_future()
        self.status, self.body = None, bytearray()
        sid = self.stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, self.headers)
        view = memoryview(request)
        pos = 0
        while pos < len(view):  # within the peer's flow-control window, in frames it accepts
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if room <= 0:
                self._flush()
                self.window.clear()
                waiter: asyncio.Future[Any] = asyncio.ensure_future(self.window.wait())
                done, _ = await asyncio.wait([waiter, self.waiter], timeout=max(0.0, deadline - loop.time()),
                                             return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                waiter.cancel()
                if self.waiter.done():
                    break  # answered (a refusal) or failed before the whole message went
                if not done:
                    raise TimeoutError("no flow-control window from the server")
                continue
            self.conn.send_data(sid, bytes(view[pos : pos + room]), end_stream=pos + room >= len(view))
            pos += room
        self._flush()
        label, body = await asyncio.wait_for(self.waiter, max(0.0, deadline - loop.time()))
        if label != "grpc-0":
            code = label[5:]
            raise Refused(label, code.isdigit() and int(code) in RETRY_GRPC)
        return label, body


class RequestSender:
    """One generator client sending a protocol's requests over one keep-alive connection."""

    def __init__(self, config: GeneratorConfig, stats: ClientStats, totals: Totals, responses: dict[str, int],
                 ssl_context: ssl.SSLContext | None, endpoint: tuple[str, int]) -> None:  # fmt: skip
        assert config.protocol is not None
        self.config = config
        self.protocol = config.protocol
        self.spec = SPECS[config.protocol]
        self.stats = stats
        self.totals = totals
        self.responses = responses
        self.address, self.port = endpoint
        self.ssl = ssl_context
        self.conn: _Client | None = None
        self._connections = 0
        self.finish = finisher(self.spec, config.compression, self.address, self.port, config.auth_token)

    def _factory(self) -> Callable[[], _Client]:
        if self.spec.grpc:
            encoding = "gzip" if self.config.compression == "gzip" else None
            return lambda: GrpcClient(
                f"{self.address}:{self.port}", self.ssl is not None, self.config.auth_token, encoding
            )
        return lambda: Http1Client(self.spec.success)

    async def _connect(self) -> _Client:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(self._factory(), self.address, self.port, ssl=self.ssl,
                                       server_hostname=self.address if self.ssl is not None else None),
                self.config.connect_timeout_seconds,
            )  # fmt: skip
        except ssl.SSLCertVerificationError as exc:
            raise ConfigError(
                f"TLS certificate of {self.address}:{self.port} not trusted ({exc.verify_message}); "
                "give --ca FILE (e.g. the receiver's self-signed cert) or --insecure"
            ) from None
        self._connections += 1
        if self._connections > 1:
            self.stats.reconnects += 1
            self.totals.reconnects_total += 1
        self.conn = proto
        return proto

    async def send(self, chunk: Chunk) -> int:
        """Send every request of the chunk; returns how many of its logs failed (counted here)."""
        failed = 0
        for start, end, logs, _seq in chunk.frames:
            request = chunk.data[start:end]
            if self.finish is not None:
                request = self.finish(request)
                self.totals.sent_bytes_total += len(request) - (
                    end - start
                )  # the generator counts the pool's
            failed += await self._request(request, logs)
        return failed

    async def _request(self, request: bytes, logs: int) -> int:
        cfg = self.config
        delay = cfg.retry_backoff_seconds
        label = "unsent"
        for attempt in range(cfg.retries + 1):
            if attempt:
                self.totals.retries_total += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            try:
                conn = self.conn if self.conn is not None and self.conn.alive else await self._connect()
                label, body = await conn.exchange(request, cfg.request_timeout_seconds)
            except Refused as exc:
                label = exc.label
                self._count(label)
                if exc.retry:
                    continue
                break
            except (OSError, TimeoutError, ssl.SSLError, ConnectionError) as exc:
                log.debug("%s: request attempt %d failed: %s", self.stats.client_id, attempt + 1, exc)
                label = "connection"
                self._drop()
                continue
            self._count(label)
            rejected = min(logs, rejected_in(self.protocol, body))
            self.stats.acked_logs += logs - rejected
            self.totals.acked_logs_total += logs - rejected
            if rejected:
                self._failed(rejected, "rejected")
            return rejected
        self._failed(logs, label)
        return logs

    def _count(self, label: str) -> None:
        self.responses[label] = self.responses.get(label, 0) + 1
        self.totals.requests_total += 1

    def _failed(self, logs: int, label: str) -> None:
        log.debug("%s: %d logs failed (%s)", self.stats.client_id, logs, label)
        self.stats.failed_logs += logs
        self.totals.failed_logs_total += logs
        self.totals.failed_batches_total += 1

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.abort()

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None or conn.transport is None or not conn.alive:
            return
        if isinstance(conn, GrpcClient):
            conn.conn.close_connection()
            conn._flush()
        conn.transport.close()  # TLS: close_notify, then the peer's (read to EOF)
        try:
            await asyncio.wait_for(asyncio.shield(conn.closed), self.config.drain_timeout_seconds or 1.0)
        except TimeoutError:
            conn.transport.abort()
