"""The HTTP side every service shares: serving an aiohttp app, and the status app of a service.

A service shows the same endpoints on its HTTP port (the ingestor's contract, ``docs/architecture.md``):
``/`` a live page, ``/metrics`` Prometheus text, ``/metrics.json`` its figures, ``/healthz``,
``/config.json`` its effective configuration. ``status_app`` builds them from a ``StatusSource``,
the narrow view a service gives of itself, so no service imports its HTTP side back.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Protocol

from aiohttp import web

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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


def _json(obj: Any) -> web.Response:
    return web.json_response(obj, dumps=lambda o: json.dumps(o, default=str))


def status_app(source: StatusSource) -> web.Application:
    async def index(_: web.Request) -> web.Response:
        return web.Response(text=source.status_page(), content_type="text/html", charset="utf-8")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=source.prometheus().encode(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE}
        )

    async def metrics_json(_: web.Request) -> web.Response:
        return _json(source.metrics_json())

    async def healthz(_: web.Request) -> web.Response:
        return _json(source.health())

    async def config(_: web.Request) -> web.Response:
        return _json(source.effective_config())

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/metrics.json", metrics_json)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/config.json", config)
    return app


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start ``app``; returns its runner (``await runner.cleanup()`` stops it) and the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound = next((addr[1] for addr in runner.addresses if isinstance(addr, tuple)), port)
    return runner, int(bound)


async def serve_status(source: StatusSource, host: str, port: int) -> tuple[web.AppRunner, int]:
    """``status_app(source)`` on host and port (0: a free one)."""
    return await serve(status_app(source), host, port)
