"""Pre-encoded pools: what ``render`` writes decodes with the format's own codec, exactly."""

from __future__ import annotations

import time

import pytest

from workbench import codecs, model
from workbench.generator.patterns import LogFactory
from workbench.generator.pool import MAX_SEQ, Pool, padded_varint, render_chunk
from workbench.wire import LengthSplitter


@pytest.fixture(scope="module")
def entries() -> list:
    factory = LogFactory(seed=11)
    return model.to_entries([factory.next() for _ in range(600)])


CASES = [(f, False) for f in ("json", "raw", "syslog", "journald")] + [
    (f, True) for f in ("json", "raw", "syslog", "journald", "proto", "avro")
]


def _decode(fmt: str, framed: bool, data: bytes) -> list:
    payloads = LengthSplitter().feed(data) if framed else [data]
    out = []
    for p in payloads:
        decoded = codecs.get(fmt).decode(p)
        assert not decoded.errors, decoded.errors[:2]
        out.extend(decoded.entries)
    return out


@pytest.mark.parametrize("fmt, framed", CASES)
def test_render_writes_seq_client_and_time(entries: list, fmt: str, framed: bool) -> None:
    pool = Pool(fmt, entries, 50, 9, length_framed=framed)
    buf = pool.client_buffer("gen-ab-07")
    ts = 1_750_000_000_123_456
    for seq0 in (0, 999, 10**11 + 7):  # widths of seq change; record lengths must not
        got = _decode(fmt, framed, pool.render(buf, 2, 3, seq0, ts))
        assert [e.seq for e in got] == list(range(seq0, seq0 + 150))
        assert {e.client_id for e in got} == {"gen-ab-07"}
        assert {model.micros_from_utc(e.timestamp) for e in got} == {ts}
        # everything else is the pooled entry, unchanged
        assert [(e.message, e.level, e.service, e.user_id) for e in got] == [
            (e.message, e.level, e.service, e.user_id) for e in entries[100:250]
        ]


@pytest.mark.parametrize("fmt, framed", CASES)
def test_cut_last_batch(entries: list, fmt: str, framed: bool) -> None:
    pool = Pool(fmt, entries, 50, 4, length_framed=framed)
    buf = pool.client_buffer("c-01")
    chunk = render_chunk(pool, buf, 0, 2, 40, 1_750_000_000_000_000, last_logs=7)
    assert chunk.logs == 57 and [f[2] for f in chunk.frames] == [50, 7]
    got = _decode(fmt, framed, chunk.data)
    assert [e.seq for e in got] == list(range(40, 97))


def test_datagram_spans_respect_the_limit_and_drop_oversize(entries: list) -> None:
    big = entries[0].__class__(**{**model.to_dict(entries[0]), "message": "x" * 3000})
    pool = Pool("json", [*entries[:20], big, *entries[20:49]], 50, 4, length_framed=False, lines_only=True)
    spans, oversize = pool.datagrams(0, 1400)
    assert oversize == 1
    assert all(0 < e - s <= 1400 for s, e in spans)
    data = pool.render(pool.client_buffer("c-01"), 0, 1, 0, 1_750_000_000_000_000)
    kept = b"".join(data[s:e] for s, e in spans)
    assert kept.count(b"\n") == 49 and b"x" * 3000 not in kept


def test_padded_varints_and_limits() -> None:
    assert padded_varint(1, 3) == b"\x81\x80\x00"
    with pytest.raises(ValueError):
        padded_varint(1 << 21, 3)
    from workbench.errors import ConfigError

    factory = LogFactory(seed=1)
    pool = Pool("json", model.to_entries([factory.next() for _ in range(10)]), 10, 4, length_framed=False)
    with pytest.raises(ConfigError, match="seq would pass"):
        pool.render(pool.client_buffer("c-01"), 0, 1, MAX_SEQ - 3, int(time.time() * 1e6))
