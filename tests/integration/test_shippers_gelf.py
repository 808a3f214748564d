"""GELF into the ingestor, sent by a real client (pygelf: UDP with zlib and chunking, TCP, TLS on
the universal port), then what no client sends on purpose: a chunk flood that never completes
(memory bounded, counted dropped), a gzip bomb, broken JSON; each counted, the service up after."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import socket
from pathlib import Path

import pytest
from pygelf import GelfTcpHandler, GelfTlsHandler, GelfUdpHandler

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


def _send(handler: logging.Handler, client: str, n: int, pad: int = 0) -> None:
    logger = logging.getLogger(f"gelf-test-{client}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        for i in range(n):
            level = logging.ERROR if i % 4 == 0 else logging.INFO
            logger.log(level, "order %d shipped %s", i, "p" * pad, extra={"seq": i, "client_id": client})
    finally:
        logger.removeHandler(handler)
        handler.close()


@pytest.mark.parametrize("compress", [True, False])
def test_pygelf_over_udp_with_chunking_stores_every_message_once(tmp_path: Path, compress: bool) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, gelf_port=0)) as ing:
            port = ing.standard_ports["gelf_port"]
            # small chunks and 3,000 characters of incompressible text: every message is several chunks
            for i in range(0, 200, 20):  # paced, so a 2-core box does not drop in the kernel
                await asyncio.to_thread(_send_range, port, compress, i, 3000)
                await asyncio.sleep(0.02)
            await wait_counts(ing, logs=200, timeout=20)
            assert totals(ing)["dropped"] == 0
        stored = read_stored(tmp_path)
        assert_exactly_once(stored, {"udp": 200})
        rec = next(r for r in stored if r["seq"] == 4)
        assert (
            rec["level"] == "ERROR" and rec["service"] == "billing" and rec["message"].startswith("order 4 ")
        )
        assert rec["format"] == "gelf" and rec["transport"] == "udp"

    run(main())


def _send_range(port: int, compress: bool, start: int, pad: int) -> None:
    handler = GelfUdpHandler(HOST, port, compress=compress, chunk_size=600, include_extra_fields=True,
                             _service="billing")  # fmt: skip
    logger = logging.getLogger(f"gelf-range-{port}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        for i in range(start, start + 20):
            text = os.urandom(pad // 2).hex()
            logger.log(logging.ERROR if i % 4 == 0 else logging.INFO, "order %d shipped %s", i, text,
                       extra={"seq": i, "client_id": "udp"})  # fmt: skip
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_pygelf_over_tcp_and_tls_on_the_universal_port(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, gelf_port=0)) as ing:
            tls = GelfTlsHandler(host=HOST, port=ing.tcp_port, validate=True, ca_certs=ing.cert_path,
                                 include_extra_fields=True)  # fmt: skip
            await asyncio.to_thread(_send, tls, "tls", 300)
            ing_plain = ing.standard_ports["gelf_port"]  # the GELF port is TLS too, as every TCP port
            tcp = GelfTlsHandler(host=HOST, port=ing_plain, validate=True, ca_certs=ing.cert_path,
                                 include_extra_fields=True)  # fmt: skip
            await asyncio.to_thread(_send, tcp, "gelfport", 300, 2000)
            await wait_counts(ing, logs=600, timeout=20)
        stored = read_stored(tmp_path)
        assert_exactly_once(stored, {"tls": 300, "gelfport": 300})
        assert {r["transport"] for r in stored} == {"tls"}

    run(main())


def test_pygelf_over_plain_tcp(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, tls=False, gelf_port=0)) as ing:
            handler = GelfTcpHandler(HOST, ing.standard_ports["gelf_port"], include_extra_fields=True)
            await asyncio.to_thread(_send, handler, "tcp", 300)
            await wait_counts(ing, logs=300, timeout=20)
        assert_exactly_once(read_stored(tmp_path), {"tcp": 300})

    run(main())


def _chunk(msg_id: bytes, seq: int, count: int, body: bytes) -> bytes:
    return b"\x1e\x0f" + msg_id + bytes([seq, count]) + body


def test_a_chunk_flood_a_gzip_bomb_and_broken_json_are_counted_and_the_port_goes_on(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, gelf_port=0, max_request_bytes=1 << 20,
                                   max_inflated_bytes=1 << 20)) as ing:  # fmt: skip
            port = ing.standard_ports["gelf_port"]
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            # 3,000 messages of which only the first of 2 chunks ever comes: 3 MB waiting at most 1 MiB
            body = b"x" * 1000
            for i in range(3000):
                sock.sendto(_chunk(i.to_bytes(8, "big"), 0, 2, body), (HOST, port))
                if i % 100 == 0:
                    await asyncio.sleep(0.01)
            bomb = gzip.compress(b" " * (32 << 20), 9)
            sock.sendto(bomb[:60000], (HOST, port))  # a truncated bomb still inflates past the bound
            sock.sendto(b'{"version":"1.1","short_message":', (HOST, port))
            sock.sendto(b'{"version":"1.1","host":"h","short_message":"after","_seq":0,"_client_id":"ok"}',
                        (HOST, port))  # fmt: skip
            await wait_counts(ing, logs=1, rejected=2, timeout=10)
            protocol = ing._inline.listeners[-1]._protocol  # type: ignore[union-attr]
            assert protocol.assembler.pending_bytes <= 1 << 20
            await wait_counts(ing, dropped=2000, timeout=15)  # the evicted ones, then the expired ones
            text = ing.prometheus()
            assert 'ingest_rejected_total{reason="too_large",format="gelf"} 1' in text
            assert 'ingest_rejected_total{reason="malformed",format="gelf"} 1' in text
            assert 'ingest_dropped_total{reason="gelf_incomplete"}' in text
            sock.close()
        assert_exactly_once(read_stored(tmp_path), {"ok": 1})

    run(main())
