"""Avro: round trip of any valid entry, schema ids and resolution, and broken payloads.

Invariant: ``decode(encode(batch)).entries == batch``; Avro strings, ``timestamp-micros``, maps
and ``["null", T]`` unions carry every field exactly, so the strategy is not narrowed.
"""

from __future__ import annotations

import copy
import io
import struct

import fastavro
import msgspec
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


def test_newer_writer_schema_decodes_with_the_added_field_in_attributes() -> None:
    newer = copy.deepcopy(schemas.avro_schema())
    newer["fields"].append({"name": "region", "type": "string", "default": ""})
    writer = AvroCodec(writer_schemas={5: newer}, schema_id=5)
    buf = io.BytesIO()
    buf.write(struct.pack(">BI", 0, 5))
    entry = make_entry()
    record = {f: getattr(entry, f) for f in entry.__struct_fields__} | {"region": "eu"}
    fastavro.schemaless_writer(buf, array_schema(newer), [record])
    expected = msgspec.structs.replace(entry, attributes={**entry.attributes, "region": "eu"})
    assert writer.decode(buf.getvalue()).entries == [expected]
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


def test_a_writer_schema_with_an_added_field_keeps_it_as_an_attribute() -> None:
    """A newer, compatible writer schema (an added field with a default) decodes, and the added
    field is kept in attributes instead of being dropped by resolution to the bundled schema."""
    import copy
    import io

    import fastavro

    from workbench import model, schemas
    from workbench.codecs.avro import AvroCodec, array_schema

    v2 = copy.deepcopy(schemas.avro_schema())
    v2["fields"].append({"name": "region", "type": ["null", "string"], "default": None})
    codec = AvroCodec(writer_schemas={7: v2})
    ts = model.utc_from_micros(1_750_000_000_123_456)
    record = {"timestamp": ts, "level": "WARN", "service": "api", "message": "slow", "host": "h1",
              "user_id": None, "session_id": None, "trace_id": None, "attributes": {"k": "v"},
              "client_id": "c", "seq": 3, "region": "eu-west-1"}  # fmt: skip
    body = io.BytesIO()
    fastavro.schemaless_writer(body, array_schema(v2), [record, {**record, "region": None, "seq": 4}])
    decoded = codec.decode(b"\x00\x00\x00\x00\x07" + body.getvalue())
    assert decoded.errors == []
    assert [e.attributes for e in decoded.entries] == [{"k": "v", "region": "eu-west-1"}, {"k": "v"}]
    assert [e.seq for e in decoded.entries] == [3, 4] and decoded.entries[0].timestamp == ts
