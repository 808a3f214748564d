"""The generator's Forward, GELF and compressed Loki/HTTP pools: what a render holds decodes, with
the ingestor's own parsers and codecs, to the seqs, client id and time patched in; GELF chunks
put back together by the ingestor's assembler are the message; the settings that do not fit are
refused with their reason."""

from __future__ import annotations

import datetime as dt
import gzip
import zlib
from typing import Any

import cramjam
import msgpack
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import model
from workbench.generator.config import GeneratorConfig
from workbench.generator.forward import ForwardSender
from workbench.generator.gelf import MAX_CHUNKS, chunks, compressor
from workbench.generator.patterns import LogFactory
from workbench.generator.pool import render_chunk, ts_slot
from workbench.generator.protocols import CHUNK_BYTES, SPECS, spec_of
from workbench.generator.requestpool import RequestPool, finisher, no_head
from workbench.generator.stats import ClientStats, Totals
from workbench.ingestor.gelf import Assembler, unpack
from workbench.shippers.base import Decoded, HttpRequest
from workbench.shippers.forward import ForwardCodec, decode_event_time, parse_message
from workbench.shippers.gelf import GelfCodec
from workbench.shippers.loki import LokiCodec

TS = 1_750_000_000_123_456
STAMP = dt.datetime(2025, 6, 15, 15, 6, 40, 123456, tzinfo=dt.UTC)
CID = "gen-ab-07"


@pytest.fixture(scope="module")
def entries() -> list[Any]:
    factory = LogFactory(seed=5)
    return model.to_entries([factory.next() for _ in range(400)])


def _frames(protocol: str, entries: list[Any], ack: bool = False) -> list[tuple[bytes, int, int]]:
    """(bytes, logs, first seq) of two rendered batches over an earlier render, the last cut to 13."""
    pool = RequestPool(protocol, entries, 40, len(CID), no_head, spec_of(protocol, ack))
    buf = pool.client_buffer(CID)
    render_chunk(pool, buf, 0, 1, 0, TS - 10**9)
    chunk = render_chunk(pool, buf, 0, 2, 7, TS, last_logs=13)
    assert [f[2] for f in chunk.frames] == [40, 13]
    return [(chunk.data[s:e], n, seq) for s, e, n, seq in chunk.frames]


def _check(got: list[Any], entries: list[Any]) -> None:
    assert sorted(e.seq for e in got) == list(range(7, 60))
    assert {e.client_id for e in got} == {CID} and {e.timestamp for e in got} == {STAMP}
    assert {e.message for e in got} <= {e.message for e in entries}
    assert {e.level for e in got} <= {"DEBUG", "INFO", "WARN", "ERROR"}


def _forward_entries(data: bytes) -> list[Any]:
    message = parse_message(msgpack.unpackb(data, ext_hook=decode_event_time), 1 << 24)
    decoded = ForwardCodec().events(message, "peer")
    assert not decoded.errors, decoded.errors[:2]
    assert message.option["size"] == len(decoded.entries)
    return list(decoded.entries)


def test_a_forward_message_is_packed_forward_with_event_times(entries: list[Any]) -> None:
    got = []
    for data, _, _ in _frames("forward", entries):
        tag, stream, option = msgpack.unpackb(data)
        assert tag == "workbench" and isinstance(stream, bytes) and option["size"] in (40, 13)
        assert "chunk" not in option  # without ack mode the ingestor is not asked to answer
        unpacker = msgpack.Unpacker(ext_hook=msgpack.ExtType)
        unpacker.feed(stream)
        event_time, record = next(unpacker)
        assert event_time.code == 0 and len(event_time.data) == 8  # EventTime, fixext 8
        assert isinstance(record["seq"], str) and len(record["seq"]) == 12 and record["client_id"] == CID
        got += _forward_entries(data)
    _check(got, entries)
    assert got[0].attributes is not None and got[0].attributes["tag"] == "workbench"  # the tag, as documented


def test_in_ack_mode_each_message_gets_its_chunk_id_and_gzip_makes_it_compressed_packed(
    entries: list[Any],
) -> None:
    frames = _frames("forward", entries, ack=True)
    for gz in (False, True):
        cfg = GeneratorConfig(protocol="forward", ack=True, compression="gzip" if gz else "none")
        sender = ForwardSender(cfg, ClientStats(CID), Totals(), None, ("127.0.0.1", 1))
        got = []
        for data, logs, seq in frames:
            assert data.endswith(b"?" * CHUNK_BYTES)  # the placeholder the sender writes over
            message = sender.message(data, logs, seq)
            assert message.chunk == f"{seq:016x}" and message.logs == logs
            option = msgpack.unpackb(message.data)[2]
            assert option["chunk"] == message.chunk and option.get("compressed") == ("gzip" if gz else None)
            if gz:
                assert len(message.data) < len(data) / 2
            got += _forward_entries(message.data)
        _check(got, entries)


def test_gelf_messages_are_nul_ended_objects_the_gelf_codec_reads(entries: list[Any]) -> None:
    got = []
    for data, logs, _ in _frames("gelf-tcp", entries):
        raws = data.split(b"\0")
        assert raws.pop() == b"" and len(raws) == logs
        decoded = GelfCodec().messages(raws, "peer")
        assert not decoded.errors, decoded.errors[:2]
        got += decoded.entries
    _check(got, entries)
    assert all(e.service and e.host for e in got)


def test_gelf_levels_are_syslog_severities_read_back_as_ours(entries: list[Any]) -> None:
    levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
    mixed = [msgspec.structs.replace(e, level=levels[i % 6]) for i, e in enumerate(entries)]
    data = _frames("gelf-udp", mixed)[0][0]
    decoded = GelfCodec().messages(data.split(b"\0")[:-1], "peer")
    expected = ["DEBUG" if lvl == "TRACE" else lvl for lvl in (levels * 7)[:40]]  # syslog has no TRACE
    assert [e.level for e in decoded.entries] == expected


