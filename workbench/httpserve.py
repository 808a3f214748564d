"""Serving an aiohttp application on a host and port (0: any free one), shared by the services."""

from __future__ import annotations

from aiohttp import web


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start ``app``; returns its runner (``await runner.cleanup()`` stops it) and the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound = next((addr[1] for addr in runner.addresses if isinstance(addr, tuple)), port)
    return runner, int(bound)
