"""The ingestor's direct path: payloads that a compiled transcoder writes and checks against the
schema in C are stored without msgspec. A session storing that way must store exactly what a
session decoding every payload stores: the same lines in the same order, the same rejections, the
same acks, however the stream is cut into reads.
"""

from __future__ import annotations

import itertools
import time
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench import wire
from workbench.codecs.base import STORE_DIRECT
from workbench.errors import FramingError
from workbench.ingestor import decoding
from workbench.ingestor.decoding import Codecs, Rejects, SchemaSet, Session, WorkerContext
from workbench.ingestor.metrics import WorkerMetrics
from workbench.ingestor.pipeline import Batch

pytestmark = pytest.mark.skipif(not STORE_DIRECT, reason="the compiled transcoders are not built")

GOOD = [
    b'<14>1 2025-06-30T21:00:00.001013Z web-4 inventory - - [log@32473 user_id="2928" seq="0"] charge failed',
    b"<38>1 2026-11-27T00:47:10+00:00 localhost prg00000 1234 - - \xef\xbb\xbfseq: 0000000000, thread: 0001",
    b'<165>1 2003-10-11T22:14:15.003+02:00 mymachine evntslog - ID47 [x@32473 iut="3"] An event',
]
DECLINED = b'<14>1 2025-06-30T21:00:00Z h s - - [a@1 k="esc\\"aped"] an escape in SD: the parser takes it'
REJECTED = b"<14>1 2025-02-30T21:00:00Z h s - - - February 30"
MESSAGES = st.sampled_from([*GOOD, DECLINED, REJECTED])


def _session(tmp: Path, direct: bool) -> tuple[Session, list[Batch], WorkerMetrics, list[bytes]]:
    metrics = WorkerMetrics()
    batches: list[Batch] = []
    replies: list[bytes] = []

    def submit(batch: Batch) -> bool:
        batches.append(batch)
        return True

    worker = WorkerContext(Codecs(SchemaSet()), Rejects(tmp, 0, metrics, per_second=0), metrics, submit,
                    max_line_bytes=4096, max_frame_bytes=1 << 16)  # fmt: skip
    session = Session(worker, "tls", "127.0.0.1:9", "127.0.0.1", replies.append)
    session._direct = direct  # decided again when the header is read: see _feed
    return session, batches, metrics, replies


def _feed(tmp: Path, stream: bytes, cuts: list[int], direct: bool, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(decoding, "STORE_DIRECT", direct)
    session, batches, metrics, replies = _session(tmp, direct)
    bounds = [0, *sorted(c for c in cuts if c < len(stream)), len(stream)]
    for a, b in itertools.pairwise(bounds):
        session.feed(stream[a:b])
    session.eof()
    for batch in batches:
        if batch.on_written is not None:
            batch.on_written()
    data = b"".join(b.data for b in batches)
    rejected = {k: v for k, v in metrics.counters["rejected"].items() if v}
    return data, sum(b.logs for b in batches), rejected, replies


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """One receive time for every batch, so both sessions' lines compare byte for byte."""
    monkeypatch.setattr(decoding, "time", types.SimpleNamespace(time=lambda: 1_750_000_000.0,
                                                                perf_counter=time.perf_counter))  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(MESSAGES, min_size=1, max_size=12),
    st.lists(st.integers(0, 2000), max_size=5),
    st.sampled_from(["octet", "lines", "length+ack"]),
)
def test_direct_and_decoded_sessions_store_the_same(
    tmp_path: Path, fixed_clock: None, monkeypatch: pytest.MonkeyPatch, messages: list[bytes], cuts: list[int],
    framing: str,
) -> None:  # fmt: skip
    frames = [messages[i : i + 2] for i in range(0, len(messages), 2)]
    if framing == "lines":
        stream = b"".join(m + b"\n" for m in messages)  # detected by its '<'
    elif framing == "octet":
        stream = wire.make_header("syslog").encode() + b"".join(b"%d %s" % (len(m), m) for m in messages)
    else:  # frames of newline-separated messages, each acknowledged once stored
        header = wire.make_header("syslog", framing="length", ack=True).encode()
        stream = header + b"".join(wire.frame(b"".join(m + b"\n" for m in f)) for f in frames)
    direct = _feed(tmp_path / "d", stream, cuts, True, monkeypatch)
    decoded = _feed(tmp_path / "p", stream, cuts, False, monkeypatch)
    assert direct == decoded
    data, logs, rejected, replies = direct
    assert logs == sum(m != REJECTED for m in messages) == data.count(b"\n")
    assert sum(rejected.values()) == messages.count(REJECTED)
    if framing.endswith("ack"):
        assert replies[-1] == wire.ack_line(len(frames))