def _loki(body: bytes, gzipped: bool = False) -> list[Any]:
    headers = {"content-type": "application/x-protobuf"}
    if gzipped:  # the HTTP layer undoes Content-Encoding before the codec sees the body
        headers["content-encoding"] = "gzip"
        body = gzip.decompress(body)
    decoded = LokiCodec().decode(
        "push", HttpRequest("POST", "/loki/api/v1/push", {}, headers, body, {}, "peer")
    )
    assert isinstance(decoded, Decoded) and not decoded.errors, decoded
    return list(decoded.entries)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_loki_protobuf_is_a_push_request_compressed_per_send(entries: list[Any], compression: str) -> None:
    spec = SPECS["loki-protobuf"]
    finish = finisher(spec, compression, "127.0.0.1", 3100, "tok")
    assert finish is not None
    got = []
    for body, _, _ in _frames("loki-protobuf", entries):
        request = finish(body)
        head, _, sent = request.partition(b"\r\n\r\n")
        assert head.endswith(b"Content-Length: %d" % len(sent)) and b"Authorization: Bearer tok" in head
        if compression == "gzip":  # gzip replaces snappy, as Loki reads it
            assert b"Content-Encoding: gzip" in head
            got += _loki(sent, gzipped=True)
        else:
            assert b"Content-Encoding" not in head
            assert bytes(cramjam.snappy.decompress_raw(sent)) == body
            got += _loki(sent)
    _check(got, entries)


def test_gzip_http_bodies_have_their_content_encoding_and_grpc_sets_the_compressed_flag() -> None:
    body = b'{"resourceLogs": []}' * 50
    http = finisher(SPECS["otlp-json"], "gzip", "h", 1, None)
    assert http is not None
    head, _, sent = http(body).partition(b"\r\n\r\n")
    assert b"Content-Encoding: gzip" in head and gzip.decompress(sent) == body
    grpc = finisher(SPECS["otlp-grpc"], "gzip", "h", 1, None)
    assert grpc is not None
    message = grpc(body)
    assert message[0] == 1 and int.from_bytes(message[1:5], "big") == len(message) - 5
    assert gzip.decompress(message[5:]) == body
    assert finisher(SPECS["otlp-http"], "none", "h", 1, None) is None  # the pool holds those requests


def test_timestamp_slots_keep_their_width() -> None:
    for kind in ("eventtime", "proto-timestamp", "epoch-us", "nanos", "fixed64-ns"):
        assert len({len(ts_slot(kind, us)) for us in (1_000_000_000_000_000, TS, 2_000_000_000_999_999)}) == 1


# --- GELF chunks ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(message=st.binary(min_size=1, max_size=20_000), datagram_bytes=st.integers(64, 1500),
       order=st.randoms(use_true_random=False))  # fmt: skip
def test_gelf_chunks_fit_their_datagrams_and_reassemble_in_any_order(message: bytes, datagram_bytes: int,
                                                                     order: Any) -> None:  # fmt: skip
    """Invariant: every chunk is at most ``datagram_bytes``, at most 128 of them, and the ingestor's
    assembler, fed them in any order, returns the message exactly once (after the last one)."""
    parts = chunks(message, datagram_bytes, b"\x01" * 8)
    if parts is None:
        assert len(message) > MAX_CHUNKS * (datagram_bytes - 12)
        return
    assert len(parts) <= MAX_CHUNKS and all(len(p) <= datagram_bytes for p in parts)
    order.shuffle(parts)
    assembler = Assembler(max_pending_bytes=1 << 26)
    results = [assembler.add(p, "peer", 0.0) for p in parts]
    assert results[-1] == message and all(r is None for r in results[:-1])


@pytest.mark.parametrize("compression", ["zlib", "gzip"])
def test_compressed_gelf_datagrams_are_what_the_ingestor_inflates(compression: str) -> None:
    compress = compressor(compression)
    assert compress is not None
    message = b'{"version":"1.1","short_message":"' + b"x" * 5000 + b'"}'
    datagram = compress(message)
    assert unpack(datagram, 1 << 20) == message
    assert (datagram[:1] == b"\x78") if compression == "zlib" else datagram[:2] == b"\x1f\x8b"
    assert zlib.decompress(datagram, 47) == message


# --- settings ------------------------------------------------------------------------------


def test_gelf_udp_goes_by_udp_to_gelfs_port_unless_told() -> None:
    cfg = GeneratorConfig(protocol="gelf-udp")
    assert (cfg.transport, cfg.port) == ("udp", 12201)
    assert GeneratorConfig(protocol="gelf-udp", udp_port=5000).port == 5000


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"protocol": "gelf-udp", "transport": "tcp"}, "protocol gelf-udp runs over UDP, not tcp"),
        ({"protocol": "gelf-tcp", "transport": "udp"}, "protocol gelf-tcp runs over TCP/TLS, not udp"),
        ({"protocol": "gelf-tcp", "ack": True}, "GELF has no acks"),
        ({"protocol": "hec", "ack": True}, "every answer is an ack already"),
        ({"protocol": "gelf-tcp", "compression": "gzip"}, "compresses with none, not gzip"),
        ({"protocol": "otlp-http", "compression": "zlib"}, "compresses with none or gzip, not zlib"),
        ({"format": "json", "compression": "gzip"}, "compression is a shipper protocol's"),
    ],
)
def test_settings_that_do_not_fit_a_protocol_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GeneratorConfig(**fields)


def test_forward_takes_ack_mode() -> None:
    assert GeneratorConfig(protocol="forward", ack=True, compression="gzip").ack
