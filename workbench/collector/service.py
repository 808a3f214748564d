"""The collector: follow files, parse, filter, tag, and deliver to one output with checkpoints.

``Collector(config)`` with ``await start()`` / ``await stop()`` is the library object; the CLI
verb ``collect`` runs it until SIGINT/SIGTERM. One task runs the tailing loop: re-glob the inputs
(on file-system events, else every ``glob_interval_seconds``), read each file's new complete
lines a chunk at a time, parse them (``parse.Parser``), hand the entries to the sink, and every
``flush_interval_seconds`` commit the sink and write the checkpoint of what it has made
durable. Between chunks the loop yields, so the HTTP endpoints answer while a large file is read.

Metrics: see ``collector.metrics`` (``collector_lines_total{file}``,
``collector_entries_total{level}``, ``collector_tags_total{tag}``,
``collector_parse_errors_total{reason}``, ...).

Delivery: with a file output (JSONL, CSV, SQLite) a checkpoint is written only after the output
is flushed, and holds the output's size (row id for SQLite); a restart cuts the output back to
it and reads on from the checkpointed offsets, so after a crash (even SIGKILL) every line is in
the output exactly once. Forwarding checkpoints acknowledged frames only: at-least-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

from workbench.collector.checkpoint import Checkpoints, FileCheckpoint
from workbench.collector.config import CollectorConfig
from workbench.collector.errorlog import ParseErrorLog
from workbench.collector.events import ChangeNotifier
from workbench.collector.fingerprint import Fingerprint, file_key
from workbench.collector.metrics import CollectorMetrics
from workbench.collector.parse import Parsed, Parser
from workbench.collector.paths import expand
from workbench.collector.sinks import make_sink
from workbench.collector.sinks.base import Positions
from workbench.collector.watcher import WatchedFile

log = logging.getLogger("workbench.collector")
CHUNKS_PER_TURN = 8  # per file and loop turn, so one busy file does not starve the others


def service_of(path: str) -> str:
    """Default service of raw lines: the file name up to its first dot (``app.log.1`` -> ``app``)."""
    name = os.path.basename(path).split(".", 1)[0]
    return name[:256] or "raw"


class Collector:
    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.metrics = CollectorMetrics()
        self.parser = Parser(config)
        self.checkpoints = Checkpoints(config.state_dir, fsync=config.fsync)
        self.sink = make_sink(config)
        self.files: dict[str, WatchedFile] = {}
        self.http_port = config.http_port
        self.watching_events = False
        self._info: dict[str, tuple[str, Fingerprint]] = {}  # key -> (path, fingerprint), for checkpoints
        self._written: Positions = {}
        self._saved: tuple[Positions, int | None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._first_discovery = True
        self._tasks: list[asyncio.Task[None]] = []
        self._main: asyncio.Task[None] | None = None
        self._http: Any = None
        self._notifier: ChangeNotifier | None = None
        self._errors = ParseErrorLog(config.state_dir, config.max_error_samples)
        self._ignore = [config.state_dir] + ([config.resolved_output] if config.resolved_output else [])
        self.failure: BaseException | None = None

    # --- what the HTTP port shows (httpserve.StatusSource) -----------------------------------------
    def status_page(self) -> str:
        from workbench.httpserve import packaged_page

        return packaged_page("workbench.collector")

    def prometheus(self) -> str:
        return self.metrics.prometheus()

    def metrics_json(self) -> dict[str, Any]:
        return self.metrics.summary()

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "files_watched": self.metrics.files_watched}

    def effective_config(self) -> dict[str, Any]:
        """The whole config it runs with, the HTTP port it bound in place of a 0."""
        return {**self.config.model_dump(mode="json"), "http_port": self.http_port}

    # --- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoints.load()
        out = self.sink.path
        mark = (
            self.checkpoints.output_mark
            if out is not None and self.checkpoints.output_path == str(out)
            else None
        )
        await self.sink.open(mark)
        # record the output's starting mark before anything is read: a crash before the first
        # regular checkpoint then still cuts the output back to where this run began
        await self._commit()
        if cfg.http_port is not None:
            from workbench.httpserve import serve_status

            self._http, self.http_port = await serve_status(self, cfg.http_host, cfg.http_port)
        if cfg.use_watchdog:
            self._notifier = ChangeNotifier(cfg.inputs, self._wake.set, ignore=[str(p) for p in self._ignore])
            self.watching_events = self._notifier.start()
        self._discover()
        self._main = asyncio.create_task(self._run(), name="collector-tail")
        self._tasks.append(asyncio.create_task(self._ticker(), name="collector-ticker"))

    async def stop(self) -> None:
        """Stop reading, emit pending multi-line records, flush the output, write the checkpoint."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        if self._main is not None:
            try:
                # the loop may wait on a full forwarding window: give it a moment, then cancel
                await asyncio.wait_for(asyncio.shield(self._main), 5.0)
            except TimeoutError:
                self._main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._main
            except Exception as exc:  # already logged by the loop
                self.failure = exc
        if self._notifier is not None:
            self._notifier.stop()
        try:
            if self.failure is None:
                for wf in list(self.files.values()):
                    await self._deliver(wf, self.parser.flush(wf))
                # forwarding: a full window while the ingestor is down must not hang the stop
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._commit(), self.config.drain_timeout_seconds + 5.0)
            final = await self.sink.close()
            if final:
                self._save(final, None)
        finally:
            for wf in self.files.values():
                wf.close()
            self._errors.close()
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self._http is not None:
                await self._http.cleanup()
                self._http = None

    async def wait(self) -> None:
        """Until the tailing loop ends (only on stop or a fatal error)."""
        if self._main is not None:
            await asyncio.shield(self._main)

    # --- the loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        last_glob = last_commit = loop.time()
        try:
            while not self._stopping:
                now = loop.time()
                if self._wake.is_set() or now - last_glob >= cfg.glob_interval_seconds:
                    self._wake.clear()
                    self._discover()
                    last_glob = now
                progressed = False
                for wf in list(self.files.values()):
                    if self._stopping:
                        break
                    progressed |= await self._read(wf)
                await self._finish_quiet_files()
                if loop.time() - last_commit >= cfg.flush_interval_seconds:
                    await self._commit()
                    last_commit = loop.time()
                if not progressed and not self._stopping:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), cfg.poll_interval_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("collector: tailing stopped by an error")
            self.failure = exc
            raise

    async def _ticker(self) -> None:
        cfg = self.config
        last_stats = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            self._update_forward_metrics()
            self.metrics.tick()
            if cfg.stats_interval_seconds and time.monotonic() - last_stats >= cfg.stats_interval_seconds:
                last_stats = time.monotonic()
                print(self.metrics.stats_line(), flush=True)

    def _update_forward_metrics(self) -> None:
        stats = getattr(self.sink, "stats", None)
        if stats is not None:
            self.metrics.forward = {**stats, "unacked_frames": len(self.sink.unacked),  # type: ignore[attr-defined]
                                    "connected": self.sink.connected}  # type: ignore[attr-defined]  # fmt: skip

    # --- files ---------------------------------------------------------------------------------
    def _discover(self) -> None:
        paths = expand(self.config.inputs, ignore=self._ignore)
        found: dict[str, str] = {}  # key -> path
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            found.setdefault(file_key(st.st_dev, st.st_ino), path)
        for key, path in found.items():
            wf = self.files.get(key)
            if wf is not None:
                if wf.path != path:  # renamed and still matched by a glob: same file, same offset
                    wf.path = path
                wf.rotated = False
                continue
            wf = WatchedFile.open(path, self._start_offset)
            if wf is None or wf.key in self.files:
                if wf is not None:
                    wf.close()
                continue
            wf.service = self.config.default_service or service_of(path)
            self.files[wf.key] = wf
            self._info[wf.key] = (path, wf.fp)
            log.info("collector: following %s from offset %d", path, wf.offset)
        for key, wf in self.files.items():
            if key not in found and not wf.rotated:
                wf.rotated = True
                wf.last_growth = time.monotonic()
                self.metrics.add("rotations", 1, "rename")
                log.info("collector: %s was rotated or removed; reading it to its end", wf.path)
        self._first_discovery = False
        self.metrics.files_watched = len(self.files)
        if self._notifier is not None and self._notifier.active:
            try:
                self._notifier.refresh()
            except OSError as exc:
                log.warning("collector: cannot watch new directories: %s", exc)

    def _start_offset(self, key: str, fd: int, st: os.stat_result) -> int:
        cp = self.checkpoints.get(key)
        if cp is not None and cp.offset <= st.st_size and Fingerprint(cp.fp_length, cp.fp).matches(fd):
            return cp.offset
        if self._first_discovery and self.config.read_from == "end" and cp is None:
            return st.st_size
        return 0

    async def _read(self, wf: WatchedFile) -> bool:
        try:
            if wf.check():
                self.metrics.add("rotations", 1, "truncate")
                log.info("collector: %s was truncated; reading it again from the start", wf.path)
                self._info[wf.key] = (wf.path, wf.fp)
                self._written[wf.key] = 0
        except OSError as exc:
            log.warning("collector: cannot stat %s: %s", wf.path, exc)
            return False
        progressed = False
        loop = asyncio.get_running_loop()
        for _ in range(CHUNKS_PER_TURN):
            try:
                chunk = wf.read(self.config.chunk_bytes, self.config.max_line_bytes)
            except OSError as exc:
                log.warning("collector: cannot read %s: %s", wf.path, exc)
                break
            if chunk is None:
                break
            progressed = True
            self.metrics.add_file("bytes", wf.path, len(chunk.data))
            await self._deliver(wf, self.parser.parse(wf, chunk, loop.time()))
            if self._stopping:
                break
            await asyncio.sleep(0)  # let HTTP and the ticker run between chunks
        return progressed

    async def _finish_quiet_files(self) -> None:
        cfg = self.config
        now = time.monotonic()
        loop_now = asyncio.get_running_loop().time()
        for key, wf in list(self.files.items()):
            if (
                wf.pending.lines
                and not wf.has_more()
                and loop_now - wf.pending.updated >= cfg.multiline_timeout_seconds
            ):
                await self._deliver(wf, self.parser.flush(wf))
            partial_wait = cfg.partial_line_timeout_seconds
            if (
                wf.partial
                and partial_wait is not None
                and not wf.has_more()
                and now - wf.last_growth >= partial_wait
            ):
                chunk = wf.take_partial()
                if chunk is not None:
                    await self._deliver(wf, self.parser.parse(wf, chunk, loop_now))
            if wf.rotated and not wf.has_more() and now - wf.last_growth >= cfg.rotate_wait_seconds:
                chunk = wf.take_partial()
                if chunk is not None:
                    await self._deliver(wf, self.parser.parse(wf, chunk, loop_now))
                await self._deliver(wf, self.parser.flush(wf))
                wf.close()
                del self.files[key]
                self.metrics.files_watched = len(self.files)
                log.info("collector: finished rotated file %s", wf.path)

    # --- delivery ------------------------------------------------------------------------------
    async def _deliver(self, wf: WatchedFile, parsed: Parsed) -> None:
        m = self.metrics
        if parsed.records:
            m.add_file("lines", wf.path, parsed.records)
        if parsed.filtered:
            m.add("filtered", parsed.filtered)
        if parsed.dropped:
            m.add("dropped", parsed.dropped)
        for level, n in parsed.levels.items():
            m.add("entries", n, level)
        for tag, n in parsed.tags.items():
            m.add("tags", n, tag)
        for err in parsed.errors:
            m.add("parse_errors", 1, err.reason)
            m.recent_errors.append(self._errors.record(wf.path, err.reason, err.detail, err.line))
        positions = {wf.key: wf.consumed}
        self._written.update(positions)
        self._info[wf.key] = (wf.path, wf.fp)
        await self.sink.write(parsed.entries, positions)

    async def _commit(self) -> None:
        positions, mark = await self.sink.commit()
        self._errors.flush()
        self._save(dict(self._written) if positions is None else positions, mark)

    def _save(self, positions: Positions, mark: int | None) -> None:
        now = time.time()
        changed = self._saved is None or self._saved[1] != mark
        for key, offset in positions.items():
            path, fp = self._info[key]
            old = self.checkpoints.get(key)
            if old is None or old.offset != offset or old.path != path or old.fp != fp.digest:
                changed = True
            self.checkpoints.update(key, FileCheckpoint(path, offset, fp.length, fp.digest, now))
        if not changed:
            return
        out = self.sink.path
        self.checkpoints.save(str(out) if out is not None else None, mark)
        self._saved = (dict(positions), mark)
        self.metrics.add("checkpoints", 1)


