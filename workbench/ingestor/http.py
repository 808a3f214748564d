"""The ingestor's HTTP endpoints: the built-in page, Prometheus text, JSON figures, health."""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web

from workbench.httpserve import serve

if TYPE_CHECKING:
    from workbench.ingestor.service import Ingestor

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _app(ingestor: Ingestor) -> web.Application:
    page = resources.files("workbench.ingestor").joinpath("page.html").read_text(encoding="utf-8")

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def metrics(_: web.Request) -> web.Response:
        body = ingestor.refresh().prometheus()
        return web.Response(body=body.encode(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})

    async def metrics_json(_: web.Request) -> web.Response:
        return web.json_response(ingestor.snapshot(), dumps=lambda o: json.dumps(o, default=str))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({
            "status": "ok",
            "workers": ingestor.refresh().gauge_values()["workers"],
            "schema_source": ingestor.schemas.source,
        })  # fmt: skip

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/metrics.json", metrics_json)
    app.router.add_get("/healthz", healthz)
    return app


async def start_http(ingestor: Ingestor, host: str, port: int) -> tuple[web.AppRunner, int]:
    return await serve(_app(ingestor), host, port)
