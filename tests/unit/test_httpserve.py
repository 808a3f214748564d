"""The status port's HTTP server (``workbench.httpserve``): the five routes, keep-alive, HEAD,
404, 405, a 400 for a broken request, a bounded request head, and a clean stop with a client
still connected. Real sockets on 127.0.0.1, and Python's own HTTP client."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any

from workbench.httpserve import MAX_REQUEST_BYTES, PROMETHEUS_CONTENT_TYPE, serve_status


class Source:
    def status_page(self) -> str:
        return "<html>live é</html>"

    def prometheus(self) -> str:
        return "ingest_logs_total 7\n"

    def metrics_json(self) -> dict[str, Any]:
        return {"totals": {"logs": 7}}

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}

    def effective_config(self) -> dict[str, Any]:
        return {"workers": 2}


async def raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return out


def test_the_routes_over_one_keep_alive_connection() -> None:
    async def main() -> None:
        server, port = await serve_status(Source(), "127.0.0.1", 0)
        try:

            def client() -> list[tuple[int, str, bytes]]:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                out = []
                for path in ("/", "/metrics", "/metrics.json?x=1", "/healthz", "/config.json"):
                    conn.request("GET", path)
                    r = conn.getresponse()
                    out.append((r.status, r.getheader("Content-Type"), r.read()))
                conn.request("HEAD", "/healthz")
                r = conn.getresponse()
                out.append((r.status, r.getheader("Content-Length"), r.read()))
                conn.close()
                return out

            got = await asyncio.to_thread(client)
        finally:
            await server.cleanup()
        assert got[0] == (200, "text/html; charset=utf-8", "<html>live é</html>".encode())
        assert got[1] == (200, PROMETHEUS_CONTENT_TYPE, b"ingest_logs_total 7\n")
        assert json.loads(got[2][2]) == {"totals": {"logs": 7}} and got[2][1].startswith("application/json")
        assert json.loads(got[3][2]) == {"status": "ok"} and json.loads(got[4][2]) == {"workers": 2}
        assert got[5] == (200, str(len(b'{"status": "ok"}')), b"")  # HEAD: the length, no body

    asyncio.run(main())


def test_unknown_paths_other_methods_and_broken_requests_are_answered() -> None:
    async def main() -> None:
        server, port = await serve_status(Source(), "127.0.0.1", 0)
        try:
            missing = await raw(port, b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            post = await raw(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                   b"Connection: close\r\n\r\nabc")  # fmt: skip
            broken = await raw(port, b"GARBAGE\r\n\r\n")
            huge = await raw(port, b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_REQUEST_BYTES + 10))
            still = await raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        finally:
            await server.cleanup()
        assert missing.startswith(b"HTTP/1.1 404 Not Found\r\n")
        assert post.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n") and b"Allow: GET, HEAD\r\n" in post
        assert broken.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert huge.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        assert still.startswith(b"HTTP/1.1 200 OK\r\n") and still.endswith(b'{"status": "ok"}')

    asyncio.run(main())


def test_cleanup_closes_connections_that_stay_open() -> None:
    async def main() -> None:
        server, port = await serve_status(Source(), "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        first = await asyncio.wait_for(reader.readuntil(b'{"status": "ok"}'), 5)
        await asyncio.wait_for(server.cleanup(), 5)
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert first.startswith(b"HTTP/1.1 200 OK") and rest == b""
        try:
            await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        raise AssertionError("the port still accepts after cleanup")

    asyncio.run(main())
