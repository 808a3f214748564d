"""Bad input against the running ingestor (worker processes, TLS): one table, one row per case.

For every case the test sends, on one connection, valid logs of the case's own client around the
bad bytes (where the framing lets records after a bad one be found), then checks:

* the service stays up: no worker died, and one valid log sent afterwards on a new connection
  (client ``after-<case>``) is stored;
* the valid logs around the bad ones are stored, each exactly once;
* each rejection is counted in ``ingest_rejected_total{reason,format}`` by its reason, and
  sampled to ``rejected/`` with the peer address of this very connection;
* a broken stream is closed by the ingestor as soon as it is read (the client reads EOF), a bad
  record is not; a stream cut inside a frame is counted when the client ends it.

``docs/reliability.md`` lists the table with the outcome of each row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from conftest import LiveIngestor, Metrics, live_ingestor, total
from ingest_helpers import (
    close_cleanly,
    encode,
    framed,
    header,
    make_entries,
    open_conn,
    read_rejected,
    read_stored,
    seqs_by_client,
)

from workbench import wire

MAX_LINE = 64 << 10
MAX_FRAME = 1 << 20
GOOD = 5  # valid logs before and after the bad part


def _json(client: str, start: int = 0, n: int = GOOD) -> bytes:
    return encode("json", make_entries(n, client, start=start))


def _line(**fields: object) -> bytes:
    base: dict[str, object] = {"timestamp": "2025-06-30T21:59:23Z", "level": "INFO", "service": "s",
                               "message": "m", "host": "h"}  # fmt: skip
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode() + b"\n"


def _around(bad: bytes, fmt: str = "json", head: bool = True) -> Callable[[str], bytes]:
    """Good lines of ``fmt``, the bad bytes, good lines again; with the format header or detected."""

    def build(client: str) -> bytes:
        before = encode(fmt, make_entries(GOOD, client))
        after = encode(fmt, make_entries(GOOD, client, start=GOOD))
        return (header(fmt, framing="lines") if head else b"") + before + bad + after

    return build


def _frames_around(fmt: str, bad_frame: bytes) -> Callable[[str], bytes]:
    def build(client: str) -> bytes:
        entries = make_entries(2 * GOOD, client)
        return header(fmt) + framed(fmt, entries[:GOOD]) + bad_frame + framed(fmt, entries[GOOD:])

    return build


def _frames_then(fmt: str, tail: bytes) -> Callable[[str], bytes]:
    """Good frames, then a tail that breaks the stream: only the frames before it can be stored."""

    def build(client: str) -> bytes:
        return header(fmt) + framed(fmt, make_entries(GOOD, client)) + tail

    return build


def _truncated(fmt: str) -> bytes:
    payload = encode(fmt, make_entries(1, "cut"))
    return wire.frame(payload[: len(payload) // 2])


def _nested(depth: int) -> bytes:
    return b'{"timestamp":"2025-06-30T21:59:23Z","level":"INFO","service":"s","host":"h","message":"m",' \
        b'"attributes":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}\n"  # fmt: skip


def _syslog_lines(client: str) -> bytes:
    return encode("syslog", make_entries(GOOD, client), octet_counting=False)


@dataclass(frozen=True)
class Case:
    name: str
    sent: str  # what is sent, for the docs table
    build: Callable[[str], bytes]
    stored: int  # valid logs of this client that must be stored
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count
    fmt: str = "json"  # format label of the rejections
    closed: bool = False  # the ingestor closes the connection (a broken stream)


def _syslog_around(bad: bytes) -> Callable[[str], bytes]:
    def build(client: str) -> bytes:
        after = encode("syslog", make_entries(GOOD, client, start=GOOD), octet_counting=False)
        return header("syslog", framing="lines") + _syslog_lines(client) + bad + after

    return build


def _octet_then(tail: bytes) -> Callable[[str], bytes]:
    def build(client: str) -> bytes:
        return encode("syslog", make_entries(GOOD, client)) + tail

    return build


def _journald_export_then(tail: bytes) -> Callable[[str], bytes]:
    def build(client: str) -> bytes:
        return header("journald") + encode("journald", make_entries(GOOD, client)) + tail

    return build


def _journald_json_around(bad: bytes) -> Callable[[str], bytes]:
    def build(client: str) -> bytes:
        entries = make_entries(2 * GOOD, client)
        before = encode("journald", entries[:GOOD], json_lines=True)
        after = encode("journald", entries[GOOD:], json_lines=True)
        return header("journald", framing="lines") + before + bad + after

    return build


def _big_attributes(n: int) -> bytes:
    return _line(attributes={f"k{i}": "v" for i in range(n)})


CASES = [
    # --- JSON lines -------------------------------------------------------------------------
    Case("json-malformed", "a line of broken JSON syntax between good lines",
         _around(b'{"timestamp": "2025-06-30T21:59:23Z", "level": \n'), 2 * GOOD, {"malformed": 1}),
    Case("json-truncated-at-eof", "good lines, then a JSON object cut off by the end of the stream",
         lambda c: _json(c) + _line()[:30], GOOD, {"malformed": 1}),
    Case("json-wrong-types", "seq as a string, level as a number, attributes as a list",
         _around(_line(seq="seven") + _line(level=5) + _line(attributes=[1, 2])), 2 * GOOD, {"invalid": 3}),
    Case("json-missing-fields", "objects without message / host / timestamp, and an empty object",
         _around(_line(message=None) + _line(host=None) + _line(timestamp=None) + b"{}\n"),
         2 * GOOD, {"invalid": 4}),
    Case("json-huge-attributes", "an attribute map of 3,000 keys (schema: at most 128), under the line limit",
         _around(_big_attributes(3000)), 2 * GOOD, {"invalid": 1}),
    Case("json-huge-attributes-over-limit", "an attribute map of 10,000 keys: a line over the limit",
         _around(_big_attributes(10_000)), 2 * GOOD, {"too_large": 1}),
    Case("json-deeply-nested", "attributes nested 5,000 levels deep, and a bare array 5,000 deep",
         _around(_nested(5000) + b"[" * 5000 + b"]" * 5000 + b"\n"), 2 * GOOD, {"invalid": 2}),
    Case("json-invalid-utf8", "a JSON line whose message holds bytes that are not UTF-8",
         _around(b'{"timestamp":"2025-06-30T21:59:23Z","level":"INFO","service":"s","message":"\xff\xfe\xc3",'
                 b'"host":"h"}\n'), 2 * GOOD, {"encoding": 1}),
    Case("json-line-over-limit", f"a JSON line of 100 KB (max_line_bytes {MAX_LINE // 1024} KiB)",
         _around(_line(message="x" * 100_000)), 2 * GOOD, {"too_large": 1}),
    Case("json-detected-garbage-line", "no header: good JSON lines around a line of '{' + control bytes",
         _around(b"{\x00\x01\x02 garbage\n", head=False), 2 * GOOD, {"malformed": 1}),
    # --- headers and detection --------------------------------------------------------------
    Case("header-unknown-format", "LOGWB/1 format=xml, then good JSON lines",
         lambda c: b"LOGWB/1 format=xml\n" + _json(c), 0, {"framing": 1}, "unknown", closed=True),
    Case("header-without-newline", "LOGWB/1 followed by 600 bytes and no newline",
         lambda c: b"LOGWB/1 format=json " + b"x" * 600, 0, {"framing": 1}, "unknown", closed=True),
    Case("header-binary-format-lines", "LOGWB/1 format=proto framing=lines",
         lambda c: b"LOGWB/1 format=proto framing=lines\n" + _json(c), 0, {"framing": 1}, "unknown",
         closed=True),
    Case("binary-garbage", "no header: 4 KB of bytes 0x80..0xff (no newline, not UTF-8, not a frame)",
         lambda c: bytes(range(0x80, 0x100)) * 32, 0, {"encoding": 1}, "raw"),
    Case("binary-garbage-lines", "no header: 16 lines of bytes 0x0b..0xff (not UTF-8) after good raw lines",
         lambda c: encode("raw", make_entries(GOOD, c)) + (bytes(range(0x0B, 0x100)) + b"\n") * 16, GOOD,
         {"encoding": 16}, "raw"),
    # --- binary frames ----------------------------------------------------------------------
    Case("proto-malformed-frame", "a frame of garbage between good protobuf frames",
         _frames_around("proto", wire.frame(b"\x0a\xff\xff\xff\x0f garbage")), 2 * GOOD, {"malformed": 1},
         "proto"),
    Case("proto-truncated-frame", "a frame holding the first half of a valid batch",
         _frames_around("proto", _truncated("proto")), 2 * GOOD, {"malformed": 1}, "proto"),
    Case("proto-frame-over-limit", f"a length prefix of 2 MiB (max_frame_bytes {MAX_FRAME >> 20} MiB)",
         _frames_then("proto", struct.pack(">I", 2 << 20) + b"x" * 1000), GOOD, {"framing": 1}, "proto",
         closed=True),
    Case("proto-lying-length", "a length prefix of 5,000 followed by 10 bytes and the end of the stream",
         _frames_then("proto", struct.pack(">I", 5000) + b"x" * 10), GOOD, {"framing": 1}, "proto"),
    Case("avro-malformed-frame", "a frame without the Avro magic byte between good frames",
         _frames_around("avro", wire.frame(b"\x01junk")), 2 * GOOD, {"malformed": 1}, "avro"),
    Case("avro-truncated-frame", "a frame holding the first half of a valid batch",
         _frames_around("avro", _truncated("avro")), 2 * GOOD, {"malformed": 1}, "avro"),
    Case("avro-unknown-schema", "a frame naming writer schema id 4242",
         _frames_around("avro", wire.frame(b"\x00\x00\x00\x10\x92" + b"\x00")), 2 * GOOD,
         {"unknown_schema": 1}, "avro"),
    # --- raw --------------------------------------------------------------------------------
    Case("raw-invalid-utf8", "a raw line of bytes that are not UTF-8 between good raw lines",
         _around(b"2025-06-30T21:59:23Z INFO app: \xff\xfe\xfd\n", fmt="raw"), 2 * GOOD, {"encoding": 1}, "raw"),
    Case("raw-line-over-limit", "a raw line of 100 KB",
         _around(b"y" * 100_000 + b"\n", fmt="raw"), 2 * GOOD, {"too_large": 1}, "raw"),
    # --- syslog -----------------------------------------------------------------------------
    Case("syslog-broken-pri", "<999>, <abc> and an unclosed <13 as PRI, between good RFC 5424 lines",
         _syslog_around(b"<999>1 2025-06-30T21:59:23Z h app - - - x\n<abc>1 2025-06-30T21:59:23Z h a - - - x\n"
                        b"<13 no end\n"), 2 * GOOD, {"malformed": 3}, "syslog"),
    Case("syslog-octet-garbage", "octet-counted syslog, then a line with no count",
         _octet_then(b"garbage without an octet count\n"), GOOD, {"framing": 1}, "syslog", closed=True),
    Case("syslog-octet-lying-count", "octet-counted syslog, then a count of 99,999,999",
         _octet_then(b"99999999 <13>1 x"), GOOD, {"framing": 1}, "syslog", closed=True),
    Case("syslog-octet-over-line-limit", "an octet-counted message of 100 KB between good ones",
         lambda c: encode("syslog", make_entries(GOOD, c)) + wire.octet_frame(b"<13>1 - h a - - - " + b"z" * 100_000)
         + encode("syslog", make_entries(GOOD, c, start=GOOD)), 2 * GOOD, {"too_large": 1}, "syslog"),
    Case("syslog-octet-truncated", "an octet count of 500 and the end of the stream after 20 bytes",
         _octet_then(b"500 <13>1 2025-06-30T2"), GOOD, {"framing": 1}, "syslog"),
    # --- journald ---------------------------------------------------------------------------
    Case("journald-json-malformed", "journalctl -o json lines around a broken one",
         _journald_json_around(b'{"__REALTIME_TIMESTAMP":"17\n'), 2 * GOOD, {"malformed": 1}, "journald"),
    Case("journald-export-lying-binary-length", "export entries, then a binary field whose length lies",
         _journald_export_then(b"MESSAGE\n" + struct.pack("<Q", 1 << 40) + b"abc\n\n"), GOOD, {"framing": 1},
         "journald", closed=True),
]  # fmt: skip


@pytest.fixture(scope="module")
def ingestor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveIngestor]:
    with live_ingestor(tmp_path_factory.mktemp("bad-input"), max_line_bytes=MAX_LINE,
                       max_frame_bytes=MAX_FRAME) as live:  # fmt: skip
        yield live


def _rejected(m: Metrics, fmt: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, v in m.get("ingest_rejected_total", {}).items():
        d = dict(labels)
        if d.get("format") == fmt:
            out[d["reason"]] = out.get(d["reason"], 0.0) + v
    return out


async def _send(ing: LiveIngestor, data: bytes) -> tuple[str, bool]:
    """Send on one TLS connection; returns (our address as the ingestor sees it, closed by the ingestor)."""
    reader, writer = await open_conn(ing)
    host, port = writer.get_extra_info("sockname")[:2]
    closed = False
    try:
        for i in range(0, len(data), 16 << 10):
            writer.write(data[i : i + (16 << 10)])
            await writer.drain()
        # a broken stream is closed by the ingestor as soon as it reads it
        assert await asyncio.wait_for(reader.read(), 0.5) == b""
        closed = True
    except TimeoutError:
        pass
    except (ConnectionError, ssl.SSLError):
        closed = True
    if not closed:
        await close_cleanly(reader, writer)  # close_notify: the ingestor decodes what is left
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 10)
    return f"{host}:{port}", closed


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(ingestor: LiveIngestor, case: Case) -> None:
    before = ingestor.metrics()
    rejected_before = _rejected(before, case.fmt)
    client, canary = case.name, f"after-{case.name}"
    peer, closed = asyncio.run(asyncio.wait_for(_send(ingestor, case.build(client)), 60))
    asyncio.run(asyncio.wait_for(_send(ingestor, _json(canary, 0, 1)), 30))  # a new connection afterwards

    logs_before = total(before, "ingest_logs_total")
    expected_logs = logs_before + case.stored + 1

    def done(m: Metrics) -> bool:
        got = _rejected(m, case.fmt)
        return total(m, "ingest_logs_total") >= expected_logs and all(
            got.get(r, 0) - rejected_before.get(r, 0) >= n for r, n in case.rejected.items()
        )

    after = ingestor.wait(done, what=f"{case.name}: {case.stored} + 1 logs and {case.rejected}")
    # exactly what the case says, nothing more (other rows ran before, their counts are the base)
    got = _rejected(after, case.fmt)
    delta = {r: got.get(r, 0) - rejected_before.get(r, 0) for r in got}
    assert {r: n for r, n in delta.items() if n} == case.rejected
    assert total(after, "ingest_logs_total") == expected_logs
    assert total(after, "ingest_worker_restarts_total") == 0 and total(after, "ingest_workers") == 2
    assert closed == case.closed, f"connection {'closed' if closed else 'kept open'} by the ingestor"

    stored = seqs_by_client(read_stored(ingestor.data_dir))
    assert stored.get(canary) == {0: 1}
    if case.stored:
        assert stored.get(client) == dict.fromkeys(range(case.stored), 1)
    else:
        assert client not in stored
    samples = [r for r in read_rejected(ingestor.data_dir) if r["peer"] == peer]
    assert sorted(r["reason"] for r in samples) == sorted(
        r for r, n in case.rejected.items() for _ in range(n)
    )
    assert all(r["format"] == case.fmt and r["transport"] == "tls" and r["detail"] for r in samples)


def test_plain_client_on_the_tls_port(ingestor: LiveIngestor) -> None:
    """Plain-text JSON on the TLS port: the handshake fails, the connection is closed, nothing stored."""
    before = ingestor.metrics()

    async def plain() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", ingestor.tcp_port)
        writer.write(_json("plain-on-tls"))
        await writer.drain()
        try:
            return await asyncio.wait_for(reader.read(), 15)
        except ConnectionError:
            return b""
        finally:
            writer.close()

    answer = asyncio.run(plain())
    assert b"{" not in answer  # at most a TLS alert, never an echo or a log
    asyncio.run(asyncio.wait_for(_send(ingestor, _json("after-plain-on-tls", 0, 1)), 30))
    after = ingestor.wait(lambda m: total(m, "ingest_logs_total") >= total(before, "ingest_logs_total") + 1)
    assert total(after, "ingest_logs_total") == total(before, "ingest_logs_total") + 1
    assert total(after, "ingest_connections_total") == total(before, "ingest_connections_total") + 1
    failed = "ingest_connections_failed_total"
    assert total(after, failed) == total(before, failed) + 1  # the handshake failure, counted
    assert total(after, "ingest_worker_restarts_total") == 0
    assert "plain-on-tls" not in seqs_by_client(read_stored(ingestor.data_dir))


UDP_GARBAGE = [
    b"\x00\x01\x02\x03" * 50,
    b"{not json\n",
    b'{"timestamp":"2025-06-30T21:59:23Z","level":"INFO"}',
    b"<999>1 - h a - - - broken pri",
    b"\xff\xfe\xfd",
    b"",
]


def test_udp_garbage(ingestor: LiveIngestor) -> None:
    """Garbage datagrams are rejected and counted; a valid datagram after them is stored."""
    before = ingestor.metrics()
    assert ingestor.udp_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        peer = f"127.0.0.1:{s.getsockname()[1]}"
        for d in UDP_GARBAGE:
            s.sendto(d, ("127.0.0.1", ingestor.udp_port))
        s.sendto(_json("udp-after", 0, 1), ("127.0.0.1", ingestor.udp_port))
    rejected_before = total(before, "ingest_rejected_total")
    after = ingestor.wait(
        lambda m: (
            total(m, "ingest_logs_total") >= total(before, "ingest_logs_total") + 1
            and total(m, "ingest_rejected_total") >= rejected_before + 4
        ),
        what="the UDP rejections",
    )
    assert total(after, "ingest_worker_restarts_total") == 0
    assert seqs_by_client(read_stored(ingestor.data_dir)).get("udp-after") == {0: 1}
    samples = [r for r in read_rejected(ingestor.data_dir) if r["peer"] == peer]
    assert samples and all(r["transport"] == "udp" for r in samples)
    assert len(samples) == total(after, "ingest_rejected_total") - rejected_before
