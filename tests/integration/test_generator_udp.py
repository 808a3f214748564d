"""UDP: a real socket on 127.0.0.1 receives every datagram; none is over 1400 bytes."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import msgspec
import pytest

from workbench import codecs, model
from workbench.generator import Generator, GeneratorConfig


class _Receiver:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.sock.recv(65535))
            except TimeoutError:
                continue

    def close(self, expect: int) -> None:
        for _ in range(100):
            if sum(d.count(b"\n") for d in self.datagrams) >= expect:
                break
            self._stop.wait(0.02)
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.mark.parametrize("fmt", ["json", "syslog", "raw"])
def test_every_datagram_fits_and_every_seq_arrives(fmt: str) -> None:
    rx = _Receiver()
    cfg = GeneratorConfig(transport="udp", udp_port=rx.port, format=fmt, count=3000, batch_size=100,
                          rate_per_second=60_000, stats_interval_seconds=0)  # fmt: skip
    summary = asyncio.run(Generator(cfg).run())
    rx.close(3000)
    assert rx.datagrams and max(len(d) for d in rx.datagrams) <= 1400
    assert all(d.endswith(b"\n") for d in rx.datagrams)  # cut at record boundaries
    seqs = []
    for d in rx.datagrams:
        decoded = codecs.get(fmt).decode(d)
        assert not decoded.errors
        seqs.extend(e.seq for e in decoded.entries)
    assert sorted(seqs) == list(range(3000))
    t = summary.totals
    assert (
        t.sent_logs_total == 3000
        and t.udp_datagrams_total == len(rx.datagrams)
        and t.oversize_records_total == 0
    )


def test_oversize_records_are_dropped_and_counted(tmp_path: Path) -> None:
    replay = tmp_path / "big.log"
    replay.write_text("".join(f"line {i} {'x' * (2000 if i % 10 == 0 else 10)}\n" for i in range(100)))
    rx = _Receiver()
    cfg = GeneratorConfig(transport="udp", udp_port=rx.port, format="json", count=100, replay_file=replay,
                          pool_logs=100, interval_ms=0, stats_interval_seconds=0)  # fmt: skip
    summary = asyncio.run(Generator(cfg).run())
    rx.close(90)
    entries = [e for d in rx.datagrams for e in msgspec.json.Decoder(model.LogEntry).decode_lines(d)]
    assert max(len(d) for d in rx.datagrams) <= 1400
    assert summary.totals.oversize_records_total == 10 and summary.totals.sent_logs_total == 90
    assert sorted(e.seq for e in entries) == [s for s in range(100) if s % 10 != 0]
