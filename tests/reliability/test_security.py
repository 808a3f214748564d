"""Security: TLS versions and ciphers, default bind addresses, no path built from client input.

Client-certificate auth (``--client-ca``) is tested in
``tests/integration/test_ingest_service.py::test_client_certificate_auth`` and the registry's basic
auth (bad credentials refused with 401) in ``tests/integration/test_registry_api.py::test_basic_auth``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import ssl
import warnings
from pathlib import Path

import pytest
from ingest_helpers import (
    config,
    encode,
    header,
    make_entries,
    read_stored,
    run,
    send_tcp,
    send_udp,
    tls_context,
    wait_counts,
)

from workbench import cli, model
from workbench.collector import CollectorConfig
from workbench.ingestor.config import IngestorConfig
from workbench.ingestor.service import Ingestor, ssl_context_for
from workbench.registry.service import Registry


async def _handshake(ing: Ingestor, ctx: ssl.SSLContext) -> str:
    """The TLS version a client context gets from the ingestor (raises on a failed handshake)."""
    _, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", ing.tcp_port, ssl=ctx, server_hostname="127.0.0.1"), 10
    )
    obj = writer.get_extra_info("ssl_object")
    version = obj.version()
    writer.close()
    return str(version)


def _capped(ing: Ingestor, version: ssl.TLSVersion, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = tls_context(ing)
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def test_tls_1_2_or_newer_with_modern_ciphers_only(tmp_path: Path) -> None:
    server = ssl_context_for(IngestorConfig(data_dir=tmp_path / "ctx"))
    assert server is not None and server.minimum_version == ssl.TLSVersion.TLSv1_2
    for cipher in server.get_ciphers():  # forward secrecy and AEAD only
        assert cipher["protocol"] == "TLSv1.3" or (cipher["kea"] == "kx-ecdhe" and cipher["aead"]), cipher

    async def scenario() -> None:
        async with Ingestor(config(tmp_path / "data")) as ing:
            assert await _handshake(ing, tls_context(ing)) == "TLSv1.3"
            assert await _handshake(ing, _capped(ing, ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
            # old protocol versions, even with every cipher of the local OpenSSL allowed on our side
            for old in ("TLSv1", "TLSv1_1"):
                with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
                    await _handshake(ing, _capped(ing, getattr(ssl.TLSVersion, old), "ALL:@SECLEVEL=0"))
                # refused by the server (a reset or an alert), not by the local OpenSSL unable to say hello
                message = str(refused.value).upper()
                assert isinstance(refused.value, ConnectionError) or "ALERT" in message, refused.value
                assert "NO_PROTOCOLS" not in message
            # TLS 1.2 without forward secrecy or without AEAD
            for weak in (
                "AES128-SHA:AES256-SHA",
                "AES128-GCM-SHA256",
                "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA",
            ):
                with pytest.raises((ssl.SSLError, ConnectionError)):
                    await _handshake(ing, _capped(ing, ssl.TLSVersion.TLSv1_2, weak))
            await send_tcp(ing, encode("json", make_entries(3, "tls")))
            await wait_counts(ing, logs=3)

    run(scenario())


def _defaults(parser: argparse.ArgumentParser) -> dict[str, dict[str, object]]:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        verb: {a.dest: a.default for a in sub._actions if a.dest in ("host", "address", "http_host", "bind")}
        for verb, sub in subparsers.choices.items()
    }


def test_every_service_binds_127_0_0_1_by_default() -> None:
    by_verb = _defaults(cli.build_parser())
    assert {v: d for v, d in by_verb.items() if d} == {
        "ingest": {"host": "127.0.0.1"},
        "registry": {"host": "127.0.0.1"},
        "collect": {"http_host": "127.0.0.1"},
        "dashboard": {"address": "127.0.0.1"},
        "generate": {"address": "127.0.0.1"},  # where it sends to, not a bind
    }
    assert IngestorConfig().host == "127.0.0.1"
    assert CollectorConfig(inputs=("x.log",)).http_host == "127.0.0.1"
    assert inspect.signature(Registry).parameters["host"].default == "127.0.0.1"


TRAVERSAL = ["../../etc", "../../../../tmp/escape", "/etc/passwd", "..", "a/../../b", "..\\..\\win", "x\x00y"]


def test_client_input_never_becomes_a_path(tmp_path: Path) -> None:
    """Fields, format headers and client names like ``../../etc`` stay data: no file outside the data dir."""
    data_dir = tmp_path / "data"
    entries = [
        model.LogEntry(timestamp=model.EPOCH, level="INFO", service=v, host=v, message=v, client_id=v, seq=i,
                       attributes={v: v}, user_id=v)
        for i, v in enumerate(TRAVERSAL)
    ]  # fmt: skip
    syslog = b"".join(
        b"<14>1 2025-06-30T21:59:23Z %s %s - - - escape\n" % (v.encode(), v.encode())
        for v in TRAVERSAL
        if " " not in v and "\x00" not in v
    )
    journald = b"".join(
        b'{"__REALTIME_TIMESTAMP":"1751320763000000","MESSAGE":"m","PRIORITY":"6","SYSLOG_IDENTIFIER":%s,'
        b'"_HOSTNAME":%s}\n' % (json.dumps(v).encode(), json.dumps(v).encode())
        for v in TRAVERSAL
    )

    async def scenario() -> None:
        async with Ingestor(config(data_dir)) as ing:
            await send_tcp(ing, encode("json", entries))
            await send_tcp(ing, header("syslog", framing="lines") + syslog)
            await send_tcp(ing, header("journald", framing="lines") + journald)
            for v in TRAVERSAL[:5]:  # as a format, a framing and a client name in the header
                await send_tcp(ing, f"LOGWB/1 format={v}\n".encode() + encode("json", entries[:1]))
                await send_tcp(
                    ing, f"LOGWB/1 format=json client={v}\n".encode() + encode("json", entries[:1])
                )
                await send_tcp(ing, f"LOGWB/1 format=json framing={v}\n".encode())
            assert ing.udp_port
            await asyncio.to_thread(send_udp, ing.udp_port, [encode("json", entries[:3])])
            await wait_counts(ing, logs=len(entries) + 5 + 3, rejected=10)

    run(scenario())
    outside = [p for p in tmp_path.rglob("*") if data_dir not in p.parents and p != data_dir]
    assert outside == [], f"files created outside the data dir: {outside}"
    names = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file())
    assert all(n.startswith(("log_0_", "rejected/rejected_0.jsonl", "tls/ingestor-")) for n in names), names
    stored = read_stored(data_dir)
    assert {r["service"] for r in stored if r["format"] == "json"} >= set(TRAVERSAL)  # kept as data
