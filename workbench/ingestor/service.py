"""The ingestor service: the parent that starts, supervises and stops the workers.

``Ingestor(config)`` with ``await start()`` / ``await stop()`` is the library object; the CLI
verb ``ingest`` runs it until SIGINT/SIGTERM. The parent prepares TLS (a self-signed pair in
the data dir on first start), loads the schemas, finishes segments a crash left behind, picks
the ports (0 means any free one), starts one worker process per core (or one worker inside this
event loop with ``workers=0``), accepts TCP connections and hands each to the least busy worker
(``dispatch``; workers share the UDP port with SO_REUSEPORT), restarts a worker
that dies (counted), sums their metrics, prints a ``[METRIC]`` line per interval and serves
``/``, ``/metrics``, ``/metrics.json`` and ``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from workbench.errors import ConfigError
from workbench.formats import STANDARD_PORTS
from workbench.ingestor.config import IngestorConfig
from workbench.ingestor.decoding import SchemaSet
from workbench.ingestor.dispatch import Dispatcher, handoff_pair, listening_socket
from workbench.ingestor.metrics import Aggregate
from workbench.ingestor.process import ssl_context_for
from workbench.ingestor.schemas import fetch_schema_set
from workbench.ingestor.worker import WorkerRuntime
from workbench.storage.segments import SegmentWriter, disk_usage
from workbench.tls import ensure_self_signed

log = logging.getLogger("workbench.ingestor")
# the longest line a worker may write to the parent (a metrics snapshot); asyncio's 64 KiB default
# was exceeded by snapshots carrying samples of 16 KiB logs, and the parent stopped reading them
WORKER_LINE_BYTES = 16 << 20


def free_port(host: str, kind: int) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class _Launched:
    """A worker process started ahead of its spec, and its end of the connection channel."""

    process: asyncio.subprocess.Process
    parent_end: socket.socket
    handoff_fd: int  # the channel's descriptor number in the worker

    async def discard(self, timeout: float = 10.0) -> None:
        """A start that failed: the worker exits when its stdin closes without a spec."""
        self.parent_end.close()
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class _Child:
    """A worker process and what the parent knows of it."""

    def __init__(self, worker_id: int, process: asyncio.subprocess.Process) -> None:
        self.worker_id = worker_id
        self.process = process
        self.ready = asyncio.Event()
        self.stopped = False
        self.reader: asyncio.Task[None] | None = None


class Ingestor:
    def __init__(self, config: IngestorConfig) -> None:
        self.config = config
        self.aggregate = Aggregate()
        self.schemas = SchemaSet()
        self.tcp_port = config.tcp_port
        self.udp_port = config.udp_port
        self.http_port = config.http_port
        # the shippers' standard ports that are on (config field: port; a 0 replaced once bound)
        self.standard_ports: dict[str, int] = {
            name: port for name in STANDARD_PORTS if (port := getattr(config, name)) is not None
        }
        self.cert_path: str | None = None
        self._children: dict[int, _Child] = {}
        self._launched: list[_Launched] = []  # worker processes started ahead of their spec
        self._inline: WorkerRuntime | None = None
        self.dispatcher: Dispatcher | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._http: Any = None
        self._stopping = False

    @property
    def url(self) -> str | None:
        return f"http://{self.config.host}:{self.http_port}" if self.http_port is not None else None

    async def start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        # the worker processes import their modules (most of their start-up) while this one gets
        # the certificate, the schemas, the recovery and the sockets ready; each waits for its spec
        self._launched = [await self._launch() for _ in range(cfg.workers)]
        try:
            await self._start()
        except BaseException:
            launched, self._launched = self._launched, []
            await asyncio.gather(*(w.discard() for w in launched), return_exceptions=True)
            raise

    async def _start(self) -> None:
        cfg = self.config
        if cfg.tls and (cfg.cert is None or cfg.key is None):
            cert, _key, created = ensure_self_signed(cfg.data_dir / "tls")
            self.cert_path = str(cert)
            log.info("%s self-signed TLS certificate %s (senders: --ca %s)",
                     "generated" if created else "using", cert, cert)  # fmt: skip
        elif cfg.tls:
            self.cert_path = str(cfg.cert)
        if not cfg.tls:
            log.warning("TLS IS OFF (--no-tls): logs travel in plain text on port %s", cfg.tcp_port)
        ssl_context_for(cfg)  # fail fast on a bad certificate, before any worker starts
        self.schemas = await fetch_schema_set(cfg.registry_url, cfg.registry_timeout_seconds)
        self.aggregate.info = {
            "schema_source": self.schemas.source,
            "config": cfg.model_dump(mode="json"),
        }
        recovered = await asyncio.get_running_loop().run_in_executor(None, self._recover_all)
        if recovered:
            log.info("recovered %d segment(s) left by an earlier run", recovered)
        if cfg.workers > 0:
            names = list(self.standard_ports)
            socks = [listening_socket(cfg.host, self.tcp_port)]
            try:
                socks += [listening_socket(cfg.host, self.standard_ports[name]) for name in names]
            except OSError:
                for sock in socks:
                    sock.close()
                raise
            self.dispatcher = Dispatcher(*socks)
            self.tcp_port = self.dispatcher.port
            self.standard_ports = {name: self.dispatcher.port_of(i + 1) for i, name in enumerate(names)}
        else:
            if self.tcp_port == 0:
                self.tcp_port = free_port(cfg.host, socket.SOCK_STREAM)
            self.standard_ports = {
                name: port or free_port(cfg.host, socket.SOCK_STREAM)
                for name, port in self.standard_ports.items()
            }
        if self.udp_port == 0:
            self.udp_port = free_port(cfg.host, socket.SOCK_DGRAM)
        if cfg.workers == 0:
            self._inline = WorkerRuntime(
                cfg,
                0,
                self.schemas,
                ssl_context_for(cfg),
                self.tcp_port,
                self.udp_port,
                standard_ports=self.standard_ports,
            )
            await self._inline.start()
        else:
            launched, self._launched = self._launched, []
            children = [await self._spawn(worker_id, ready) for worker_id, ready in enumerate(launched)]
            await self._wait_ready(children)
            assert self.dispatcher is not None
            self.dispatcher.start()
        self.aggregate.info.update(
            tcp_port=self.tcp_port,
            udp_port=self.udp_port,
            tls=cfg.tls,
            cert=self.cert_path,
            **self.standard_ports,
        )
        if cfg.http_port is not None:
            from workbench.httpserve import serve_status

            self._http, self.http_port = await serve_status(self, cfg.host, cfg.http_port)
            self.aggregate.info["http_port"] = self.http_port
        self._tasks.append(asyncio.create_task(self._tick()))
        log.info("ingesting on %s port %s (%s), UDP %s, HTTP %s, %d worker(s), data dir %s",
                 cfg.host, self.tcp_port, "TLS" if cfg.tls else "plain TCP", self.udp_port,
                 self.http_port, cfg.workers or 1, cfg.data_dir)  # fmt: skip
        if self.standard_ports:
            log.info(
                "shippers' standard ports (every protocol on each): %s",
                ", ".join(
                    f"{name.removesuffix('_port')} {port}" for name, port in self.standard_ports.items()
                ),
            )

    async def _wait_ready(self, children: list[_Child], timeout: float = 60.0) -> None:
        waits = {asyncio.ensure_future(c.ready.wait()): c for c in children}
        deaths = {asyncio.ensure_future(c.process.wait()): c for c in children}
        pending: set[asyncio.Future[Any]] = set(waits) | set(deaths)
        deadline = time.monotonic() + timeout
        try:
            while any(not c.ready.is_set() for c in children):
                done, pending = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()),
                                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if not done:
                    raise ConfigError(f"ingest: workers not ready within {timeout:.0f}s")
                for fut in done:
                    if fut in deaths and not deaths[fut].ready.is_set():
                        code = deaths[fut].process.returncode
                        raise ConfigError(
                            f"ingest: worker {deaths[fut].worker_id} exited with code {code} while starting (see its log above)"
                        )
        finally:
            for fut in pending:
                fut.cancel()

    def _recover_all(self) -> int:
        """Finish every segment of any worker that a crash left behind (no worker runs yet)."""
        cfg = self.config
        writer = SegmentWriter(
            cfg.data_dir, -1, cfg.rotate_bytes, cfg.output, cfg.compression, cfg.compression_level
        )
        found = writer.recover(own_only=False)
        writer.close()
        return len(found)

    async def _launch(self) -> _Launched:
        """A worker process through its module entry point (no fork of this process's state),
        importing while it waits for its spec on stdin."""
        parent_end, child_end = handoff_pair()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "workbench.ingestor.child",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, pass_fds=(child_end.fileno(),),
                limit=WORKER_LINE_BYTES,
            )  # fmt: skip
        except BaseException:
            parent_end.close()
            raise
        finally:
            handoff_fd = child_end.fileno()
            child_end.close()  # the worker has its own copy, under the same number
        return _Launched(process, parent_end, handoff_fd)

    async def _spawn(self, worker_id: int, launched: _Launched | None = None) -> _Child:
        """Hand a launched worker (or a new one) its spec: config, id, schemas, ports, channel."""
        launched = launched or await self._launch()
        process, parent_end, handoff_fd = launched.process, launched.parent_end, launched.handoff_fd
        assert self.dispatcher is not None
        self.dispatcher.add(worker_id, parent_end)
        spec = {
            "config": self.config.model_dump(mode="json"),
            "worker": worker_id,
            "schemas": self.schemas.to_json(),
            "tcp_port": self.tcp_port,
            "udp_port": self.udp_port,
            "standard_ports": self.standard_ports,
            "handoff_fd": handoff_fd,
        }
        assert process.stdin is not None
        process.stdin.write(json.dumps(spec).encode() + b"\n")
        await process.stdin.drain()
        child = _Child(worker_id, process)
        child.reader = asyncio.create_task(self._read(child))
        self._children[worker_id] = child
        return child

    async def _read(self, child: _Child) -> None:
        stream = child.process.stdout
        assert stream is not None
        while line := await stream.readline():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind = msg.get("kind")
            if kind == "metrics":
                self.aggregate.update(child.worker_id, msg["payload"])
                if self.dispatcher is not None and child.process.returncode is None:
                    active = msg["payload"].get("gauges", {}).get("connections_active", 0)
                    self.dispatcher.report(child.worker_id, int(active))
            elif kind == "ready":
                child.ready.set()
            elif kind == "stopped":
                child.stopped = True

    async def _tick(self) -> None:
        interval = self.config.metrics_interval_seconds
        last_disk = 0.0
        while True:
            await asyncio.sleep(interval)
            self.refresh()
            await self._supervise()
            now = time.monotonic()
            if now - last_disk >= 5 * interval:
                last_disk = now
                usage = await asyncio.get_running_loop().run_in_executor(
                    None, disk_usage, self.config.data_dir
                )
                self.aggregate.gauges["disk_bytes"] = float(usage)
            self.aggregate.tick()
            if self.config.stats_line:
                print(self.aggregate.stats_line(), flush=True)

    async def _supervise(self) -> None:
        if self._stopping:
            return
        for worker_id, child in list(self._children.items()):
            if child.process.returncode is not None:
                log.error("worker %d died (exit code %s); restarting it", worker_id, child.process.returncode)
                self.aggregate.worker_died(worker_id)
                await self._spawn(worker_id)

    def refresh(self) -> Aggregate:
        """The aggregate, with an in-process worker's latest figures (worker processes send theirs)."""
        if self._inline is not None:
            self.aggregate.update(0, self._inline.metrics.snapshot())
        return self.aggregate

    def snapshot(self) -> dict[str, Any]:
        """Current totals, rates and gauges (what ``/metrics.json`` serves)."""
        return self.refresh().summary()

    # --- what the HTTP port shows (httpserve.StatusSource) ---------------------------------------
    def status_page(self) -> str:
        from workbench.httpserve import packaged_page

        return packaged_page("workbench.ingestor")

    def prometheus(self) -> str:
        return self.refresh().prometheus()

    def metrics_json(self) -> dict[str, Any]:
        return self.snapshot()

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "workers": self.refresh().gauge_values()["workers"],
                "schema_source": self.schemas.source}  # fmt: skip

    def effective_config(self) -> dict[str, Any]:
        """The whole config it runs with, the ports it bound in place of any 0."""
        out = self.config.model_dump(mode="json")
        out.update(
            tcp_port=self.tcp_port, udp_port=self.udp_port, http_port=self.http_port, **self.standard_ports
        )
        return out

    async def stop(self) -> None:
        """Stop accepting, drain, flush, finish compression; then a final summary line."""
        if self._stopping:
            return
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self.dispatcher is not None:
            self.dispatcher.close()  # no new connections; the workers drain the open ones
        if self._inline is not None:
            await self._inline.stop()
            self.refresh()
        for child in self._children.values():
            if child.process.stdin is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    child.process.stdin.write(b"stop\n")
                    child.process.stdin.close()
        deadline = self.config.drain_seconds + 60
        for child in self._children.values():
            try:
                await asyncio.wait_for(child.process.wait(), deadline)
            except TimeoutError:
                log.error("worker %d did not stop in time; killing it", child.worker_id)
                child.process.kill()
                await child.process.wait()
            if child.reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(child.reader, 5)
        if self._http is not None:
            await self._http.cleanup()
        self.aggregate.tick()
        summary = self.aggregate.summary()
        t = summary["totals"]
        print(
            f"[SUMMARY] stored {t['logs']:.0f} logs, {t['bytes'] / 1e6:.2f} MB received, rejected {t['rejected']:.0f}, "
            f"dropped {t['dropped']:.0f}, rotations {t['rotations']:.0f}, worker restarts {t['worker_restarts']:.0f}",
            flush=True,
        )

    async def __aenter__(self) -> Ingestor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
