"""Fluent's Forward protocol into the ingestor, sent by real clients: the Python ``fluent-logger``
(Message mode, EventTime and integer times) and Fluent's Node.js logger with
``requireAckResponse`` (PackedForward and CompressedPackedForward over TLS, with the shared-key
handshake); then what the real clients cannot send: broken MessagePack, a wrong shared key, a
gzip bomb, each counted with the service up afterwards; and the UDP heartbeat."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest
from fluent import sender

from tests.integration.ingest_helpers import (
    assert_exactly_once,
    config,
    read_stored,
    run,
    totals,
    wait_counts,
)
from workbench.ingestor.service import Ingestor

HOST = "127.0.0.1"
NODE_CLIENTS = Path(__file__).resolve().parents[1] / "clients" / "node"


def _python_logger(port: int, client: str, n: int, nanos: bool) -> None:
    logger = sender.FluentSender("app", host=HOST, port=port, nanosecond_precision=nanos, timeout=10)
    try:
        for i in range(n):
            record = {"seq": i, "client_id": client, "message": f"paid {i}", "level": "warn", "user_id": "u7"}
            assert logger.emit("web", record), logger.last_error
    finally:
        logger.close()


def _requests(ing: Ingestor) -> dict[str, float]:
    counters: dict[str, float] = {}
    for line in ing.prometheus().splitlines():
        if line.startswith("ingest_requests_total{") and 'protocol="forward"' in line:
            status = line.split('status="', 1)[1].split('"', 1)[0]
            counters[status] = float(line.rsplit(" ", 1)[1])
    return counters


def test_the_python_fluent_logger_on_both_ports_stores_every_event_once(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, tls=False, forward_port=0)) as ing:
            await asyncio.to_thread(_python_logger, ing.standard_ports["forward_port"], "evtime", 300, True)
            await asyncio.to_thread(_python_logger, ing.tcp_port, "inttime", 300, False)  # detected
            await wait_counts(ing, logs=600, timeout=20)
        stored = read_stored(tmp_path)
        assert_exactly_once(stored, {"evtime": 300, "inttime": 300})
        rec = next(r for r in stored if r["client_id"] == "evtime" and r["seq"] == 3)
        assert (rec["message"], rec["level"], rec["service"], rec["user_id"]) == (
            "paid 3",
            "WARN",
            "app.web",
            "u7",
        )
        assert rec["attributes"] == {"tag": "app.web"} and rec["format"] == "forward"
        assert rec["timestamp"] != rec["timestamp"][:19] + "Z"  # EventTime keeps the fraction
        assert all(r["timestamp"].endswith(":00Z") or len(r["timestamp"]) == 20
                   for r in stored if r["client_id"] == "inttime")  # fmt: skip

    run(main())


@pytest.mark.parametrize("mode", ["PackedForward", "CompressedPackedForward", "Message"])
def test_the_node_logger_gets_an_ack_for_every_event_over_tls_with_a_shared_key(
    tmp_path: Path, mode: str
) -> None:
    assert (NODE_CLIENTS / "node_modules" / "fluent-logger").is_dir(), "run `make clients`"

    async def main() -> None:
        async with Ingestor(config(tmp_path, forward_port=0, forward_shared_key="s3cret")) as ing:
            port = ing.standard_ports["forward_port"]
            cmd = ["node", str(NODE_CLIENTS / "fluent_send.mjs"), str(port), "400", "js", mode,
                   "--ca", str(ing.cert_path), "--key", "s3cret"]  # fmt: skip
            done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stdout + done.stderr[-2000:]
            assert json.loads(done.stdout.splitlines()[-1]) == {"sent": 400, "acked": 400, "failed": 0}
            assert totals(ing)["logs"] == 400  # acked means written
        stored = read_stored(tmp_path)
        assert_exactly_once(stored, {"js": 400})
        assert {r["transport"] for r in stored} == {"tls"}
        assert next(r for r in stored if r["seq"] == 3)["level"] == "ERROR"

    run(main())


def test_a_wrong_shared_key_is_refused_and_nothing_stored(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, forward_port=0, forward_shared_key="s3cret")) as ing:
            port = ing.standard_ports["forward_port"]
            cmd = ["node", str(NODE_CLIENTS / "fluent_send.mjs"), str(port), "5", "js", "PackedForward",
                   "--ca", str(ing.cert_path), "--key", "wrong", "--wait", "4"]  # fmt: skip
            done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=60)
            assert done.returncode != 0 and "mismatch" in done.stderr, done.stderr[-2000:]
            assert _requests(ing).get("unauthorized", 0) >= 1
            # events sent without the handshake on the universal port are refused too
            reader, writer = await asyncio.open_connection(HOST, ing.tcp_port, ssl=_tls(ing))
            writer.write(msgpack.packb(["t", 1700000000, {"message": "sneaky"}]))
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            assert totals(ing)["logs"] == 0

    run(main())


def _tls(ing: Ingestor) -> Any:
    import ssl

    ctx = ssl.create_default_context(cafile=ing.cert_path)
    ctx.check_hostname = False
    return ctx


def test_broken_msgpack_and_a_gzip_bomb_are_counted_and_the_service_goes_on(tmp_path: Path) -> None:
    async def main() -> None:
        limit = 1 << 20
        async with Ingestor(config(tmp_path, tls=False, forward_port=0, max_inflated_bytes=limit)) as ing:
            port = ing.standard_ports["forward_port"]
            # a good message, then bytes that are no MessagePack (0xc1 is never used): closed, framing
            reader, writer = await asyncio.open_connection(HOST, port)
            good = msgpack.packb(["t", [[1700000000, {"message": "kept", "seq": 0, "client_id": "bad"}]],
                                  {"chunk": "c1"}])  # fmt: skip
            writer.write(good)
            assert msgpack.unpackb(await asyncio.wait_for(reader.read(100), 5)) == {"ack": "c1"}
            writer.write(b"\x93\xa1t\xc1\xc1\xc1")
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            # a message that is MessagePack but no Forward message: rejected, the connection goes on;
            # a gzip bomb (64 MiB of zeros in a CompressedPackedForward message): refused, inflated no
            # further than the bound
            bomb = gzip.compress(b"\0" * (64 << 20), 9)
            reader, writer = await asyncio.open_connection(HOST, port)
            event = lambda seq, chunk: msgpack.packb(  # noqa: E731
                ["t", 1700000001, {"message": "after", "seq": seq, "client_id": "bad"}, {"chunk": chunk}]
            )
            writer.write(event(1, "c2") + msgpack.packb({"not": "forward"}))
            writer.write(msgpack.packb(["t", bomb, {"compressed": "gzip", "chunk": "bomb"}]) + event(2, "c3"))
            await writer.drain()
            acks = msgpack.Unpacker()
            seen: list[str] = []
            for _ in range(10):
                acks.feed(await asyncio.wait_for(reader.read(100), 5))
                got = [a["ack"] for a in acks]
                seen += got
                if "c3" in got:
                    break
            assert sorted(seen) == ["bomb", "c2", "c3"]  # the refused bomb is acked: counted, not resent
            writer.close()
            await wait_counts(ing, logs=3, rejected=3, timeout=10)
            rejected = ing.snapshot()["totals"]["rejected"]
            assert rejected == 3
            text = ing.prometheus()
            for reason in ("framing", "malformed", "too_large"):
                assert f'ingest_rejected_total{{reason="{reason}",format="forward"}} 1' in text, reason
        assert_exactly_once(read_stored(tmp_path), {"bad": 3})

    run(main())


def test_the_udp_heartbeat_is_answered_on_the_forward_port(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, forward_port=0)) as ing:
            port = ing.standard_ports["forward_port"]

            def ping() -> bytes:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(5)
                    s.sendto(b"\0", (HOST, port))
                    return s.recvfrom(16)[0]

            assert await asyncio.to_thread(ping) == b"\0"

    run(main())
