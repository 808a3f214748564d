"""The status port every service shares: a small HTTP/1.1 server (h11) of five GET routes.

A service shows the same endpoints on its HTTP port (the ingestor's contract, ``docs/architecture.md``):
``/`` a live page, ``/metrics`` Prometheus text, ``/metrics.json`` its figures, ``/healthz``,
``/config.json`` its effective configuration, from a ``StatusSource``, the narrow view a service
gives of itself, so no service imports its HTTP side back. It is h11 on asyncio streams rather
than aiohttp: the ingestor's parent process imported aiohttp for this alone (17 MB of its RSS).
Keep-alive, HEAD, 404 and 405 as a scraper expects; a request head is bounded
(``MAX_REQUEST_BYTES``) and an idle connection closed after ``IDLE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Callable
from http import HTTPStatus
from importlib import resources
from typing import Any, Protocol

import h11

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_REQUEST_BYTES = 64 << 10
IDLE_SECONDS = 60.0


class StatusSource(Protocol):
    """What a service shows on its HTTP port."""

    def status_page(self) -> str:
        """The live page (HTML)."""
        ...

    def prometheus(self) -> str:
        """Its metrics in the Prometheus text format."""
        ...

    def metrics_json(self) -> dict[str, Any]:
        """Its figures (totals, rates, gauges)."""
        ...

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", ...}`` while it serves."""
        ...

    def effective_config(self) -> dict[str, Any]:
        """The configuration it runs with, every setting (JSON types)."""
        ...


@functools.cache
def packaged_page(package: str) -> str:
    """A service's ``page.html`` from its package, read once per process."""
    return resources.files(package).joinpath("page.html").read_text(encoding="utf-8")


def _json(obj: Any) -> tuple[bytes, str]:
    return json.dumps(obj, default=str).encode(), "application/json; charset=utf-8"


def routes(source: StatusSource) -> dict[str, Callable[[], tuple[bytes, str]]]:
    """Each path and what answers it: (body, content type)."""
    return {
        "/": lambda: (source.status_page().encode(), "text/html; charset=utf-8"),
        "/metrics": lambda: (source.prometheus().encode(), PROMETHEUS_CONTENT_TYPE),
        "/metrics.json": lambda: _json(source.metrics_json()),
        "/healthz": lambda: _json(source.health()),
        "/config.json": lambda: _json(source.effective_config()),
    }


class StatusServer:
    """The status routes on one listening socket; ``await cleanup()`` stops it."""

    def __init__(self, source: StatusSource) -> None:
        self.routes = routes(source)
        self.server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def cleanup(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await asyncio.wait_for(reader.read(65536), IDLE_SECONDS)
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    writer.write(self._answer(conn, event))
                    await writer.drain()
                elif isinstance(event, h11.ConnectionClosed) or conn.our_state is h11.MUST_CLOSE:
                    break
                elif conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:  # a broken request: its 4xx, then close
            with contextlib.suppress(h11.LocalProtocolError):
                writer.write(_response(conn, exc.error_status_hint, f"{exc}\n".encode(), "text/plain; charset=utf-8",
                                       False, [("Connection", "close")]))  # fmt: skip
        except (TimeoutError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _answer(self, conn: h11.Connection, request: h11.Request) -> bytes:
        method = request.method.decode()
        path = request.target.decode("latin-1").split("?", 1)[0]
        route = self.routes.get(path)
        if route is None:
            return _response(conn, 404, b"not found\n", "text/plain; charset=utf-8", method == "HEAD")
        if method not in ("GET", "HEAD"):
            return _response(conn, 405, b"method not allowed\n", "text/plain; charset=utf-8", False,
                             [("Allow", "GET, HEAD")])  # fmt: skip
        body, content_type = route()
        return _response(conn, 200, body, content_type, method == "HEAD")


def _response(conn: h11.Connection, status: int, body: bytes, content_type: str, head: bool,
              extra: list[tuple[str, str]] | None = None) -> bytes:  # fmt: skip
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])]
    out = (
        conn.send(h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase)) or b""
    )
    if not head:
        out += conn.send(h11.Data(data=body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


async def serve_status(source: StatusSource, host: str, port: int) -> tuple[StatusServer, int]:
    """The status routes of ``source`` on host and port (0: a free one): the server and its port."""
    server = StatusServer(source)
    return server, await server.start(host, port)
