"""Request pools of the shippers' protocols: a rendered request decodes, with opentelemetry-proto
and with the ingestor's own protocol codecs, to the seqs, client id and time patched in."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from workbench import model
from workbench.formats import protocol_class
from workbench.generator.patterns import LogFactory
from workbench.generator.pool import render_chunk
from workbench.generator.protocols import PROTOCOL_NAMES, SPECS
from workbench.generator.requestpool import RequestPool, grpc_prefix, http_head
from workbench.shippers.base import HttpRequest

TS = 1_750_000_000_123_456
CID = "gen-ab-07"


@pytest.fixture(scope="module")
def entries() -> list:
    factory = LogFactory(seed=5)
    return model.to_entries([factory.next() for _ in range(400)])


def _pool(protocol: str, entries: list, batch: int = 40) -> RequestPool:
    spec = SPECS[protocol]
    head = grpc_prefix if spec.grpc else http_head(spec, "127.0.0.1", 4318, "tok")
    return RequestPool(protocol, entries, batch, len(CID), head)


def _split(protocol: str, request: bytes) -> tuple[bytes, bytes]:
    if SPECS[protocol].grpc:
        assert request[0] == 0 and int.from_bytes(request[1:5], "big") == len(request) - 5
        return b"", request[5:]
    head, _, body = request.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.startswith(b"Content-Length")
    )
    assert length == len(body)
    return head, body


def test_a_patched_otlp_body_has_the_time_seq_and_client_id(entries: list) -> None:
    pool = _pool("otlp-http", entries)
    chunk = render_chunk(pool, pool.client_buffer(CID), 2, 3, 1_000_000, TS)
    assert [f[2:] for f in chunk.frames] == [(40, 1_000_000), (40, 1_000_040), (40, 1_000_080)]
    seqs = []
    for start, end, _, _ in chunk.frames:
        head, body = _split("otlp-http", chunk.data[start:end])
        assert b"Authorization: Bearer tok" in head and b"application/x-protobuf" in head
        message = ExportLogsServiceRequest.FromString(body)
        for rl in message.resource_logs:
            assert {kv.key for kv in rl.resource.attributes} == {"service.name", "host.name"}
            for record in rl.scope_logs[0].log_records:
                assert record.time_unix_nano == TS * 1000
                attrs = {kv.key: kv.value for kv in record.attributes}
                assert attrs["client_id"].string_value == CID
                seqs.append(attrs["seq"].int_value)
    assert seqs == list(range(1_000_000, 1_000_120))


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_the_ingestors_codec_reads_what_is_patched(entries: list, protocol: str) -> None:
    pool = _pool(protocol, entries)
    buf = pool.client_buffer(CID)
    render_chunk(pool, buf, 0, 1, 0, TS - 10**9)  # a first render, then one over it
    chunk = render_chunk(pool, buf, 0, 2, 7, TS, last_logs=13)  # the last request cut to 13 records
    assert [f[2] for f in chunk.frames] == [40, 13]
    codec = protocol_class(protocol.split("-")[0])()
    got = []
    for start, end, _, _ in chunk.frames:
        _, body = _split(protocol, chunk.data[start:end])
        if SPECS[protocol].grpc:
            decoded = codec.decode_protobuf(body, "peer")
        else:
            spec = SPECS[protocol]
            request = HttpRequest("POST", spec.path, {}, {"content-type": spec.content_type}, body,
                                  {"index": "logs-workbench"}, "peer")  # fmt: skip
            decoded = codec.decode(next(r.action for r in codec.routes if r.match("POST", spec.path) is not None),
                                   request)  # fmt: skip
        assert not decoded.errors, decoded.errors[:2]
        if decoded.lines:  # written by a compiled transcoder (OTLP protobuf): read its stored lines
            got.extend(msgspec.json.Decoder(model.LogEntry).decode_lines(decoded.jsonl))
        else:
            got.extend(decoded.entries)
    assert sorted(e.seq for e in got) == list(range(7, 60))
    assert {e.client_id for e in got} == {CID}
    assert {e.timestamp for e in got} == {dt.datetime(2025, 6, 15, 15, 6, 40, 123456, tzinfo=dt.UTC)}
    assert {e.message for e in got} <= {e.message for e in entries}


def test_a_sentinel_that_is_not_found_once_per_record_refuses_the_pool(entries: list) -> None:
    from workbench.errors import ConfigError

    odd = [model.to_entries([{**LogFactory(seed=1).next(), "message": "~" * 9}])[0]] * 3
    with pytest.raises(ConfigError, match="client_id placeholder"):
        _pool("hec", odd, batch=3)
