"""Avro: round trip of any valid entry, schema ids and resolution, and broken payloads.

Invariant: ``decode(encode(batch)).entries == batch``; Avro strings, ``timestamp-micros``, maps
and ``["null", T]`` unions carry every field exactly, so the strategy is not narrowed.
"""

from __future__ import annotations

import copy
import io
import struct

import fastavro
import pytest
from codec_strategies import PROPERTY, batches, make_entry, reasons, sample_batch
from hypothesis import given

from workbench import schemas
from workbench.codecs.avro import AvroCodec, array_schema
from workbench.codecs.base import ENCODING, INVALID, MALFORMED, UNKNOWN_SCHEMA

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

CODEC = AvroCodec()


def zigzag(n: int) -> bytes:
    """An Avro long."""
    n = (n << 1) ^ (n >> 63)
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([low])
        out += bytes([low | 0x80])


@PROPERTY
@given(batches())
def test_round_trip(batch: list) -> None:
    decoded = CODEC.decode(CODEC.encode(batch))
    assert decoded.errors == []
    assert decoded.entries == batch


def test_payload_layout_and_empty_batch() -> None:
    payload = CODEC.encode([make_entry()])
    assert payload[:5] == b"\x00\x00\x00\x00\x00"  # magic 0, schema id 0
    assert payload[5:6] == zigzag(1)  # one block of one record
    assert payload.endswith(b"\x00")  # end of the array
    empty = CODEC.decode(CODEC.encode([]))
    assert (empty.entries, empty.errors) == ([], [])
    assert CODEC.decode(CODEC.encode(sample_batch())).entries == sample_batch()


def test_newer_writer_schema_resolves_to_the_bundled_reader() -> None:
    newer = copy.deepcopy(schemas.avro_schema())
    newer["fields"].append({"name": "region", "type": "string", "default": ""})
    writer = AvroCodec(writer_schemas={5: newer}, schema_id=5)
    buf = io.BytesIO()
    buf.write(struct.pack(">BI", 0, 5))
    entry = make_entry()
    record = {f: getattr(entry, f) for f in entry.__struct_fields__} | {"region": "eu"}
    fastavro.schemaless_writer(buf, array_schema(newer), [record])
    assert writer.decode(buf.getvalue()).entries == [entry]
    assert reasons(CODEC.decode(buf.getvalue())) == [UNKNOWN_SCHEMA]  # id 5 unknown to the default codec


def test_invalid_record_is_rejected_and_its_neighbours_kept() -> None:
    good = make_entry()
    batch = [good, good, good]
    payload = CODEC.encode(batch)
    # the middle record's service "payment-api" becomes "" (same framing, minLength 1 breaks)
    first = payload.index(b"payment-api")
    second = payload.index(b"payment-api", first + 1)
    bad = payload[: second - 1] + zigzag(0) + payload[second + len("payment-api") :]
    decoded = CODEC.decode(bad)
    assert decoded.entries == [good, good]
    assert [(e.index, e.reason) for e in decoded.errors] == [(1, INVALID)]


def test_broken_payloads() -> None:
    payload = CODEC.encode([make_entry()])
    at = payload.index(b"payment-api")
    cases = {
        b"": MALFORMED,
        b"\x00\x00\x00": MALFORMED,  # shorter than the header
        b"\x01" + payload[1:]: MALFORMED,  # wrong magic byte
        b"\x00\x00\x00\x00\x07" + payload[5:]: UNKNOWN_SCHEMA,
        payload[:-4]: MALFORMED,  # truncated
        payload + b"\x00\x00": MALFORMED,  # trailing bytes
        payload[: at - 1] + zigzag(2**40) + payload[at:]: MALFORMED,  # lying string length
        payload[:5] + zigzag(2**60) + payload[6:]: MALFORMED,  # lying block count
        payload[:5] + zigzag(-(2**60)) + zigzag(3) + payload[6:]: MALFORMED,  # negative count, lying size
        payload.replace(b"payment-api", b"payment\xffapi"): ENCODING,
        payload[:14] + zigzag(40) + payload[15:]: MALFORMED,  # level enum index 40 (byte 14)
    }
    for bad, reason in cases.items():
        decoded = CODEC.decode(bad)
        assert decoded.entries == [] and reasons(decoded) == [reason], bad


def test_unknown_write_id_is_a_config_error() -> None:
    try:
        AvroCodec(schema_id=3)
    except ValueError as exc:
        assert "3" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("AvroCodec accepted a write id it has no schema for")
