"""The generator's stream protocols (Forward, GELF over TCP and UDP) and its compressed request
bodies (Loki's snappy protobuf, gzip) against a real in-process ingestor on free ports: every
(client_id, seq) is stored exactly once; Forward in ack mode gets an ack for every log; GELF
messages larger than a datagram arrive as chunks and are put back together; pacing holds for
UDP as for the others."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import assert_exactly_once, config, read_stored, run, totals, wait_counts

from workbench.generator import Generator, GeneratorConfig
from workbench.ingestor.service import Ingestor

COUNT = 2000


async def _send(data_dir: Path, port: str = "tcp", **gen: Any) -> dict[str, Any]:
    """Run the generator into an ingestor with the Forward and GELF ports open; wait (bounded)
    until what it sent is stored. ``port``: the universal port, ``forward`` or ``gelf``."""
    async with Ingestor(config(data_dir, forward_port=0, gelf_port=0)) as ing:
        ports = {"tcp": ing.tcp_port, "forward": ing.standard_ports["forward_port"],
                 "gelf": ing.standard_ports["gelf_port"]}  # fmt: skip
        cfg = GeneratorConfig(tcp_port=ports[port], udp_port=ing.standard_ports["gelf_port"], ca_file=ing.cert_path,
                              stats_interval_seconds=0, retry_backoff_seconds=0.01, **{"interval_ms": 0, **gen})  # fmt: skip
        summary = (await Generator(cfg).run()).as_dict()
        await wait_counts(ing, logs=summary["totals"]["sent_logs_total"])
        summary["ingestor"] = totals(ing)
    return summary


def _stored_once(
    data_dir: Path, summary: dict[str, Any], fmt: str, count: int = COUNT
) -> list[dict[str, Any]]:
    t = summary["totals"]
    assert t["sent_logs_total"] == count and t["failed_logs_total"] == 0
    stored = read_stored(data_dir)
    assert_exactly_once(stored, {c["client_id"]: count // 2 for c in summary["clients"]})
    assert {rec["format"] for rec in stored} == {fmt}
    assert summary["ingestor"]["rejected"] == 0
    rec = stored[0]
    assert rec["message"] and rec["service"] and rec["host"] and rec["timestamp"] <= rec["received_at"]
    return stored


@pytest.mark.parametrize(
    "protocol, port, fmt, transport",
    [
        ("forward", "tcp", "forward", "tls"),
        ("forward", "forward", "forward", "tls"),
        ("gelf-tcp", "tcp", "gelf", "tls"),
        ("gelf-tcp", "gelf", "gelf", "tls"),
        ("loki-protobuf", "tcp", "loki", "tls"),
    ],
)
def test_each_stream_protocol_stores_every_log_once(tmp_path: Path, protocol: str, port: str, fmt: str,
                                                    transport: str) -> None:  # fmt: skip
    # 2 clients of 1,000 in messages of 300: the last one of each cut to 100 (encoded again)
    summary = run(_send(tmp_path, port, protocol=protocol, count=COUNT, clients=2, batch_size=300))
    assert summary["protocol"] == protocol and summary["transport"] == transport
    _stored_once(tmp_path, summary, fmt)
    t = summary["totals"]
    if protocol == "loki-protobuf":  # each answer an ack
        assert summary["ack"] and t["acked_logs_total"] == COUNT and summary["responses"] == {"http-204": 8}
    else:  # no acks asked for (Forward) or none in the protocol (GELF): sent is what was written
        assert not summary["ack"] and t["acked_logs_total"] == 0 and t["sent_batches_total"] == 8


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_forward_in_ack_mode_gets_every_ack(tmp_path: Path, compression: str) -> None:
    summary = run(_send(tmp_path, "forward", protocol="forward", ack=True, compression=compression, count=COUNT,
                        clients=2, batch_size=300))  # fmt: skip
    t = summary["totals"]
    assert summary["ack"] and t["acked_logs_total"] == COUNT and t["resent_frames_total"] == 0
    assert all(
        c["acked_logs"] == c["sent_logs"] == COUNT // 2 and c["unacked_logs"] == 0 for c in summary["clients"]
    )
    _stored_once(tmp_path, summary, "forward")
    if compression == "gzip":  # CompressedPackedForward on the wire: far fewer bytes than the pool's
        assert t["sent_bytes_total"] < summary["ingestor"]["bytes"] * 2


def test_gelf_udp_stores_every_log_once_with_its_fields(tmp_path: Path) -> None:
    summary = run(_send(tmp_path, protocol="gelf-udp", count=COUNT, clients=2, batch_size=100,
                        rate_per_second=20_000))  # fmt: skip
    assert summary["transport"] == "udp" and not summary["ack"]
    assert summary["totals"]["udp_datagrams_total"] == COUNT  # one datagram per message, none chunked
    stored = _stored_once(tmp_path, summary, "gelf")
    assert {rec["transport"] for rec in stored} == {"udp"}
    assert all(rec["level"] in ("DEBUG", "INFO", "WARN", "ERROR") for rec in stored)


@pytest.mark.parametrize("compression", ["none", "zlib", "gzip"])
def test_gelf_udp_messages_larger_than_a_datagram_are_chunked_and_reassembled(tmp_path: Path,
                                                                               compression: str) -> None:  # fmt: skip
    # replayed lines of 3,000-6,000 bytes: 3-5 chunks of 1,400 bytes each uncompressed; 600 of them,
    # paced so that the in-process ingestor (one loop with the generator) keeps up on a busy machine
    lines = [
        f"2025-06-30T10:00:{i % 60:02d}Z INFO line {i} " + "abcdefghij" * (300 + 30 * (i % 11))
        for i in range(64)
    ]
    (tmp_path / "long.log").write_text("\n".join(lines) + "\n")
    data_dir = tmp_path / "data"
    # zlib and gzip shrink these to a few hundred bytes: a small datagram still makes them chunk
    size = 1400 if compression == "none" else 120
    summary = run(_send(data_dir, protocol="gelf-udp", compression=compression, count=600, clients=2,
                        batch_size=10, rate_per_second=1_000, replay_file=tmp_path / "long.log",
                        max_datagram_bytes=size))  # fmt: skip
    t = summary["totals"]
    assert t["udp_datagrams_total"] >= 2 * 600 and t["oversize_records_total"] == 0
    stored = _stored_once(data_dir, summary, "gelf", count=600)
    assert min(len(rec["message"]) for rec in stored) > 3000
    assert summary["ingestor"]["dropped"] == 0


def test_gelf_udp_keeps_its_pace(tmp_path: Path) -> None:
    summary = run(
        _send(tmp_path, protocol="gelf-udp", count=COUNT, clients=2, batch_size=50, rate_per_second=4000)
    )
    # 2,000 logs at 4,000/s: half a second from the clock's start (the pool is built before it)
    assert 0.45 <= summary["duration_seconds"] <= 3.0, summary["duration_seconds"]
    _stored_once(tmp_path, summary, "gelf")


@pytest.mark.parametrize("protocol", ["otlp-http", "otlp-grpc", "otlp-json", "hec", "elasticsearch", "loki",
                                      "loki-protobuf"])  # fmt: skip
def test_gzip_request_bodies_are_stored_once_and_smaller_on_the_wire(tmp_path: Path, protocol: str) -> None:
    summary = run(
        _send(tmp_path, protocol=protocol, compression="gzip", count=COUNT, clients=2, batch_size=300)
    )
    t = summary["totals"]
    assert t["acked_logs_total"] == COUNT and all(
        k.endswith(("200", "204", "grpc-0")) for k in summary["responses"]
    )
    _stored_once(tmp_path, summary, protocol.split("-")[0])
    assert t["sent_bytes_total"] < 100 * COUNT  # what went on the wire, gzipped (the pool holds ~300 B a log)


@pytest.mark.slow
def test_the_cli_sends_forward_with_acks_and_gelf_udp_to_the_ports_given(tmp_path: Path) -> None:
    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Ingestor(config(tmp_path / "data", forward_port=0, gelf_port=0)) as ing:
            out = []
            for name, flags in (
                ("forward", ["--protocol", "forward", "--ack", "--batch", "1000", "--tcp-port",
                             str(ing.standard_ports["forward_port"]), "--ca", str(ing.cert_path)]),
                ("gelf", ["--protocol", "gelf-udp", "--batch", "100", "--rate", "20000", "--udp-port",
                          str(ing.standard_ports["gelf_port"])]),
            ):  # fmt: skip
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "workbench", "generate", *flags, "--count", str(COUNT), "--clients", "2",
                    "--interval", "0", "--stats-interval", "0", "--client-prefix", name,
                    "--summary-json", str(tmp_path / f"{name}.json"),
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                _, err = await asyncio.wait_for(proc.communicate(), 60)
                assert proc.returncode == 0, err.decode()
                out.append(json.loads((tmp_path / f"{name}.json").read_text()))
            await wait_counts(ing, logs=2 * COUNT)
            return out[0], out[1]

    forward, gelf = run(go())
    assert forward["ack"] and forward["totals"]["acked_logs_total"] == COUNT
    assert gelf["transport"] == "udp" and gelf["totals"]["sent_logs_total"] == COUNT
    stored = read_stored(tmp_path / "data")
    assert_exactly_once(stored, {c["client_id"]: COUNT // 2 for s in (forward, gelf) for c in s["clients"]})


def test_forward_resends_what_a_lost_connection_left_unacked(tmp_path: Path) -> None:
    """A Forward receiver that drops the first connection after one message, unacked, then acks
    everything: that message is written again on the new connection, and every log ends acked."""
    import msgpack

    from workbench.shippers.forward import decode_event_time

    seen: list[tuple[int, str, int]] = []  # (connection, chunk, entries)

    async def go() -> dict[str, Any]:
        connections = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            conn = connections
            unpacker = msgpack.Unpacker(ext_hook=decode_event_time)
            while data := await reader.read(1 << 16):
                unpacker.feed(data)
                for _tag, _entries, option in unpacker:
                    seen.append((conn, option["chunk"], option["size"]))
                    if conn == 1:
                        writer.close()  # the first message is never acked
                        return
                    writer.write(msgpack.packb({"ack": option["chunk"]}))
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        cfg = GeneratorConfig(protocol="forward", ack=True, tls=False, tcp_port=port, count=1000, batch_size=100,
                              interval_ms=0, stats_interval_seconds=0, retry_backoff_seconds=0.01)  # fmt: skip
        summary = (await Generator(cfg).run()).as_dict()
        server.close()
        return summary

    summary = run(go())
    t = summary["totals"]
    assert t["acked_logs_total"] == 1000 and t["reconnects_total"] == 1 and t["resent_frames_total"] >= 1
    first = seen[0][1]
    assert [c for conn, c, _ in seen if conn == 1] == [first]
    assert [c for conn, c, _ in seen if conn > 1].count(first) == 1  # resent once, then acked
    assert len({c for _, c, _ in seen}) == 10 and first == f"{0:016x}"
