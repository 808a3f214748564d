"""HTTP/1.1 on the ingestor's TCP ports: the shippers' protocols (``workbench.shippers``).

A connection whose first line is an HTTP/1.1 request line (``sniff``) is served by an
``HttpConnection`` instead of a stream ``Session``, on the universal port and on the standard
ports alike (every route is served on every port). h11 parses; per request this module checks the
route, the token (``auth_token``: ``<scheme> <token>`` in ``Authorization``, the scheme the
protocol's, ``Bearer`` accepted by all), the body size on the wire (``max_request_bytes``) and
inflated (``max_inflated_bytes``, for ``Content-Encoding`` gzip, deflate and zstd), then hands
the body to the protocol's codec. Its entries go to the write pipeline as one batch, and the
answer is sent only once that batch is written (or the batch is refused under ``--overflow drop``:
then the protocol's busy answer, 503 or 429, and nothing was stored). A health or readiness route
(``open_route``) needs no token. Requests on one connection are answered in order, one at a
time; a pipelined next request waits in h11's buffer.

Counted: ``ingest_requests_total{protocol,status}`` for every answer; records a codec rejects,
and bodies over a limit (413), in ``ingest_rejected_total`` with the protocol as ``format``.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11

from workbench.codecs.base import MALFORMED, TOO_LARGE, RecordError
from workbench.errors import WorkbenchError
from workbench.ingestor.decoding import WorkerContext, make_batch, stored_suffix
from workbench.shippers.base import HttpReply, HttpRequest, ShipperCodec

log = logging.getLogger("workbench.ingestor")

_METHODS = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH")
_REQUEST_LINE = re.compile(rb"(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) [^ \r\n]+ HTTP/1\.[01]\r?")
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_MAX_SNIFF = 8192
_MAX_GELF_SNIFF = 1 << 20  # a first GELF message may be long; JSON lines have their newline by then
_MSGPACK_STR = frozenset([*range(0xA0, 0xC0), 0xD9, 0xDA, 0xDB])  # fixstr, str8, str16, str32
LINGER_BYTES = 64 << 20  # of a refused body, read and dropped so the client sees its 413


def sniff(head: bytes) -> str | None:
    """What a connection's first bytes are: "http1" (a request line), "h2" (the HTTP/2
    preface), "forward" (a MessagePack array of 2–4 elements, a string first: Fluent Forward),
    "gelf" (a JSON object ended by NUL: GELF over TCP), "stream" (anything else: our formats),
    or None while more bytes are needed.

    A raw log line that merely starts with ``GET /path`` is a stream: an HTTP request line ends
    with ``HTTP/1.x`` and its line end right after. Forward's first bytes (0x92–0x94, or 0xdc
    0x00 0x02–0x04) never start UTF-8 text and none of our formats opens with them. A JSON line
    cannot hold a raw NUL (JSON escapes control characters), so a ``{`` whose first record ends
    with NUL before any newline is GELF, and one with a newline first is our JSON lines."""
    first = head[:1]
    if first and 0x92 <= first[0] <= 0x94:
        return None if len(head) < 2 else "forward" if head[1] in _MSGPACK_STR else "stream"
    if first == b"\xdc":
        if len(head) < 4:
            return None
        return "forward" if head[1] == 0 and 2 <= head[2] <= 4 and head[3] in _MSGPACK_STR else "stream"
    if first == b"{":
        nul, nl = head.find(b"\0"), head.find(b"\n")
        if nul >= 0 and (nl < 0 or nul < nl):
            return "gelf"
        return None if nl < 0 and len(head) < _MAX_GELF_SNIFF else "stream"
    if head.startswith(H2_PREFACE[: len(head)]):
        return "h2" if len(head) >= len(H2_PREFACE) else None
    if head[:1] not in b"GHPDO" or not head:
        return "stream"
    nl = head.find(b"\n", 0, _MAX_SNIFF)
    if nl < 0:
        if len(head) >= _MAX_SNIFF:
            return "stream"
        word = head.split(b" ", 1)[0]
        could_be = any(m.startswith(word) if b" " not in head else m == word for m in _METHODS)
        return None if could_be else "stream"
    return "http1" if _REQUEST_LINE.fullmatch(head[:nl]) else "stream"


class Shippers:
    """One worker's protocol codecs, built on first use, and the route table of them all."""

    def __init__(self, default_service: str, worker_id: int, max_inflated_bytes: int = 64 << 20) -> None:
        self.default_service = default_service
        self.worker_id = worker_id
        self.max_inflated_bytes = max_inflated_bytes
        self._codecs: list[ShipperCodec] | None = None

    def codecs(self) -> list[ShipperCodec]:
        if self._codecs is None:
            from workbench.formats import PROTOCOLS, protocol_class  # light, but needed only here

            self._codecs = [protocol_class(name)(self.default_service, self.worker_id) for name in PROTOCOLS]
            for codec in self._codecs:
                codec.max_inflated_bytes = self.max_inflated_bytes
        return self._codecs

    def codec(self, name: str) -> ShipperCodec:
        return next(c for c in self.codecs() if c.name == name)

    def methods(self, path: str) -> set[str]:
        """The methods some route serves at a path."""
        return {r.method for c in self.codecs() for r in c.routes if r.match(r.method, path) is not None}

    def route(self, method: str, path: str) -> tuple[ShipperCodec, str, dict[str, str]] | None:
        for codec in self.codecs():
            for route in codec.routes:
                params = route.match(method, path)
                if params is not None:
                    return codec, route.action, params
        return None


@dataclass
class HttpSetup:
    """What every HTTP connection of one worker shares: the codecs and the limits."""

    shippers: Shippers
    max_request_bytes: int  # a body as received
    max_inflated_bytes: int  # a body after Content-Encoding is undone
    auth_token: str | None

    @classmethod
    def from_config(cls, config: Any, worker_id: int) -> HttpSetup:
        return cls(Shippers(config.default_service, worker_id, config.max_inflated_bytes), config.max_request_bytes,
                   config.max_inflated_bytes, config.auth_token)  # fmt: skip


class TooLarge(WorkbenchError):
    """A body that inflates past its bound."""


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """A body with its Content-Encoding undone, never more than ``limit`` bytes (``TooLarge``);
    ``ValueError`` for an encoding we do not know or bytes that do not decompress."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip", "deflate"):
        # gzip: wbits 31; deflate: zlib-wrapped (RFC 9110), some senders send it raw: try both
        attempts = (31,) if encoding != "deflate" else (15, -15)
        for wbits in attempts:
            d = zlib.decompressobj(wbits)
            try:
                out = d.decompress(body, limit + 1)
            except zlib.error as exc:
                if wbits == attempts[-1]:
                    raise ValueError(f"the {encoding} body does not decompress: {exc}") from None
                continue
            if len(out) > limit or d.unconsumed_tail:
                raise TooLarge(f"the {encoding} body inflates to more than {limit} bytes")
            return out
    if encoding == "zstd":
        import zstandard

        try:
            reader = zstandard.ZstdDecompressor().stream_reader(body)
            out = reader.read(limit + 1)
        except zstandard.ZstdError as exc:
            raise ValueError(f"the zstd body does not decompress: {exc}") from None
        if len(out) > limit:
            raise TooLarge(f"the zstd body inflates to more than {limit} bytes")
        return out
    raise ValueError(f"unsupported Content-Encoding {encoding!r} (gzip, deflate, zstd or identity)")


class HttpConnection:
    """One HTTP/1.1 connection: the same shape as a stream ``Session`` for ``tcp.IngestProtocol``
    (``feed``, ``eof``, ``fmt``, ``pending_bytes``)."""

    def __init__(self, ctx: WorkerContext, setup: HttpSetup, transport: str, peer: str, host: str,
                 write: Callable[[bytes], None], close: Callable[[], None]) -> None:  # fmt: skip
        self.ctx = ctx
        self.shippers = setup.shippers
        self.limits = setup
        self.transport = transport
        self.peer = peer
        self.host = host
        self.write = write
        self.close = close
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=16 << 10)
        self.fmt = "http"  # the protocol of the request being read (metrics label)
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._refused: HttpReply | None = None  # answered before the body is read (413)
        self._discarded = 0  # bytes of a refused body read and dropped since
        self._waiting = False  # an answer is due once its batch is written

    def pending_bytes(self) -> int:
        return len(self._body) + len(self.conn.trailing_data[0])

    def feed(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._pump()

    def eof(self) -> None:
        self.conn.receive_data(b"")
        self._pump()

    def _pump(self) -> None:
        while not self._waiting:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._protocol_error(exc)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                if len(self.conn.trailing_data[0]) > self.limits.max_request_bytes:
                    self.close()  # a client that pipelines more than a request's worth: not read further
                return
            if isinstance(event, h11.Request):
                self._start(event)
            elif isinstance(event, h11.Data):
                if self._refused is None:
                    self._body += event.data
                    if len(self._body) > self.limits.max_request_bytes:
                        self._refuse_large(f"request body over {self.limits.max_request_bytes} bytes")
                else:
                    self._discarded += len(event.data)
                    if self._discarded > LINGER_BYTES:
                        self.close()
                        return
            elif isinstance(event, h11.EndOfMessage):
                if self._refused is not None:  # the refused body is read to its end: now close
                    self.close()
                    return
                self._complete()
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _start(self, request: h11.Request) -> None:
        self._request = request
        self._body = bytearray()
        self._refused = None
        self._discarded = 0
        length = _header(request.headers, b"content-length")
        if length.isdigit() and int(length) > self.limits.max_request_bytes:
            self._refuse_large(f"request body of {length} bytes is over {self.limits.max_request_bytes}")
        elif self.conn.they_are_waiting_for_100_continue:
            self._send_raw(h11.InformationalResponse(status_code=100, headers=[]))

    def _refuse_large(self, detail: str) -> None:
        """Answer 413 now; the rest of the body is read and dropped (up to ``LINGER_BYTES``), then
        the connection closes: a client still writing its body when the answer comes would
        otherwise see a reset instead of the 413."""
        assert self._request is not None
        target = self._request.target.decode("latin-1")
        found = self.shippers.route(self._request.method.decode("ascii", "replace"), target.split("?", 1)[0])
        codec = found[0] if found else None
        self.fmt = codec.name if codec else "http"
        self.ctx.rejects.record([RecordError(0, TOO_LARGE, detail, b"")], self.fmt, self.transport, self.peer)
        reply = codec.too_large(_bare_request(self._request), detail) if codec else HttpReply(413, b"")
        self._refused = reply
        self._answer(reply, close=True, linger=True)

    def _complete(self) -> None:
        request = self._request
        assert request is not None
        if self._refused is not None:
            return
        t0 = time.perf_counter()
        method = request.method.decode("ascii", "replace").upper()
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        if method == "OPTIONS":  # what a path allows (Docker's splunk driver checks the URL so)
            self._options(path)
            return
        found = self.shippers.route(method, path)
        if found is None:
            self.fmt = "http"
            self._answer(
                HttpReply(404, b'{"error":"no such endpoint: ' + _json_safe(f"{method} {path}") + b'"}')
            )
            return
        codec, action, params = found
        self.fmt = codec.name
        headers = _headers(request.headers)
        if not codec.open_route(action) and not self._authorised(codec, headers):
            self._answer(codec.unauthorized(_bare_request(request)))
            return
        try:
            body = inflate(
                bytes(self._body), headers.get("content-encoding", ""), self.limits.max_inflated_bytes
            )
        except TooLarge as exc:
            self.ctx.rejects.record(
                [RecordError(0, TOO_LARGE, str(exc), b"")], codec.name, self.transport, self.peer
            )
            self._answer(codec.too_large(_bare_request(request), str(exc)))
            return
        except ValueError as exc:
            self.ctx.rejects.record([RecordError(0, MALFORMED, str(exc), bytes(self._body[:256]))], codec.name,
                                    self.transport, self.peer)  # fmt: skip
            self._answer(HttpReply(400, b'{"error":"' + _json_safe(str(exc)) + b'"}'))
            return
        self._body = bytearray()
        req = HttpRequest(
            method,
            path,
            _query(query),
            headers,
            body,
            params,
            self.host,
            stored_suffix(time.time(), codec.name, self.transport, self.peer),
        )
        try:
            decoded = codec.decode(action, req)
        except Exception:  # a codec bug must not take the connection's other requests with it
            log.exception("%s: decoding a %s %s request failed", codec.name, method, path)
            self._answer(HttpReply(500, b'{"error":"internal error"}'))
            return
        if isinstance(decoded, HttpReply):
            if decoded.status == 400:
                self.ctx.rejects.record([RecordError(0, MALFORMED, decoded.body[:200].decode("utf-8", "replace"),
                                                     body[:256])], codec.name, self.transport, self.peer)  # fmt: skip
            self._answer(decoded)
            return
        self._waiting = True
        written = lambda: self._written(codec.reply(action, req, decoded))  # noqa: E731
        batch = make_batch(self.ctx, decoded, codec.name, self.transport, self.peer, self.host, t0, written)
        assert batch is not None  # with on_written it always is
        if not self.ctx.submit(batch):  # dropped under --overflow drop (counted): nothing was stored
            self._waiting = False
            self._answer(codec.busy(req))

    def _options(self, path: str) -> None:
        allowed = sorted(self.shippers.methods(path))
        self.fmt = "http"
        if not allowed:
            self._answer(HttpReply(404, b'{"error":"no such endpoint: ' + _json_safe(path) + b'"}'))
            return
        self._answer(HttpReply(200, b"", headers=(("allow", ", ".join([*allowed, "OPTIONS"])),)))

    def _written(self, reply: HttpReply) -> None:
        self._waiting = False
        self._answer(reply)
        self._pump()  # a request that was pipelined behind this one

    def _authorised(self, codec: ShipperCodec, headers: dict[str, str]) -> bool:
        token = self.limits.auth_token
        if token is None:
            return True
        given = headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return value.strip() == token and scheme.lower() in (codec.auth_scheme.lower(), "bearer")

    def _answer(self, reply: HttpReply, close: bool = False, linger: bool = False) -> None:
        request = self._request
        self.ctx.metrics.add("requests", 1, self.fmt, str(reply.status))
        headers = [(b"content-type", reply.content_type.encode()), (b"content-length", str(len(reply.body)).encode()),
                   (b"server", b"workbench")]  # fmt: skip
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        if close:
            headers.append((b"connection", b"close"))
        head = request is not None and request.method == b"HEAD"
        try:
            self._send_raw(h11.Response(status_code=reply.status, headers=headers))
            if reply.body and not head:
                self._send_raw(h11.Data(data=reply.body))
            self._send_raw(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            log.warning("answering %s failed: %s", self.peer, exc)
            self.close()
            return
        if linger:
            return  # closed once the refused body has been read (``_pump``)
        if close or self.conn.our_state is h11.MUST_CLOSE or self.conn.their_state is not h11.DONE:
            self.close()
            return
        self.conn.start_next_cycle()
        self._request = None

    def _send_raw(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            self.write(data)

    def _protocol_error(self, exc: h11.RemoteProtocolError) -> None:
        detail = str(exc) or "malformed HTTP request"
        self.ctx.rejects.record([RecordError(0, MALFORMED, detail, b"")], self.fmt, self.transport, self.peer)
        self.ctx.metrics.add("requests", 1, self.fmt, str(exc.error_status_hint))
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = b'{"error":"' + _json_safe(detail) + b'"}'
            try:
                self._send_raw(h11.Response(status_code=exc.error_status_hint, headers=[
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")]))  # fmt: skip
                self._send_raw(h11.Data(data=body))
                self._send_raw(h11.EndOfMessage())
            except h11.LocalProtocolError:
                pass
        self.close()


def _header(headers: Any, name: bytes) -> str:
    for key, value in headers:
        if key == name:
            return str(value.decode("latin-1")).strip()
    return ""


def _headers(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in raw:
        k = key.decode("latin-1")  # h11 gives names in lower case
        v = value.decode("latin-1")
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


def _query(query: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(query, keep_blank_values=True)) if query else {}


def _bare_request(request: h11.Request) -> HttpRequest:
    path, _, query = request.target.decode("latin-1").partition("?")
    return HttpRequest(request.method.decode("ascii", "replace").upper(), path, _query(query),
                       _headers(request.headers), b"")  # fmt: skip


def _json_safe(text: str) -> bytes:
    import msgspec

    return msgspec.json.encode(text)[1:-1]