def run_until_signalled(config: CollectorConfig, ready: Any = None) -> int:
    """Run a collector in this process until SIGINT/SIGTERM; 0 after a clean stop."""
    from workbench import contract, eventloop

    async def main() -> int:
        stop = eventloop.stop_event()
        collector = Collector(config)
        try:
            await collector.start()
        except BaseException:
            await collector.stop()
            raise
        out = collector.sink.path or f"{config.forward_host}:{config.forward_port}"
        print(f"[READY] http={collector.http_port} output={out} files={len(collector.files)} "
              f"events={'watchdog' if collector.watching_events else 'polling'}", flush=True)  # fmt: skip
        contract.emit("ready", "collector", http_port=collector.http_port, files=len(collector.files),
                      config=collector.effective_config())  # fmt: skip
        waiter = asyncio.create_task(collector.wait())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        await collector.stop()
        with contextlib.suppress(BaseException):
            await waiter
        print(collector.metrics.stats_line(), flush=True)
        contract.emit("summary", "collector", **collector.metrics.summary(),
                      failure=None if collector.failure is None else str(collector.failure))  # fmt: skip
        return 1 if collector.failure is not None else 0

    return eventloop.run(main())


def default_state_dir(output: Path | None) -> Path:
    return (output.parent if output is not None else Path("collected_logs")) / "state"
