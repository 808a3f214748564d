"""Bad input: counted rejections with a reason and a sample in ``rejected/``, never a crash.

A bad record leaves the connection open (the good records after it are stored); a broken stream
(an unknown format header, a lying length prefix) closes it, counted as ``framing``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from ingest_helpers import (
    assert_exactly_once,
    close_cleanly,
    config,
    encode,
    framed,
    header,
    make_entries,
    open_conn,
    read_rejected,
    read_stored,
    run,
    send_tcp,
    totals,
    wait_counts,
)

from workbench import wire
from workbench.ingestor.service import Ingestor


def _lines(client: str, start: int, n: int) -> bytes:
    return encode("json", make_entries(n, client, start=start))


def test_bad_json_records_rejected_connection_survives(tmp_path: Path) -> None:
    bad_syntax = b'{"timestamp": "2025-06-30T21:59:23Z", "level": "INFO", "service": \n'
    wrong_type = (
        b'{"timestamp":"2025-06-30T21:59:23Z","level":"INFO","service":"s","message":"m","host":"h",'
        b'"seq":"seven"}\n'
    )
    bad_level = (
        b'{"timestamp":"2025-06-30T21:59:23Z","level":"LOUD","service":"s","message":"m","host":"h"}\n'
    )
    missing = b'{"timestamp":"2025-06-30T21:59:23Z","level":"INFO"}\n'
    stream = (
        header("json")
        + _lines("ok", 0, 10)
        + bad_syntax
        + _lines("ok", 10, 10)
        + wrong_type
        + bad_level
        + _lines("ok", 20, 10)
        + missing
        + _lines("ok", 30, 10)
    )

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            await send_tcp(ing, stream)
            t = await wait_counts(ing, logs=40, rejected=4)
            assert t["logs"] == 40 and t["rejected"] == 4
            assert ing.snapshot()["rejected_by_reason"] == {"malformed": 1, "invalid": 3}
            assert t["connections"] == 1

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"ok": 40})
    rejected = read_rejected(tmp_path)
    assert sorted(r["reason"] for r in rejected) == ["invalid", "invalid", "invalid", "malformed"]
    by_raw = {r["raw"]: r for r in rejected}
    assert by_raw[wrong_type.decode().rstrip("\n")]["reason"] == "invalid"
    assert "seq" in by_raw[wrong_type.decode().rstrip("\n")]["detail"]
    assert by_raw[bad_syntax.decode().rstrip("\n")]["reason"] == "malformed"
    for r in rejected:
        assert r["format"] == "json" and r["transport"] == "tls" and r["peer"].startswith("127.0.0.1:")
        assert r["detail"]


def test_bad_records_in_detected_stream_and_binary_frames(tmp_path: Path) -> None:
    """No header: a malformed JSON line among good ones; proto/avro: a garbage frame among good ones."""
    json_stream = _lines("det", 0, 5) + b"{not json at all\n" + _lines("det", 5, 5)
    good = make_entries(20, "bin")
    proto_stream = (
        header("proto")
        + framed("proto", good[:10], 5)
        + wire.frame(b"\x0a\xff\xff\xff\x0f garbage")
        + framed("proto", good[10:], 5)
    )
    avro_good = make_entries(10, "avro")
    avro_stream = (
        header("avro")
        + framed("avro", avro_good[:5])
        + wire.frame(b"\x01junk")
        + framed("avro", avro_good[5:])
    )

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            await send_tcp(ing, json_stream)
            await send_tcp(ing, proto_stream)
            await send_tcp(ing, avro_stream)
            t = await wait_counts(ing, logs=40, rejected=3)
            assert t["rejected"] == 3
            assert ing.snapshot()["rejected_by_reason"] == {"malformed": 3}

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"det": 10, "bin": 20, "avro": 10})
    rejected = read_rejected(tmp_path)
    assert {r["format"] for r in rejected} == {"json", "proto", "avro"}
    assert any("raw_base64" in r for r in rejected)  # binary samples are kept as base64


def test_unknown_format_header_closes_connection(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            reader, writer = await open_conn(ing)
            writer.write(b"LOGWB/1 format=xml\n" + _lines("never", 0, 5))
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # the receiver closed it
            writer.close()
            await wait_counts(ing, rejected=1)
            await asyncio.sleep(0.3)
            t = totals(ing)
            assert t["logs"] == 0
            assert ing.snapshot()["rejected_by_reason"] == {"framing": 1}

    run(scenario())
    (rec,) = read_rejected(tmp_path)
    assert rec["reason"] == "framing" and "xml" in rec["detail"]
    assert read_stored(tmp_path) == []


def test_lying_length_prefix_closes_connection(tmp_path: Path) -> None:
    """Good frames (stored), then a length prefix over max_frame_bytes: closed, counted as framing."""
    good = framed("proto", make_entries(30, "lying"), 10)

    async def scenario() -> None:
        async with Ingestor(config(tmp_path, max_frame_bytes=1 << 20)) as ing:
            reader, writer = await open_conn(ing)
            writer.write(header("proto") + good)
            await writer.drain()
            await wait_counts(ing, logs=30)
            writer.write(b"\x7f\xff\xff\xff" + b"x" * 100)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # the receiver closed it
            writer.close()
            await wait_counts(ing, rejected=1)
            await asyncio.sleep(0.3)
            assert ing.snapshot()["rejected_by_reason"] == {"framing": 1}
            # the port still works for the next connection
            await send_tcp(ing, header("proto") + framed("proto", make_entries(5, "after")))
            await wait_counts(ing, logs=35)

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"lying": 30, "after": 5})
    (rec,) = read_rejected(tmp_path)
    assert rec["reason"] == "framing" and "length" in rec["detail"]


BROKEN_TAILS = {
    "length": (header("proto"), lambda es: framed("proto", es, 10), b"\x7f\xff\xff\xff" + b"x" * 100),
    "octet": (b"", lambda es: encode("syslog", es), b"garbage without an octet count\n"),
}


@pytest.mark.parametrize("framing", sorted(BROKEN_TAILS))
def test_frames_before_broken_point_in_same_read_are_stored(tmp_path: Path, framing: str) -> None:
    """Good frames and a broken tail arrive in one read (one TLS record): the good ones are kept."""
    head, build, tail = BROKEN_TAILS[framing]
    data = head + build(make_entries(30, "same-read")) + tail
    assert len(data) < 16_000  # one TLS record, so one data_received on the server

    async def scenario() -> None:
        async with Ingestor(config(tmp_path, max_frame_bytes=1 << 20)) as ing:
            reader, writer = await open_conn(ing)
            writer.write(data)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
            await wait_counts(ing, rejected=1)
            await asyncio.sleep(0.5)
            t = totals(ing)
            assert t["logs"] + t["rejected"] == 31, f"30 good frames + 1 framing error, got {t}"

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"same-read": 30})


def test_oversize_line_rejected_too_large(tmp_path: Path) -> None:
    big = json.dumps(
        {"timestamp": "2025-06-30T21:59:23Z", "level": "INFO", "service": "s", "host": "h",
         "message": "x" * 20_000}
    ).encode() + b"\n"  # fmt: skip
    stream = header("json") + _lines("big", 0, 10) + big + _lines("big", 10, 10) + big + _lines("big", 20, 5)

    async def scenario() -> None:
        async with Ingestor(config(tmp_path, max_line_bytes=4096)) as ing:
            await send_tcp(ing, stream, chunk=1000)  # the long line spans several reads
            await wait_counts(ing, logs=25, rejected=2)
            assert ing.snapshot()["rejected_by_reason"] == {"too_large": 2}

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"big": 25})
    rejected = read_rejected(tmp_path)
    assert [r["reason"] for r in rejected] == ["too_large", "too_large"]
    assert all("4096" in r["detail"] for r in rejected)


def test_oversize_octet_counted_syslog(tmp_path: Path) -> None:
    msg = b"<14>1 2025-06-30T21:59:23Z h app - - - " + b"y" * 9000
    stream = (
        encode("syslog", make_entries(5, "oct"))
        + b"%d %s" % (len(msg), msg)
        + encode("syslog", make_entries(5, "oct", start=5))
    )

    async def scenario() -> None:
        async with Ingestor(config(tmp_path, max_line_bytes=4096)) as ing:
            await send_tcp(ing, stream, chunk=1500)
            await wait_counts(ing, logs=10, rejected=1)
            assert ing.snapshot()["rejected_by_reason"] == {"too_large": 1}

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"oct": 10})


def test_unknown_avro_schema_id(tmp_path: Path) -> None:
    payload = bytearray(encode("avro", make_entries(3, "x")))
    payload[1:5] = (4242).to_bytes(4, "big")

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            reader, writer = await open_conn(ing)
            writer.write(header("avro") + wire.frame(bytes(payload)) + framed("avro", make_entries(4, "ok")))
            await close_cleanly(reader, writer)
            await wait_counts(ing, logs=4, rejected=1)
            assert ing.snapshot()["rejected_by_reason"] == {"unknown_schema": 1}

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"ok": 4})
