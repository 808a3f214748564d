"""``Registry``: the schema registry as a library object with async ``start()``/``stop()``.

It opens the SQLite store in ``data_dir``, seeds the bundled log schemas (see
``subjects.SEED_SUBJECTS``) and serves the Confluent-compatible API with aiohttp. Port 0 picks a
free port; ``url`` tells the one chosen.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from workbench import contract
from workbench.errors import ConfigError
from workbench.registry.api import build_app
from workbench.registry.config import DEFAULT_PORT, RegistryConfig
from workbench.registry.subjects import RegistryService

log = logging.getLogger(__name__)


def parse_auth(value: str | tuple[str, str] | None) -> tuple[str, str] | None:
    """``"user:password"`` -> ``("user", "password")``."""
    if value is None or isinstance(value, tuple):
        return value
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise ConfigError(f"--auth must be user:password, got {value!r}")
    return user, password


class Registry:
    @classmethod
    def from_config(cls, config: RegistryConfig) -> Registry:
        return cls(config.data_dir, host=config.host, port=config.port, auth=config.auth, seed=config.seed)

    def effective_config(self) -> dict[str, Any]:
        """Its settings as it runs (the port it chose in place of 0; the password left out)."""
        auth = f"{self.auth[0]}:***" if self.auth else None
        return RegistryConfig(data_dir=self.data_dir, host=self.host, port=self.port, auth=auth,
                              seed=self.seed).model_dump(mode="json")  # fmt: skip

    def __init__(
        self,
        data_dir: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        auth: str | tuple[str, str] | None = None,
        seed: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.auth = parse_auth(auth)
        self.seed = seed
        self.service: RegistryService | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self.service = RegistryService(self.data_dir)
        if self.seed:
            added = await self.service.run(self.service.seed)
            if added:
                log.info("seeded subjects %s", ", ".join(added))
        self._runner = web.AppRunner(build_app(self.service, auth=self.auth), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise ConfigError(f"registry cannot listen on {self.host}:{self.port}: {exc}") from exc
        server = site._server  # aiohttp exposes the bound sockets only here
        if server is not None and self.port == 0:
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = sockets[0].getsockname()[1]
        log.info("registry listening on %s (data in %s)", self.url, self.data_dir)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.service is not None:
            service, self.service = self.service, None
            await asyncio.to_thread(service.close)

    async def __aenter__(self) -> Registry:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def serve_until_signal(self, ready: asyncio.Event | None = None) -> None:
        """Start, run until SIGINT or SIGTERM, then stop cleanly."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            print(f"registry listening on {self.url}", flush=True)
            contract.emit("ready", "registry", url=self.url, config=self.effective_config())
            if ready is not None:
                ready.set()
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.stop()
