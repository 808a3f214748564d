"""The compiled protobuf and Avro transcoders against protobuf's and fastavro's decoders.

``ProtoCodec(fast=True)`` / ``AvroCodec(fast=True)`` (the defaults) try
``workbench.speedups._binary`` first and fall back to the library decoder for a payload it
declines; ``fast=False`` is the library alone. Each property decodes the same payload both ways
and checks that the stored lines decode to the same entries; golden cases check that the fast
path really took them.
"""

from __future__ import annotations

import struct

import msgspec
import pytest
from codec_strategies import FUZZ, PROPERTY, batches, entries, make_entry
from hypothesis import given
from hypothesis import strategies as st

from workbench import model
from workbench._generated import log_pb2
from workbench.codecs.avro import AvroCodec
from workbench.codecs.base import Decoded
from workbench.codecs.proto import ProtoCodec
from workbench.ingestor.decoding import normalise

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
LINES = msgspec.json.Decoder(model.LogEntry)
END = b',"received_at":"2025-07-01T12:00:00Z","format":"x","transport":"tls","peer":"127.0.0.1:9"}\n'
CODECS = {
    "proto": (ProtoCodec(fast=True), ProtoCodec(fast=False)),
    "avro": (AvroCodec(fast=True), AvroCodec(fast=False)),
}


def both(fmt: str, payload: bytes) -> Decoded:
    fast_codec, slow_codec = CODECS[fmt]
    fast, slow = fast_codec.decode(payload), slow_codec.decode(payload)
    assert fast.entries == slow.entries
    assert [(e.index, e.reason) for e in fast.errors] == [(e.index, e.reason) for e in slow.errors]
    if fast.jsonl is not None:
        assert LINES.decode_lines(fast.jsonl) == slow.entries
    stored = fast_codec.stored(payload, END)  # the ingestor's direct path: no msgspec after it
    if stored is not None:
        assert not slow.errors and stored[1] == len(slow.entries)
        assert LINES.decode_lines(stored[0].replace(END, b"}\n")) == slow.entries
        if fmt == "avro":  # byte for byte what the Python path stores (protobuf maps have no order)
            assert stored[0] == normalise(slow.entries).replace(b"}\n", END)
    return fast


@pytest.mark.parametrize("fmt", ["proto", "avro"])
@PROPERTY
@given(batch=batches(entries()))
def test_any_batch_decodes_the_same_both_ways_and_takes_the_fast_path(fmt: str, batch: list) -> None:
    payload = CODECS[fmt][1].encode(batch)
    fast = both(fmt, payload)
    assert fast.jsonl is not None or not batch  # every valid batch is the plain case
    if batch and fmt == "avro":  # byte for byte what the Python path stores (protobuf maps have no order)
        assert fast.jsonl == normalise(batch)


@pytest.mark.parametrize("fmt", ["proto", "avro"])
@FUZZ
@given(data=st.data())
def test_mutated_payloads_decode_the_same_both_ways(fmt: str, data: st.DataObject) -> None:
    batch = data.draw(batches(entries(), max_size=4))
    payload = bytearray(CODECS[fmt][1].encode(batch))
    for _ in range(data.draw(st.integers(1, 4))):
        if payload:
            i = data.draw(st.integers(0, len(payload) - 1))
            payload[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload)))
    both(fmt, bytes(payload[:cut] if data.draw(st.booleans()) else payload))


def _proto(**fields: object) -> bytes:
    batch = log_pb2.LogBatch()
    batch.entries.add(**fields)
    return batch.SerializeToString()


BASE = {
    "timestamp": 1_751_320_763_123_456,
    "level": log_pb2.INFO,
    "service": "s",
    "message": "m",
    "host": "h",
}


@pytest.mark.parametrize(
    "payload",
    [
        _proto(**{**BASE, "level": log_pb2.LEVEL_UNSPECIFIED}),  # no level
        _proto(**{**BASE, "timestamp": 8_100 * 365 * 86_400 * 10**6}),  # past year 9999
        _proto(**{**BASE, "service": ""}),  # breaks minLength
        _proto(**{**BASE, "seq": -1}),  # breaks minimum
        _proto(**{**BASE, "message": "x" * 70_000}),  # breaks maxLength
        _proto(**{**BASE, "message": "\u00e9" * 65_537}),  # maxLength in code points (131,074 bytes)
        _proto(**{**BASE, "host": "h" * 257}),
        _proto(**{**BASE, "user_id": "u" * 257}),
        _proto(**{**BASE, "attributes": {"k": "v" * 8193}}),
        _proto(**{**BASE, "attributes": {f"k{i}": "v" for i in range(129)}}),
        _proto(**BASE)[:-3],  # truncated
    ],
    ids=["no-level", "year-10000", "empty-service", "negative-seq", "long-message", "long-in-code-points",
         "long-host", "long-user", "long-attribute", "129-attributes", "truncated"],
)  # fmt: skip
def test_bad_proto_entries_are_rejected_as_protobuf_rejects_them(payload: bytes) -> None:
    good = _proto(**BASE)
    fast = both("proto", good + payload)  # a LogBatch is its entries' concatenation
    assert len(fast.entries) + len(fast.errors) >= 1 and fast.errors
    assert CODECS["proto"][0].stored(good + payload, END) is None


