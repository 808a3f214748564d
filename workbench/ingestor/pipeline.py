"""The per-worker write pipeline: a bounded queue in front of a writer thread.

The event loop decodes and encodes batches and ``submit``s them; the writer thread appends them
to the segment file (``os.write`` releases the GIL), at least every ``flush_interval_seconds``,
then counts them as stored and runs their callbacks (ack lines) back on the loop. Flow control:
over ``max_queue_bytes`` of waiting stored lines (or ``max_queue_logs`` logs), ``block`` pauses
every TCP connection of the worker until the queue is half empty on both, ``drop`` drops the
batch and counts it. The bound in bytes is what keeps memory bounded whatever the log size. A failing write (disk full) is
retried with backoff (0.1 s doubling to 1 s), loudly (an error line, ``write_errors``, the
``write_blocked`` gauge); every TCP connection is paused meanwhile and nothing queued is dropped.
A retry appends only what the failed write had not (``SegmentWriteError.written``), so no line is
stored twice and none torn. The first batch after a quiet spell waits ``LINGER_SECONDS`` (2 ms)
for the next ones, so small reads do not cost a thread wake-up and a ``write()`` each.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from workbench.ingestor.metrics import WorkerMetrics
from workbench.storage.segments import SegmentWriter

log = logging.getLogger("workbench.ingestor")
# How long the writer lets a first batch wait for company. Without it, a sender of small reads
# (loggen: one log per TLS record) made the writer wake, write and sleep once per read: a
# thread wake-up, a GIL hand-over and a write() for every few logs (py-spy: 9-18 % of a worker).
LINGER_SECONDS = 0.002


@dataclass(slots=True)
class Batch:
    data: bytes  # JSONL of normalised entries, every line complete
    logs: int
    fmt: str
    transport: str
    host: str
    seconds: float  # decode + validate + encode time
    on_written: Callable[[], None] | None = None


@dataclass
class FlowControl:
    """The transports a worker pauses when its queue is full."""

    transports: set[asyncio.BaseTransport] = field(default_factory=set)
    paused: bool = False

    def pause(self) -> None:
        if not self.paused:
            self.paused = True
            for t in list(self.transports):
                _pause(t)

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            for t in list(self.transports):
                _resume(t)


def _pause(t: asyncio.BaseTransport) -> None:
    pause = getattr(t, "pause_reading", None)
    if pause is not None and not t.is_closing():
        pause()


def _resume(t: asyncio.BaseTransport) -> None:
    resume = getattr(t, "resume_reading", None)
    if resume is not None and not t.is_closing():
        resume()


class Pipeline:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        writer: SegmentWriter,
        metrics: WorkerMetrics,
        max_queue_logs: int,
        overflow: str = "block",
        flush_interval_seconds: float = 1.0,
        flush_bytes: int = 4 << 20,
        max_queue_bytes: int = 32 << 20,
    ) -> None:
        self.loop = loop
        self.writer = writer
        self.metrics = metrics
        self.max_queue_logs = max_queue_logs
        self.max_queue_bytes = max_queue_bytes
        self.overflow = overflow
        self.flush_interval = flush_interval_seconds
        self.flush_bytes = flush_bytes
        self.flow = FlowControl()
        self.queue: deque[Batch] = deque()
        self.queued_logs = 0
        self.queued_acks = 0  # queued batches a sender waits on (on_written): write them promptly
        self.queued_bytes = 0
        self.write_error: str | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def full(self) -> bool:
        """At a bound (bytes or logs): TCP is paused; UDP, which cannot be, drops (counted)."""
        return self.queued_bytes >= self.max_queue_bytes or self.queued_logs >= self.max_queue_logs

    def _over(self, logs: int, size: int) -> bool:
        return size > self.max_queue_bytes or logs > self.max_queue_logs

    def _half_empty(self) -> bool:
        return self.queued_logs <= self.max_queue_logs // 2 and self.queued_bytes <= self.max_queue_bytes // 2

    def submit(self, batch: Batch) -> bool:
        """Queue a batch (loop thread). False when it was dropped for overflow."""
        if (
            self.overflow == "drop"
            and self.queued_logs
            and self._over(self.queued_logs + batch.logs, self.queued_bytes + len(batch.data))
        ):
            self.metrics.add("dropped", batch.logs, "queue_full")
            return False
        with self._cond:
            was_empty = not self.queue
            self.queue.append(batch)
            self.queued_logs += batch.logs
            self.queued_bytes += len(batch.data)
            if batch.on_written is not None:
                self.queued_acks += 1
            if was_empty or batch.on_written is not None or self.queued_bytes >= self.flush_bytes:
                self._cond.notify()
        g = self.metrics.gauges
        g["queue_length"] = self.queued_logs
        g["queue_bytes"] = self.queued_bytes
        if self.queued_logs > g["queue_length_max"]:
            g["queue_length_max"] = self.queued_logs
        if self.queued_bytes > g["queue_bytes_max"]:
            g["queue_bytes_max"] = self.queued_bytes
        if self._over(self.queued_logs, self.queued_bytes):
            self.flow.pause()
        return True

    def _take(self) -> list[Batch]:
        # a batch a sender waits on (an HTTP answer, an ack line) is written at once: with one
        # request in flight per connection any linger, not decoding, sets the pace (a 2 ms linger
        # doubled an OTLP/HTTP round trip, 3.6 -> 7 ms); under load the queue fills while a write
        # runs, so writes stay large. Batches nobody waits on linger for company.
        ready = lambda: self.queued_bytes >= self.flush_bytes or self.queued_acks or self._stopping  # noqa: E731
        with self._cond:
            if not self.queue and not self._stopping:
                self._cond.wait(self.flush_interval)
                if self.queue:  # the first batch after a quiet spell: let the next reads join it
                    self._cond.wait_for(ready, LINGER_SECONDS)
            elif not ready():
                self._cond.wait_for(ready, 0.05)
            batches = list(self.queue)
            return batches

    def _run(self) -> None:
        while True:
            batches = self._take()
            if batches:
                self._write(batches)
            elif self._stopping:
                return

    def _write(self, batches: list[Batch]) -> None:
        data = b"".join(b.data for b in batches)
        size = len(data)
        delay = 0.1
        while True:
            try:
                self.writer.write(data)
                break
            except OSError as exc:
                # keep what is not written yet (the lines before it are in the file: not twice)
                data = data[getattr(exc, "written", 0) :]
                self.metrics.add("write_errors")
                self.metrics.gauges["write_blocked"] = 1.0
                if self.write_error is None:
                    log.error("WRITE FAILED in %s: %s; reading is paused, %d queued logs are kept and "
                              "retried until it works again", self.writer.directory, exc, self.queued_logs)  # fmt: skip
                self.write_error = str(exc)
                self.loop.call_soon_threadsafe(self.flow.pause)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                if self._stopping and self._give_up():
                    return
        if self.write_error is not None:
            log.warning("writing to %s works again; reading resumes", self.writer.directory)
            self.write_error = None
            self.metrics.gauges["write_blocked"] = 0.0
        logs = 0
        for b in batches:
            self.metrics.stored(b.fmt, b.transport, b.host, b.logs, b.seconds)
            logs += b.logs
        self.metrics.counters["rotations"][()] = self.writer.rotations
        callbacks = [b.on_written for b in batches if b.on_written is not None]
        with self._cond:
            for _ in batches:
                self.queue.popleft()
            self.queued_logs -= logs
            self.queued_bytes -= size
            self.queued_acks -= len(callbacks)
            queued = self.queued_logs
        self.metrics.gauges["queue_length"] = queued
        self.metrics.gauges["queue_bytes"] = self.queued_bytes
        if callbacks or (self.flow.paused and self._half_empty()):
            self.loop.call_soon_threadsafe(self._after_write, callbacks)

    def _after_write(self, callbacks: list[Callable[[], None]]) -> None:
        for cb in callbacks:
            cb()
        if self.flow.paused and self._half_empty() and self.write_error is None:
            self.flow.resume()

    def _give_up(self) -> bool:
        """While stopping, a write that keeps failing is given up after a while (logs stay counted as queued)."""
        return time.monotonic() - self._stop_started > 30.0

    def stop(self, finish: bool = True) -> None:
        """Write everything queued, close the segment (finishing it), wait for compressions."""
        self._stop_started = time.monotonic()
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()
        self.writer.close(finish=finish)
