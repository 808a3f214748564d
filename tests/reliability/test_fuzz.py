"""Property-based fuzzing of the receive path, in process and against the running ingestor.

``tests/unit/codecs/test_fuzz_codecs.py`` fuzzes every codec's ``decode`` and
``tests/unit/test_wire.py`` the splitters' chunking; this adds what sits between them:

* a connection's whole path (header or detection, framing, every decoder, normalisation) on
  arbitrary byte streams cut anywhere, for every declared format and for detection: the only
  exception allowed out is ``FramingError`` (the connection is closed), every stored batch holds
  exactly its count of lines, and every rejection is counted with a known reason;
* ``detect_stream`` and the UDP datagram decoder on arbitrary bytes;
* random byte streams over TLS to the running ingestor (worker processes): it stays up, and its
  counters add up: the lines in its files equal ``ingest_logs_total`` and the samples in
  ``rejected/`` (sampling unbounded here) equal ``ingest_rejected_total``.

The always-on versions have a fixed budget; ``-m fuzz`` runs the long ones, and
``WORKBENCH_FUZZ_EXAMPLES=N`` sets the budget of both.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveIngestor, live_ingestor, total
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import encode, make_entries, open_conn, read_rejected, read_stored

from workbench import wire
from workbench.codecs import FORMATS
from workbench.codecs.base import ENCODING, FRAMING, INVALID, MALFORMED, TOO_LARGE, UNKNOWN_SCHEMA
from workbench.errors import FramingError
from workbench.ingestor.decoding import Codecs, Rejects, SchemaSet, Session, WorkerContext, decode_datagram
from workbench.ingestor.metrics import WorkerMetrics
from workbench.ingestor.pipeline import Batch

REASONS = {MALFORMED, INVALID, ENCODING, TOO_LARGE, UNKNOWN_SCHEMA, FRAMING}
SHORT = int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "150"))
LONG = int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "5000"))


def budget(n: int) -> Any:
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))


# bytes that steer the stream into each framing and format, then anything
PIECES = st.sampled_from([
    b"LOGWB/1 format=json\n", b"LOGWB/1 format=proto\n", b"LOGWB/1 format=avro\n", b"LOGWB/1 format=syslog\n",
    b"LOGWB/1 format=journald\n", b"LOGWB/1 format=raw\n", b"LOGWB/1 ", b"\x00\x00\x00\x05", b"\x00\x00\x00",
    b"12 <13>1 ", b"<13>1 ", b"{", b"}", b'"', b"\n", b"\r\n", b"MESSAGE=", b"PRIORITY=6\n", b"\n\n",
    b'{"timestamp":"2025-06-30T21:59:23Z","level":"INFO","service":"s","message":"m","host":"h"}\n',
    b"Jun 14 15:16:01 ", b"\xff\xfe", b"\x00",
])  # fmt: skip
STREAM = st.lists(PIECES | st.binary(max_size=64), max_size=24).map(b"".join)
CUTS = st.lists(st.integers(0, 2000), max_size=6)
HEADERS = st.sampled_from([b""] + [wire.make_header(f).encode() for f in FORMATS])


def _worker(tmp: Path) -> tuple[WorkerContext, list[Batch]]:
    metrics = WorkerMetrics()
    batches: list[Batch] = []

    def submit(batch: Batch) -> bool:
        batches.append(batch)
        return True

    worker = WorkerContext(Codecs(SchemaSet()), Rejects(tmp, 0, metrics, per_second=0), metrics, submit,
                    max_line_bytes=4096, max_frame_bytes=1 << 16)  # fmt: skip
    return worker, batches


def _feed(tmp: Path, stream: bytes, cuts: list[int]) -> None:
    worker, batches = _worker(tmp)
    session = Session(worker, "tls", "127.0.0.1:1", "127.0.0.1", lambda _: None)
    edges = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    try:
        for a, b in itertools.pairwise(edges):
            session.feed(stream[a:b])
        session.eof()
    except FramingError as exc:  # the one way out: the connection is closed, counted by the caller
        assert str(exc)
    for batch in batches:
        assert batch.data.count(b"\n") == batch.logs
        assert all(line.startswith(b"{") and line.endswith(b"}") for line in batch.data.splitlines())
    rejected = worker.metrics.counters["rejected"]
    assert all(reason in REASONS and n > 0 for (reason, _fmt), n in rejected.items())


def _property_session(n: int) -> Any:
    @budget(n)
    @given(HEADERS, STREAM, CUTS)
    def check(tmp_path_factory: pytest.TempPathFactory, head: bytes, stream: bytes, cuts: list[int]) -> None:
        _feed(tmp_path_factory.getbasetemp(), head + stream, cuts)

    return check


test_session_survives_any_stream = pytest.mark.timeout(180)(_property_session(SHORT))
test_session_survives_any_stream_long = pytest.mark.fuzz(pytest.mark.timeout(3600)(_property_session(LONG)))


@pytest.mark.timeout(120)
@budget(SHORT)
@given(st.binary(max_size=600) | STREAM, st.booleans())
def test_detect_stream_decides_or_raises_framing(head: bytes, eof: bool) -> None:
    try:
        header = wire.detect_stream(head, eof=eof)
    except FramingError:
        assert head.startswith(wire.MAGIC)
        return
    if eof:
        assert header is not None
    if header is not None:
        assert header.format in FORMATS and header.framing in wire.FRAMINGS


@pytest.mark.timeout(120)
@budget(SHORT)
@given(st.binary(max_size=1400) | STREAM)
def test_udp_datagram_decoder_never_raises(data: bytes) -> None:
    fmt, decoded = decode_datagram(Codecs(SchemaSet()), data)
    assert fmt in FORMATS
    assert all(err.reason in REASONS for err in decoded.errors)


# --- against the running ingestor ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ingestor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveIngestor]:
    with live_ingestor(tmp_path_factory.mktemp("fuzz"), workers=1, rejected_samples_per_second=1_000_000,
                       max_line_bytes=4096, max_frame_bytes=1 << 16) as live:  # fmt: skip
        yield live


async def _blast(ing: LiveIngestor, stream: bytes) -> None:
    reader, writer = await open_conn(ing)
    with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
        writer.write(stream)
        await writer.drain()
        writer.close()  # close_notify: the ingestor decodes what it holds
        await asyncio.wait_for(writer.wait_closed(), 5)
    del reader


def _property_live(n: int) -> Any:
    @budget(n)
    @given(HEADERS, STREAM)
    def check(ingestor: LiveIngestor, head: bytes, stream: bytes) -> None:
        asyncio.run(_blast(ingestor, head + stream))

    return check


def _counters_add_up(ing: LiveIngestor) -> None:
    """Service up (a canary log stored), files hold what the counters say."""
    before = total(ing.metrics(), "ingest_logs_total")
    asyncio.run(_blast(ing, encode("json", make_entries(1, "canary"))))

    def settled(m: Any) -> bool:
        return total(m, "ingest_logs_total") > before and len(read_stored(ing.data_dir)) == total(
            m, "ingest_logs_total"
        )

    m = ing.wait(settled, what="the canary and the files to match ingest_logs_total")
    assert total(m, "ingest_worker_restarts_total") == 0 and total(m, "ingest_workers") == 1
    ing.wait(lambda m: len(read_rejected(ing.data_dir)) == total(m, "ingest_rejected_total"),
             what="rejected/ samples to match ingest_rejected_total")  # fmt: skip


@pytest.mark.timeout(300)
def test_running_ingestor_survives_random_streams(ingestor: LiveIngestor) -> None:
    _property_live(min(SHORT, 40))(ingestor)
    _counters_add_up(ingestor)


@pytest.mark.fuzz
@pytest.mark.timeout(3600)
def test_running_ingestor_survives_random_streams_long(ingestor: LiveIngestor) -> None:
    _property_live(LONG)(ingestor)
    _counters_add_up(ingestor)
