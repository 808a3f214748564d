"""The load generator: realistic logs from a pre-encoded pool, paced, to TCP/TLS, UDP or a file,
in our formats or a shipper's protocol (``protocols``: HTTP requests, Forward, GELF).

``Generator(config).run()`` returns a ``Summary`` when the count is sent, the duration is over
or ``stop()`` was called (after the chunk in flight; then it flushes: acks awaited, TLS shut
down cleanly). Before the clock starts it draws ``pool_logs`` records (``patterns``), validates
them against the log schema (from the registry with ``registry_url``: its JSON Schema compiled
by ``model.compile_entry_type``; else the bundled ``model.LogEntry``), counts the failures and
leaves them out, and encodes the rest into a ``Pool``. Each client (connection) replays the
pool from its own offset with its own ``client_id`` (``<prefix>-<n>``) and ``seq`` (from 0,
consecutive over everything it generates: a batch given up after its retries leaves a gap).

Pacing: a client sends ``batch_size`` logs every ``interval_ms``, or at ``rate_per_second /
clients`` logs/s when a rate is set, times the burst factor inside a burst; a client that falls
behind sends the batches due in one write (up to ``max_write_bytes``). With interval 0 and no
rate it writes as fast as the receiver takes it. Metrics: see ``workbench.generator.stats``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from workbench import model, tls, wire
from workbench.errors import ConfigError, SendFailed
from workbench.generator.config import GeneratorConfig, resolve
from workbench.generator.file import POOL_FORMAT, FileSender
from workbench.generator.patterns import LogFactory, ReplaySource
from workbench.generator.pool import Chunk, Pool, render_chunk
from workbench.generator.stats import ClientStats, RunStats, Summary
from workbench.generator.tcp import TcpSender
from workbench.generator.udp import UdpSender

log = logging.getLogger(__name__)
MAX_DEBT_SECONDS = 1.0  # a client never tries to catch up more than this much lost time


async def load_schemas(url: str | None) -> Any:
    """The log schemas (registry or bundled): the one place the generator touches the registry."""
    from workbench.registry.client import aload_log_schemas, bundled_log_schemas

    if url is None:
        return bundled_log_schemas()
    return await aload_log_schemas(url)


def make_records(config: GeneratorConfig, seed: int) -> list[dict[str, Any]]:
    """The pool's records, before validation: realistic flows or lines of a replayed file."""
    if config.replay_file is not None:
        source: Any = ReplaySource(config.replay_file)
    else:
        source = LogFactory(seed, config.level_mix, config.services, config.concurrent_sessions)
    return [source.next() for _ in range(config.pool_logs)]


def validate_records(records: list[dict[str, Any]], entry_type: Any) -> tuple[list[Any], int]:
    """(valid entries as ``model.LogEntry``, failures): one C call, per record only on failure."""
    probe = [dict(r, client_id="x", seq=0) for r in records]
    try:
        msgspec.convert(probe, list[entry_type])  # type: ignore[valid-type]
        good = records
    except msgspec.ValidationError:
        good = []
        for rec, p in zip(records, probe, strict=True):
            try:
                msgspec.convert(p, entry_type)
                good.append(rec)
            except msgspec.ValidationError as exc:
                log.debug("generated record fails the schema: %s", exc)
    failures = len(records) - len(good)
    try:
        entries = model.to_entries(good)
    except msgspec.ValidationError as exc:  # valid for the registry schema, not for the bundled one
        raise ConfigError(f"generated records do not fit the bundled log entry: {exc}") from exc
    return entries, failures


