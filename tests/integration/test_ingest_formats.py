"""Every format end to end over real TLS on a free port, with the header and auto-detected.

Each case sends ``make_entries`` data of one client and reads the stored files back: every seq
exactly once, the fields as sent, the stored extras (``format``, ``transport``, ``peer``,
``received_at``) right. Also real senders' byte layouts (rsyslog/syslog-ng octet counting over
TLS, BSD syslog lines, foreign raw lines from loghub), UDP datagrams, and concurrent clients
mixing formats on the one port.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import (
    assert_entry_fields,
    assert_exactly_once,
    config,
    encode,
    framed,
    header,
    make_entries,
    read_stored,
    run,
    send_tcp,
    send_udp,
    totals,
    wait_counts,
)

from workbench.ingestor.service import Ingestor

N = 120

# name -> (format stored, payload builder(entries) -> bytes)
CASES: dict[str, tuple[str, Any]] = {
    "json-header": ("json", lambda es: header("json") + encode("json", es)),
    "json-detected": ("json", lambda es: encode("json", es)),
    "proto-header": ("proto", lambda es: header("proto") + framed("proto", es, 17)),
    "proto-detected": ("proto", lambda es: framed("proto", es, 17)),
    "avro-header": ("avro", lambda es: header("avro") + framed("avro", es, 17)),
    "avro-detected": ("avro", lambda es: framed("avro", es, 17)),
    "raw-header": ("raw", lambda es: header("raw") + encode("raw", es)),
    "raw-detected": ("raw", lambda es: encode("raw", es)),
    "syslog-octet-header": ("syslog", lambda es: header("syslog") + encode("syslog", es)),
    "syslog-octet-detected": ("syslog", lambda es: encode("syslog", es)),
    "syslog-lines-header": (
        "syslog",
        lambda es: header("syslog", framing="lines") + encode("syslog", es, octet_counting=False),
    ),
    "syslog-lines-detected": ("syslog", lambda es: encode("syslog", es, octet_counting=False)),
    "journald-export-header": ("journald", lambda es: header("journald") + encode("journald", es)),
    "journald-export-detected": ("journald", lambda es: encode("journald", es)),
    "journald-json-header": (
        "journald",
        lambda es: header("journald", framing="lines") + encode("journald", es, json_lines=True),
    ),
    "journald-json-detected": ("journald", lambda es: encode("journald", es, json_lines=True)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_format_over_tls(tmp_path: Path, case: str) -> None:
    fmt, build = CASES[case]
    data = build(make_entries(N, case))

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            # small chunks: frames and lines cut across reads, the header too
            await send_tcp(ing, data, chunk=997)
            await wait_counts(ing, logs=N)
            t = totals(ing)
            assert t["rejected"] == 0 and t["dropped"] == 0
            assert ing.snapshot()["by_format"] == {fmt: N}

    run(scenario())
    stored = read_stored(tmp_path)
    assert_exactly_once(stored, {case: N})
    for rec in stored:
        assert_entry_fields(rec, fmt)


def test_concurrent_clients_mixed_formats(tmp_path: Path) -> None:
    """Every case at once, each on its own connection, three connections per case."""
    per_client = 300
    payloads = {
        f"{case}#{k}": build(make_entries(per_client, f"{case}#{k}"))
        for case, (_, build) in CASES.items()
        for k in range(3)
    }

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            await asyncio.gather(*(send_tcp(ing, data, chunk=4096) for data in payloads.values()))
            await wait_counts(ing, logs=per_client * len(payloads))
            assert totals(ing)["rejected"] == 0

    run(scenario())
    stored = read_stored(tmp_path)
    assert_exactly_once(stored, dict.fromkeys(payloads, per_client))
    for rec in stored:
        assert_entry_fields(rec, CASES[rec["client_id"].split("#")[0]][0])


RSYSLOG_5424 = [
    b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
    b'eventSource="Application" eventID="1011"] \xef\xbb\xbfAn application event log entry...',
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick",
    b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
]
BSD_3164 = [
    b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    b"<13>Feb  5 17:32:18 10.0.0.99 myapp[1234]: Use the BFG!",
    b"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0",
]


def test_real_syslog_senders(tmp_path: Path) -> None:
    """rsyslog/syslog-ng over TLS (RFC 5425 octet counting, no header) and newline syslog."""
    octet = b"".join(b"%d %s" % (len(m), m) for m in RSYSLOG_5424 * 10)
    octet_nl = b"".join(b"%d %s\n" % (len(m), m) for m in RSYSLOG_5424)  # a trailer after each frame
    lines = b"".join(m + b"\n" for m in BSD_3164 + RSYSLOG_5424)

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            await send_tcp(ing, octet, chunk=50)
            await send_tcp(ing, octet_nl)
            await send_tcp(ing, lines)
            await wait_counts(ing, logs=30 + 3 + 6)
            assert totals(ing)["rejected"] == 0

    run(scenario())
    stored = read_stored(tmp_path)
    assert len(stored) == 39
    assert {r["format"] for r in stored} == {"syslog"}
    first = next(r for r in stored if r["service"] == "evntslog")
    assert first["host"] == "mymachine.example.com"
    assert first["level"] == "INFO"  # severity 5
    assert first["message"] == "An application event log entry..."  # BOM dropped
    assert first["attributes"]["exampleSDID@32473.eventID"] == "1011"
    assert first["attributes"]["syslog.msgid"] == "ID47"
    assert first["timestamp"] == "2003-10-11T22:14:15.003000Z"
    offset = next(r for r in stored if r["service"] == "myproc")
    assert offset["timestamp"] == "2003-08-24T12:14:15.000003Z"  # normalised to UTC
    su = next(r for r in stored if r["service"] == "su" and "/dev/pts/8" in r["message"])
    assert su["level"] == "FATAL" and su["host"] == "mymachine"
    bfg = next(r for r in stored if r["service"] == "myapp")
    assert bfg["attributes"]["syslog.procid"] == "1234" and bfg["host"] == "10.0.0.99"


def test_loghub_samples_detected(tmp_path: Path, loghub_lines: dict[str, list[bytes]]) -> None:
    """Real log files sent as they are: Linux (BSD syslog without PRI) and Apache/HDFS (raw)."""
    expected = {"Linux_2k": "syslog", "Apache_2k": "raw", "HDFS_2k": "raw", "OpenSSH_2k": "syslog"}

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            for name in expected:
                await send_tcp(ing, b"\n".join(loghub_lines[name]) + b"\n")
            total = sum(len(loghub_lines[n]) for n in expected)
            await wait_counts(ing, logs=total)
            assert totals(ing)["rejected"] == 0
            assert ing.snapshot()["by_format"] == {
                "syslog": len(loghub_lines["Linux_2k"]) + len(loghub_lines["OpenSSH_2k"]),
                "raw": len(loghub_lines["Apache_2k"]) + len(loghub_lines["HDFS_2k"]),
            }

    run(scenario())
    stored = read_stored(tmp_path)
    raw = [r for r in stored if r["format"] == "raw"]
    sent_raw = {ln.decode() for n in ("Apache_2k", "HDFS_2k") for ln in loghub_lines[n]}
    assert {r["message"] for r in raw} == sent_raw  # raw keeps the whole line as the message


def test_udp_json_and_syslog(tmp_path: Path) -> None:
    """JSON datagrams of several lines each, and syslog datagrams (RFC 5424 and 3164)."""
    json_entries = make_entries(400, "udp-json")
    json_dgrams = [encode("json", json_entries[i : i + 8]) for i in range(0, 400, 8)]
    syslog_entries = make_entries(100, "udp-syslog")
    syslog_dgrams = [encode("syslog", [e], octet_counting=False).rstrip(b"\n") for e in syslog_entries]
    bsd = [b"<13>Feb  5 17:32:18 10.0.0.99 myapp[%d]: datagram %d" % (i, i) for i in range(20)]

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            assert ing.udp_port
            await asyncio.to_thread(send_udp, ing.udp_port, json_dgrams + syslog_dgrams + bsd)
            await wait_counts(ing, logs=520)
            t = totals(ing)
            assert t["rejected"] == 0 and t["dropped"] == 0
            assert ing.snapshot()["by_transport"] == {"udp": 520}

    run(scenario())
    stored = read_stored(tmp_path)
    assert_exactly_once([r for r in stored if r.get("client_id")], {"udp-json": 400, "udp-syslog": 100})
    for rec in stored:
        if rec.get("client_id") == "udp-json":
            assert_entry_fields(rec, "json", "udp")
        elif rec.get("client_id") == "udp-syslog":
            assert_entry_fields(rec, "syslog", "udp")
    assert sorted(r["message"] for r in stored if r["service"] == "myapp") == sorted(
        f"datagram {i}" for i in range(20)
    )


def test_plain_tcp_no_tls(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Ingestor(config(tmp_path, tls=False)) as ing:
            assert ing.cert_path is None
            await send_tcp(ing, header("json") + encode("json", make_entries(50, "plain")), ctx=False)
            await send_tcp(ing, encode("syslog", make_entries(50, "plain-syslog")), ctx=False)
            await wait_counts(ing, logs=100)

    run(scenario())
    stored = read_stored(tmp_path)
    assert_exactly_once(stored, {"plain": 50, "plain-syslog": 50})
    for rec in stored:
        assert_entry_fields(rec, "json" if rec["client_id"] == "plain" else "syslog", "tcp")
    assert not (tmp_path / "tls").exists()
