"""The GELF codec's mapping and the chunk assembler's bounds."""

from __future__ import annotations

import gzip
import zlib

import pytest

from workbench.ingestor.gelf import Assembler, unpack
from workbench.ingestor.http1 import TooLarge
from workbench.shippers.gelf import GelfCodec


def test_docker_messages_map_onto_the_entry() -> None:
    raw = (b'{"version":"1.1","host":"vm","short_message":"boom","timestamp":1751320763.25,"level":3,'
           b'"_container_name":"shop","_container_id":"abc","_tag":"t","_seq":7,"_client_id":"c","full_message":"x"}')  # fmt: skip
    (entry,) = GelfCodec().messages([raw], "10.0.0.1").entries
    assert (entry.message, entry.level, entry.host, entry.service, entry.seq, entry.client_id) == (
        "boom", "ERROR", "vm", "shop", 7, "c")  # fmt: skip
    assert entry.timestamp.timestamp() == 1751320763.25
    assert entry.attributes == {
        "container_name": "shop",
        "container_id": "abc",
        "tag": "t",
        "full_message": "x",
    }


def test_bad_messages_are_rejected_by_index() -> None:
    raws = [
        b'{"short_message":"ok"}',
        b"{broken",
        b'{"host":"no message"}',
        b"[1]",
        b'{"short_message":"x","timestamp":"y"}',
    ]
    decoded = GelfCodec().messages(raws, "p")
    assert len(decoded.entries) == 1 and decoded.entries[0].level == "INFO"
    assert [(e.index, e.reason) for e in decoded.errors] == [(1, "malformed"), (2, "invalid"), (3, "malformed"),
                                                             (4, "invalid")]  # fmt: skip


def _chunk(msg_id: int, seq: int, count: int, body: bytes) -> bytes:
    return b"\x1e\x0f" + msg_id.to_bytes(8, "big") + bytes([seq, count]) + body


def test_chunks_in_any_order_make_the_message_and_waiting_ones_stay_bounded() -> None:
    dropped: list[int] = []
    asm = Assembler(10_000, on_incomplete=dropped.append)
    assert asm.add(_chunk(1, 1, 3, b"b"), "p", 0.0) is None
    assert asm.add(_chunk(1, 1, 3, b"b"), "p", 0.0) is None  # repeated: ignored
    assert asm.add(_chunk(1, 0, 3, b"a"), "p", 0.0) is None
    assert asm.add(_chunk(1, 2, 3, b"c"), "p", 0.0) == b"abc"
    assert asm.pending_bytes == 0
    assert isinstance(asm.add(_chunk(2, 0, 129, b"x"), "p", 0.0), str)  # over 128 chunks
    for i in range(100):
        asm.add(_chunk(100 + i, 0, 2, b"x" * 1000), "p", 0.0)
    assert asm.pending_bytes <= 10_000 and sum(dropped) > 90
    assert asm.expire(10.0) > 0 and not asm.partials and asm.pending_bytes == 0  # past the timeout


def test_datagram_compression_is_undone_within_the_bound() -> None:
    msg = b'{"short_message":"a"}'
    assert unpack(msg, 1000) == unpack(zlib.compress(msg), 1000) == unpack(gzip.compress(msg), 1000) == msg
    with pytest.raises(TooLarge):
        unpack(gzip.compress(b" " * 100_000), 1000)
    with pytest.raises(ValueError):
        unpack(b"plain text", 1000)
