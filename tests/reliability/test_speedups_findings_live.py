"""The reproducers of issue 16 over TLS into a running ingestor (worker processes): the public path.

Each is sent many times on one connection, between valid logs of its own client, as an attacker
would send it; then the workers are the same processes, every record is stored or rejected with
a reason, and a valid log on a new connection is still stored.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LiveIngestor, live_ingestor, total
from ingest_helpers import close_cleanly, encode, header, make_entries, open_conn, read_stored

from workbench import wire

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
from seeds import FINDINGS

REPEAT = 500


@pytest.fixture(scope="module")
def ingestor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveIngestor]:
    with live_ingestor(tmp_path_factory.mktemp("findings")) as live:
        yield live


def _send(live: LiveIngestor, data: bytes) -> None:
    async def go() -> None:
        reader, writer = await open_conn(live.ing)
        writer.write(data)
        await close_cleanly(reader, writer)

    asyncio.run(asyncio.wait_for(go(), 60))


def _stored_of(live: LiveIngestor, client: str) -> list[dict]:
    return [r for r in read_stored(live.data_dir) if r.get("client_id") == client]


def test_syslog_frames_that_fill_the_buffer_are_stored_and_the_workers_survive(
    ingestor: LiveIngestor,
) -> None:
    pids = ingestor.worker_pids()
    before = ingestor.metrics()
    frames = [bytes.fromhex(h)[1:] for h in FINDINGS["syslog_octet"]]
    good = [
        wire.octet_frame(m)
        for m in encode("syslog", make_entries(4, "fill"), octet_counting=False).split(b"\n")
        if m
    ]
    stream = good[0] + b"".join(frames) * REPEAT + b"".join(good[1:])
    _send(ingestor, stream)
    expected = total(before, "ingest_logs_total") + len(good) + len(frames) * REPEAT
    after = ingestor.wait(lambda m: total(m, "ingest_logs_total") >= expected, 60, "the frames stored")
    assert total(after, "ingest_logs_total") == expected
    assert total(after, "ingest_rejected_total") == total(before, "ingest_rejected_total")
    assert ingestor.worker_pids() == pids
    stored = read_stored(ingestor.data_dir)
    mids = [r for r in stored if r.get("attributes", {}).get("syslog.msgid") in ("MID", "M")]
    assert len(mids) == len(frames) * REPEAT
    assert {r["message"] for r in mids} == {"\x01" * 12, "aaaaa" + "\x01" * 14}
    assert len(_stored_of(ingestor, "fill")) == len(good)


def test_avro_block_counts_at_the_int64_limits_are_rejected_and_the_workers_survive(
    ingestor: LiveIngestor,
) -> None:
    pids = ingestor.worker_pids()
    before = ingestor.metrics()
    payloads = [bytes.fromhex(h)[1:] for h in FINDINGS["avro"]]
    good = [wire.frame(encode("avro", make_entries(2, "avro-ok", start=i))) for i in (0, 2)]
    stream = header("avro") + good[0] + b"".join(wire.frame(p) for p in payloads) * REPEAT + good[1]
    _send(ingestor, stream)
    # the first is an empty array to the Avro library; the two others are malformed
    malformed = 2 * REPEAT

    def settled(m: dict) -> bool:
        return (total(m, "ingest_logs_total") >= total(before, "ingest_logs_total") + 4
                and total(m, "ingest_rejected_total", reason="malformed", format="avro")
                >= total(before, "ingest_rejected_total", reason="malformed", format="avro") + malformed)  # fmt: skip

    after = ingestor.wait(settled, 60, "the avro payloads rejected")
    assert total(after, "ingest_logs_total") == total(before, "ingest_logs_total") + 4
    assert total(after, "ingest_rejected_total") == total(before, "ingest_rejected_total") + malformed
    assert ingestor.worker_pids() == pids
    assert sorted(r["seq"] for r in _stored_of(ingestor, "avro-ok")) == [0, 1, 2, 3]
    # and a new connection still works
    _send(ingestor, encode("json", make_entries(1, "after-avro")))
    ingestor.wait(lambda m: len(_stored_of(ingestor, "after-avro")) == 1, 20, "the log after")