class Generator:
    """One generator process: ``clients`` concurrent senders over one pool."""

    def __init__(self, config: GeneratorConfig, *, on_stats: Callable[[str], None] | None = None) -> None:
        self.config = resolve(config)
        self.on_stats = on_stats or (lambda line: log.info("%s", line))
        self.seed = int(self.config.seed or 0)
        self.stats = RunStats()
        self.stop_event = asyncio.Event()
        self.stopped_by = "count"
        self.pool: Pool | None = None
        self.schema_source = "bundled"
        self.client_ids: list[str] = []
        self.responses: dict[str, int] = {}  # protocols: answers per status

    def effective_config(self) -> dict[str, Any]:
        """Its settings as it runs (with the seed and client prefix it chose in place of None)."""
        return self.config.model_dump(mode="json")

    async def stop(self, reason: str = "stop") -> None:
        """Stop after the chunk in flight; ``run`` then flushes and returns the summary."""
        if not self.stop_event.is_set():
            self.stopped_by = reason
            self.stop_event.set()

    # --- preparation (before the clock) --------------------------------------------------------
    async def prepare(self) -> None:
        cfg = self.config
        schemas = await load_schemas(cfg.registry_url)
        self.schema_source = "registry" if schemas.from_registry else "bundled"
        entry_type = (
            model.compile_entry_type(schemas.json_schema) if schemas.from_registry else model.LogEntry
        )
        records = make_records(cfg, self.seed)
        entries, failures = validate_records(records, entry_type)
        self.stats.totals.validated_total = len(records)
        self.stats.totals.schema_failures_total = failures
        if failures:
            log.warning("%d of %d generated records fail the log schema; left out of the pool", failures,
                        len(records))  # fmt: skip
        width = len(str(cfg.clients - 1))
        self.client_ids = [f"{cfg.client_prefix}-{i:0{width}d}" for i in range(cfg.clients)]
        fmt = POOL_FORMAT[cfg.file_format] if cfg.transport == "file" else cfg.format
        self._schema_id = {"avro": schemas.avro_id, "json": schemas.json_id, "proto": schemas.proto_id}.get(
            fmt
        )
        if cfg.protocol is not None:
            self.pool = self._request_pool(entries)
            self.stats.clients = [ClientStats(cid) for cid in self.client_ids]
            return
        self.pool = Pool(
            fmt, entries, cfg.batch_size, len(self.client_ids[0]),
            length_framed=cfg.transport == "tcp" and (fmt in ("proto", "avro") or cfg.ack),
            lines_only=cfg.transport != "tcp",
            avro_schema=schemas.avro if fmt == "avro" else None,
            avro_schema_id=schemas.avro_id or 0,
        )  # fmt: skip
        self.stats.clients = [ClientStats(cid) for cid in self.client_ids]

    def _request_pool(self, entries: list[Any]) -> Pool:
        """Whole requests of the protocol (the HTTP head names the first receiver, ``Host``), its
        bodies alone when they are compressed per send, or its messages (Forward, GELF)."""
        from workbench.generator.protocols import RequestSpec, spec_of
        from workbench.generator.requestpool import (
            Head,
            RequestPool,
            grpc_prefix,
            http_head,
            no_head,
            pooled_whole,
        )

        cfg = self.config
        assert cfg.protocol is not None
        spec = spec_of(cfg.protocol, cfg.ack)
        address, port = cfg.endpoint(0)
        head: Head = no_head
        if isinstance(spec, RequestSpec) and pooled_whole(spec, cfg.compression):
            head = grpc_prefix if spec.grpc else http_head(spec, address, port, cfg.auth_token)
        return RequestPool(cfg.protocol, entries, cfg.batch_size, len(self.client_ids[0]), head, spec)

    def _protocol_sender(self, cs: ClientStats, endpoint: tuple[str, int]) -> Any:
        """The sender of a shipper's protocol for one client."""
        cfg = self.config
        protocol = cfg.protocol
        if protocol == "forward":
            from workbench.generator.forward import ForwardSender

            return ForwardSender(cfg, cs, self.stats.totals, self._ssl(), endpoint)
        if protocol == "gelf-tcp":  # the pool's NUL-ended messages as they are: a stream without a header
            return TcpSender(cfg, cs, self.stats.totals, b"", self._ssl(), endpoint)
        if protocol == "gelf-udp":
            from workbench.generator.gelf import GelfUdpSender

            return GelfUdpSender(cfg, cs, self.stats.totals, endpoint)
        from workbench.generator.http import RequestSender

        return RequestSender(cfg, cs, self.stats.totals, self.responses, self._ssl(protocol), endpoint)

    def _header(self, client_id: str) -> bytes:
        cfg = self.config
        if not cfg.header:
            if cfg.ack or cfg.format in ("proto", "avro"):
                raise ConfigError(
                    "--no-header works with text formats without --ack (nothing else is detectable)"
                )
            return b""
        framing = "length" if cfg.ack or cfg.format in ("proto", "avro") else None
        if cfg.format == "syslog" and not cfg.ack:
            framing = "octet"
        return wire.make_header(cfg.format, framing=framing, schema_id=self._schema_id, ack=cfg.ack,
                                client=client_id).encode()  # fmt: skip

    def _ssl(self, protocol: str | None = None) -> Any:
        cfg = self.config
        if cfg.transport != "tcp" or not cfg.tls:
            return None
        if cfg.ca_file is not None and not cfg.ca_file.is_file():
            raise ConfigError(f"CA file {cfg.ca_file} not found (give --ca PATH, or --insecure)")
        ctx = tls.client_context(cfg.ca_file, cfg.insecure)
        if protocol is not None:  # gRPC needs h2 by ALPN; HTTP/1.1 must not be offered h2
            ctx.set_alpn_protocols(["h2"] if protocol == "otlp-grpc" else ["http/1.1"])
        return ctx

    # --- the run --------------------------------------------------------------------------------
    async def run(self) -> Summary:
        cfg = self.config
        if self.pool is None:
            await self.prepare()
        assert self.pool is not None
        ssl_ctx = self._ssl()
        senders: list[Any] = []
        for i, cs in enumerate(self.stats.clients):
            if cfg.protocol is not None:
                senders.append(self._protocol_sender(cs, cfg.endpoint(i)))
            elif cfg.transport == "tcp":
                senders.append(TcpSender(cfg, cs, self.stats.totals, self._header(cs.client_id), ssl_ctx,
                                         cfg.endpoint(i)))  # fmt: skip
            elif cfg.transport == "udp":
                senders.append(UdpSender(cfg, cs, self.stats.totals, self.pool, cfg.endpoint(i)))
        if cfg.transport == "file":
            assert cfg.output_file is not None
            file_sender = FileSender(cfg.output_file, cfg.file_format)
            senders = [file_sender] * cfg.clients
        self.stats.start()
        stats_task = asyncio.create_task(self._stats_loop()) if cfg.stats_interval_seconds > 0 else None
        timer = asyncio.get_running_loop().call_later(
            cfg.duration_seconds, lambda: self.stop_event.set() if not self.stop_event.is_set() else None
        ) if cfg.duration_seconds else None  # fmt: skip
        if cfg.duration_seconds:
            self.stopped_by = "duration"
        counts = cfg.per_client_counts()
        try:
            await asyncio.gather(*(self._client(i, senders[i], counts[i]) for i in range(cfg.clients)))
        finally:
            if timer is not None:
                timer.cancel()
            closers = {id(s): s for s in senders}.values()
            await asyncio.gather(*(s.close() for s in closers), return_exceptions=True)
            if stats_task is not None:
                stats_task.cancel()
        if self.stop_event.is_set() and self.stopped_by == "count":
            self.stopped_by = "stop"
        summary = self.summary()
        if cfg.summary_json is not None:
            summary.write_json(cfg.summary_json)
        return summary

    def summary(self) -> Summary:
        from workbench.generator.protocols import SPECS

        cfg = self.config
        elapsed = max(self.stats.elapsed(), 1e-9)
        t = self.stats.totals
        return Summary(
            seed=self.seed, format=cfg.file_format if cfg.transport == "file" else (cfg.protocol or cfg.format),
            transport=cfg.transport if cfg.transport != "tcp" else ("tls" if cfg.tls else "tcp"),
            tls=cfg.transport == "tcp" and cfg.tls, ack=cfg.ack or cfg.protocol in SPECS, duration_seconds=elapsed,
            logs_per_second=t.sent_logs_total / elapsed, mb_per_second=t.sent_bytes_total / elapsed / 1e6,
            totals=t, clients=self.stats.clients, stopped_by=self.stopped_by, schema_source=self.schema_source,
            cpu_seconds=self.stats.cpu_seconds(), protocol=cfg.protocol, responses=dict(self.responses),
        )  # fmt: skip

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_interval_seconds)
            self.on_stats(self.stats.line())

    def _timestamp_us(self, due: float) -> int:
        start = self.config.start_time
        if start is None:
            return time.time_ns() // 1000
        return model.micros_from_utc(start) + int((due - self.stats.started) * 1e6)

    async def _client(self, index: int, sender: Any, count: int | None) -> None:
        cfg = self.config
        pool = self.pool
        assert pool is not None
        cs = self.stats.clients[index]
        totals = self.stats.totals
        buf = pool.client_buffer(cs.client_id)
        batch = (index * pool.n_batches) // cfg.clients
        rate = cfg.per_client_rate()
        bsize = cfg.batch_size
        avg_batch_bytes = max(1, int(pool.batch_bytes[-1]) // pool.n_batches)
        max_batches = max(1, cfg.max_write_bytes // avg_batch_bytes)
        due = self.stats.started
        remaining = count
        stop = self.stop_event
        while not stop.is_set() and (remaining is None or remaining > 0):
            k = max_batches
            if rate is not None:
                now = time.monotonic()
                if due > now:
                    try:
                        await asyncio.wait_for(stop.wait(), due - now)
                        break
                    except TimeoutError:
                        pass
                    now = time.monotonic()
                eff = rate * (cfg.burst.factor_at(now - self.stats.started) if cfg.burst else 1.0)
                if now - due > MAX_DEBT_SECONDS:
                    due = now - MAX_DEBT_SECONDS
                k = min(max_batches, 1 + int((now - due) * eff / bsize))
            k = min(k, pool.n_batches - batch)
            last = None
            if remaining is not None:
                need = -(-remaining // bsize)
                if need <= k:
                    k, last = need, remaining - (need - 1) * bsize
            chunk = render_chunk(pool, buf, batch, k, cs.next_seq, self._timestamp_us(due),
                                 last if last is not None and last < bsize else None)  # fmt: skip
            cs.next_seq += chunk.logs
            lost = await self._send(sender, chunk)
            n_frames = len(chunk.frames)
            if lost is not None:
                cs.sent_logs += chunk.logs - lost
                cs.sent_batches += n_frames
                if cs.first_seq is None:
                    cs.first_seq = chunk.first_seq
                cs.last_seq = chunk.first_seq + chunk.logs - 1
                totals.sent_logs_total += chunk.logs - lost
                totals.sent_batches_total += n_frames
                totals.sent_bytes_total += len(chunk.data)
            else:
                cs.failed_logs += chunk.logs
                totals.failed_logs_total += chunk.logs
                totals.failed_batches_total += n_frames
            if remaining is not None:
                remaining -= chunk.logs
            batch = (batch + k) % pool.n_batches
            if rate is not None:
                eff = rate * (
                    cfg.burst.factor_at(time.monotonic() - self.stats.started) if cfg.burst else 1.0
                )
                due += chunk.logs / eff
            else:
                await asyncio.sleep(0)  # let acks, stats and other clients run

    async def _send(self, sender: Any, chunk: Chunk) -> int | None:
        """Logs of the chunk not sent (UDP drops), or None when the whole chunk failed."""
        try:
            return await sender.send(chunk) or 0
        except SendFailed as exc:
            log.warning("%s", exc)
            return None