def test_65536_two_byte_characters_are_within_the_message_limit() -> None:
    payload = _proto(**{**BASE, "message": "\u00e9" * 65_536})
    assert CODECS["proto"][0].stored(payload, END) is not None and both("proto", payload).jsonl is not None


def test_invalid_utf8_in_a_proto_string_is_declined_and_rejected() -> None:
    body = log_pb2.LogEntry(**BASE).SerializeToString().replace(b"\x22\x01m", b"\x22\x02\xc3\x28")  # message
    payload = b"\x0a" + bytes([len(body)]) + body
    assert CODECS["proto"][0].stored(payload, END) is None
    assert both("proto", payload).errors


def test_avro_stored_only_for_the_bundled_record(monkeypatch) -> None:
    codec = CODECS["avro"][0]
    payload = codec.encode([make_entry(), make_entry(seq=None)])
    got = codec.stored(payload, END)
    assert got is not None and got[1] == 2
    assert codec.stored(payload[:1] + b"\x00\x00\x00\x09" + payload[5:], END) is None  # an unknown id
    assert CODECS["avro"][1].stored(payload, END) is None  # fast=False
    monkeypatch.setattr("workbench.codecs.avro.STORE_DIRECT", False)
    assert codec.stored(payload, END) is None


def test_proto_unknown_fields_repeated_fields_and_map_duplicates() -> None:
    entry = log_pb2.LogEntry(**BASE).SerializeToString()
    unknown = b"\xa0\x06\x07" + b"\xaa\x06\x03abc"  # fields 100 (varint) and 101 (bytes)
    again = log_pb2.LogEntry(service="s2").SerializeToString()  # a repeated scalar: the last wins
    dup_map = b"".join(log_pb2.LogEntry(attributes={"k": v}).SerializeToString() for v in ("1", "2"))
    for body, fast_path in ((entry + unknown, True), (entry + again, True), (entry + dup_map, False)):
        payload = b"\x0a" + bytes([len(body)]) + body
        fast = both("proto", payload)
        assert (fast.jsonl is not None) is fast_path
    assert both("proto", b"\x0a" + bytes([len(entry + again)]) + entry + again).entries[0].service == "s2"


def _zigzag(n: int) -> bytes:
    u, out = (n << 1) ^ (n >> 63), b""
    while u >= 0x80:
        out += bytes([(u & 0x7F) | 0x80])
        u >>= 7
    return out + bytes([u])


def test_avro_blocks_with_byte_sizes_and_a_registry_id_of_the_same_schema() -> None:
    from workbench import schemas

    codec = AvroCodec(writer_schemas={7: schemas.avro_schema()}, schema_id=7)
    payload = codec.encode([make_entry(), make_entry(seq=None)])
    assert struct.unpack(">BI", payload[:5]) == (0, 7)
    fast = AvroCodec(writer_schemas={7: schemas.avro_schema()}).decode(payload)
    assert fast.jsonl is not None and len(fast.entries) == 2
    # the same array written as one block with its byte size (a negative count)
    body = payload[5:]
    assert body[:1] == _zigzag(2) and body[-1:] == b"\x00"
    items = body[1:-1]
    sized = payload[:5] + _zigzag(-2) + _zigzag(len(items)) + items + b"\x00"
    again = AvroCodec(writer_schemas={7: schemas.avro_schema()}).decode(sized)
    assert again.entries == fast.entries and again.jsonl is not None


@FUZZ
@given(data=st.data())
def test_the_blackhole_counts_proto_entries_as_protobuf_does(data: st.DataObject) -> None:
    """``proto_count`` walks a LogBatch's fields in C; it must count what upb parses, and call
    broken wire data broken (the blackhole then counts 0, as it did when upb raised)."""
    from google.protobuf.message import DecodeError

    from workbench.generator.blackhole import _CountBatch
    from workbench.speedups._binary import proto_count

    payload = CODECS["proto"][1].encode(data.draw(batches(entries(), max_size=4)))
    if data.draw(st.booleans()):  # mutate: flip, cut or insert bytes
        pos = data.draw(st.integers(0, len(payload)))
        payload = (
            payload[:pos] + data.draw(st.binary(max_size=3)) + payload[pos + data.draw(st.integers(0, 3)) :]
        )
    try:
        expected = len(_CountBatch.FromString(payload).entries)
    except DecodeError:
        expected = -1
    assert proto_count(payload) == expected
