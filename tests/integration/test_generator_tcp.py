"""The generator against the blackhole over real sockets: TLS, ack mode, drops and retries.

The blackhole runs with ``verify=True``: it decodes every payload and keeps each client's seqs,
so loss, duplicates and reordering are counted exactly.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import ConfigError
from workbench.generator import Blackhole, BlackholeConfig, Generator, GeneratorConfig


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _exchange(hole_cfg: BlackholeConfig, **gen: Any) -> tuple[dict, dict]:
    async with Blackhole(hole_cfg) as hole:
        cert = (
            {"ca_file": hole.cert_file}
            if hole_cfg.tls and not gen.get("insecure") and "ca_file" not in gen
            else {}
        )
        cfg = GeneratorConfig(tcp_port=hole.tcp_port, stats_interval_seconds=0, **cert, **gen)
        summary = await Generator(cfg).run()
        for _ in range(200):  # the last bytes may still be in flight to the blackhole
            if hole.totals.received_logs_total >= summary.totals.sent_logs_total:
                break
            await asyncio.sleep(0.01)
        return summary.as_dict(), hole.report()


def _assert_every_seq(summary: dict, report: dict, per_client: int) -> None:
    assert len(report["clients"]) == len(summary["clients"])
    for c in summary["clients"]:
        got = report["clients"][c["client_id"]]
        assert got == {"received": per_client, "distinct": per_client, "duplicates": 0, "missing": 0,
                       "max_seq": per_client - 1, "reordered": 0}  # fmt: skip
        assert (c["first_seq"], c["last_seq"], c["sent_logs"]) == (0, per_client - 1, per_client)


@pytest.mark.parametrize("fmt", ["json", "proto", "avro", "syslog", "raw", "journald"])
def test_tls_with_the_self_signed_ca(tmp_path: Path, fmt: str) -> None:
    hole = BlackholeConfig(tcp_port=0, tls_dir=tmp_path / "tls", verify=True)
    summary, report = _run(_exchange(hole, format=fmt, count=3000, clients=2, batch_size=64, interval_ms=0))
    _assert_every_seq(summary, report, 1500)
    assert summary["transport"] == "tls" and summary["totals"]["failed_logs_total"] == 0
    assert report["invalid"] == 0


def test_tls_insecure_and_untrusted(tmp_path: Path) -> None:
    hole = BlackholeConfig(tcp_port=0, tls_dir=tmp_path / "tls", verify=True)
    summary, report = _run(_exchange(hole, insecure=True, count=500, interval_ms=0))
    _assert_every_seq(summary, report, 500)
    with pytest.raises(ConfigError, match="not trusted"):
        _run(_exchange(hole, tls=True, count=10, interval_ms=0, ca_file=None))


def test_plain_tcp_rate_and_clients() -> None:
    hole = BlackholeConfig(tcp_port=0, tls=False, verify=True)
    summary, report = _run(_exchange(hole, tls=False, count=2000, clients=4, rate_per_second=20_000,
                                     batch_size=50))  # fmt: skip
    _assert_every_seq(summary, report, 500)
    assert 0.05 < summary["duration_seconds"] < 2.0  # ~0.1 s at 20k logs/s


def test_ack_mode_resends_only_unacked_frames(tmp_path: Path) -> None:
    # the blackhole processes and acks 7 frames per connection, then drops it, 3 times; the
    # generator resends what was not acked on the next connection: every seq arrives exactly once
    hole = BlackholeConfig(tcp_port=0, tls_dir=tmp_path / "tls", verify=True, drop_after_frames=7,
                           drop_connections=3)  # fmt: skip
    summary, report = _run(_exchange(hole, format="proto", ack=True, count=4000, batch_size=50, interval_ms=0,
                                     retry_backoff_seconds=0.01))  # fmt: skip
    _assert_every_seq(summary, report, 4000)
    t = summary["totals"]
    assert report["totals"]["dropped_connections_total"] == 3 and t["reconnects_total"] == 3
    assert t["acked_logs_total"] == 4000 and summary["clients"][0]["acked_logs"] == 4000
    assert t["resent_frames_total"] > 0 and t["resent_logs_total"] == 50 * t["resent_frames_total"]
    # frames the receiver processed were never resent (it would have counted duplicates)
    assert report["totals"]["received_frames_total"] == 4000 // 50


def test_retry_after_the_receiver_drops_the_connection(tmp_path: Path) -> None:
    # without acks, a paced sender notices the dropped connection before its next write,
    # reconnects and goes on: nothing lost
    hole = BlackholeConfig(tcp_port=0, tls_dir=tmp_path / "tls", verify=True, drop_after_frames=5,
                           drop_connections=2)  # fmt: skip
    summary, report = _run(_exchange(hole, format="avro", count=600, batch_size=20, interval_ms=10,
                                     retry_backoff_seconds=0.01))  # fmt: skip
    _assert_every_seq(summary, report, 600)
    assert summary["totals"]["reconnects_total"] == 2


def test_unreachable_receiver_counts_failed_batches() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        cfg = GeneratorConfig(tcp_port=port, tls=False, count=250, interval_ms=0, retries=2,
                              retry_backoff_seconds=0.01, stats_interval_seconds=0)  # fmt: skip
        summary = _run(Generator(cfg).run()).as_dict()
    t = summary["totals"]
    assert t["sent_logs_total"] == 0 and t["failed_logs_total"] == 250
    assert t["failed_batches_total"] == 3 and t["retries_total"] == 2 * 1  # one chunk of 3 batches


def test_clients_spread_round_robin_over_targets(tmp_path: Path) -> None:
    """With several receivers, client n sends to the (n mod k)-th: no load balancer needed."""

    async def exchange() -> tuple[dict, list[dict]]:
        async with (
            Blackhole(BlackholeConfig(tcp_port=0, tls=False, verify=True)) as a,
            Blackhole(BlackholeConfig(tcp_port=0, tls=False, verify=True)) as b,
        ):
            targets = (("127.0.0.1", a.tcp_port), ("127.0.0.1", b.tcp_port))
            cfg = GeneratorConfig(targets=targets, tls=False, count=4000, clients=4, interval_ms=0,
                                  client_prefix="rr", stats_interval_seconds=0)  # fmt: skip
            summary = await Generator(cfg).run()
            for _ in range(200):
                if a.totals.received_logs_total + b.totals.received_logs_total >= 4000:
                    break
                await asyncio.sleep(0.01)
            return summary.as_dict(), [a.report(), b.report()]

    summary, (first, second) = _run(exchange())
    assert sorted(first["clients"]) == ["rr-0", "rr-2"] and sorted(second["clients"]) == ["rr-1", "rr-3"]
    for report in (first, second):
        assert all(c["distinct"] == 1000 and c["missing"] == 0 for c in report["clients"].values())
    assert summary["totals"]["sent_logs_total"] == 4000