LINES = {  # per format: lines the transcoder takes, one it declines (the parser takes it), one rejected
    "raw": [
        b"2025-06-30T21:59:23.123456Z ERROR payment-api: charge failed user_id=42 seq=7 attr.k=v",
        b"2025-06-30T21:59:23+02:00 INFO auth: login host=web-1",
        b"[Sun Dec 04 04:47:44 2005] [error] a foreign line: declined, the parser takes it",
        b"2025-06-30T21:59:23Z INFO auth: " + b"x" * 65537,  # over maxLength: declined, then rejected
    ],
    "json": [
        b'{"timestamp":"2025-06-30T21:59:23.123456Z","level":"INFO","service":"s","message":"m","host":"h","seq":1}',
        b'{"message": "m", "level": "WARN", "host": "", "service": "s", "timestamp": "2025-06-30T21:59:23+02:00"}',
        b'{"timestamp":"2025-06-30 21:59:23Z","level":"INFO","service":"s","message":"a space: msgspec","host":"h"}',
        b'{"timestamp":"2025-02-30T21:59:23Z","level":"INFO","service":"s","message":"Feb 30","host":"h"}',
    ],
}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(LINES)), st.data(), st.lists(st.integers(0, 3000), max_size=5))
def test_direct_and_decoded_sessions_store_the_same_lines(
    tmp_path: Path, fixed_clock: None, monkeypatch: pytest.MonkeyPatch, fmt: str, data: st.DataObject,
    cuts: list[int],
) -> None:  # fmt: skip
    lines = data.draw(st.lists(st.sampled_from(LINES[fmt]), min_size=1, max_size=10))
    stream = wire.make_header(fmt).encode() + b"".join(line + b"\n" for line in lines)
    direct = _feed(tmp_path / "d", stream, cuts, True, monkeypatch)
    assert direct == _feed(tmp_path / "p", stream, cuts, False, monkeypatch)
    assert direct[1] == sum(line != LINES[fmt][3] for line in lines)


def test_the_direct_path_takes_a_whole_octet_stream_in_one_batch_per_read(
    tmp_path: Path, fixed_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decoding, "STORE_DIRECT", True)
    session, batches, _, _ = _session(tmp_path, True)
    session.feed(wire.make_header("syslog").encode() + b"".join(b"%d %s" % (len(m), m) for m in GOOD * 100))
    assert [b.logs for b in batches] == [300]
    assert batches[0].data.count(b'"format":"syslog","transport":"tls","peer":"127.0.0.1:9"}\n') == 300


def test_a_broken_stream_keeps_the_frames_stored_before_the_break(
    tmp_path: Path, fixed_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decoding, "STORE_DIRECT", True)
    session, batches, _, _ = _session(tmp_path, True)
    good = b"".join(b"%d %s" % (len(m), m) for m in GOOD)
    with pytest.raises(FramingError):
        session.feed(wire.make_header("syslog").encode() + good + b"x1 broken")
    assert sum(b.logs for b in batches) == len(GOOD)


@pytest.mark.parametrize("fmt", sorted(LINES))
def test_lines_the_transcoders_take_never_reach_msgspec(
    tmp_path: Path, fixed_clock: None, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    def no_decoding(*_: object) -> None:
        raise AssertionError("the decoded path ran")

    monkeypatch.setattr(decoding, "make_batch", no_decoding)
    stream = wire.make_header(fmt).encode() + b"".join(line + b"\n" for line in LINES[fmt][:2] * 50)
    data, logs, rejected, _ = _feed(tmp_path, stream, [7, 300, 2000], True, monkeypatch)
    assert logs == 100 == data.count(b"\n") and not rejected
