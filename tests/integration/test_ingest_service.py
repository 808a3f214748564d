"""The ingestor as a service: HTTP endpoints, client-certificate auth, and the schema registry."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path

import pytest
import trustme
from ingest_helpers import (
    assert_exactly_once,
    close_cleanly,
    config,
    encode,
    header,
    http_get,
    make_entries,
    metric_total,
    open_conn,
    parse_prometheus,
    read_rejected,
    read_segment,
    read_stored,
    run,
    send_tcp,
    send_udp,
    tls_context,
    totals,
    wait_counts,
)

from workbench import schemas, wire
from workbench.ingestor.service import Ingestor
from workbench.registry.client import RegistryClient
from workbench.registry.service import Registry

REQUIRED_FAMILIES = {
    "ingest_logs_total": "counter",
    "ingest_bytes_total": "counter",
    "ingest_dropped_total": "counter",
    "ingest_rejected_total": "counter",
    "ingest_rotations_total": "counter",
    "ingest_queue_length": "gauge",
}


def test_metrics_endpoints(tmp_path: Path) -> None:
    bad = b'{"timestamp":"2025-06-30T21:59:23Z","level":"NOPE","service":"s","message":"m","host":"h"}\n'

    async def scenario() -> None:
        async with Ingestor(config(tmp_path)) as ing:
            assert ing.url
            await send_tcp(ing, header("json") + encode("json", make_entries(70, "m")) + bad)
            await send_tcp(ing, encode("syslog", make_entries(30, "s")))
            await asyncio.to_thread(send_udp, ing.udp_port, [encode("json", make_entries(5, "u"))])
            await wait_counts(ing, logs=105, rejected=1)

            status, ctype, body = await http_get(f"{ing.url}/metrics")
            assert status == 200 and ctype.startswith("text/plain") and "version=0.0.4" in ctype
            parsed = parse_prometheus(body)
            type_lines = dict(
                line.split(" ")[2:4] for line in body.splitlines() if line.startswith("# TYPE ")
            )
            for family, kind in REQUIRED_FAMILIES.items():
                assert type_lines.get(family) == kind, family
            assert metric_total(parsed, "ingest_logs_total") == 105
            assert metric_total(parsed, "ingest_logs_total", format="json", transport="tls") == 70
            assert metric_total(parsed, "ingest_logs_total", format="syslog", transport="tls") == 30
            assert metric_total(parsed, "ingest_logs_total", format="json", transport="udp") == 5
            assert metric_total(parsed, "ingest_rejected_total", reason="invalid", format="json") == 1
            assert metric_total(parsed, "ingest_bytes_total") == totals(ing)["bytes"] > 0
            assert metric_total(parsed, "ingest_dropped_total") == 0
            assert metric_total(parsed, "ingest_queue_length") == 0
            assert metric_total(parsed, "ingest_connections_total") == 2
            assert parsed["ingest_schema_source"] == {(("source", "bundled"),): 1.0}
            assert parsed["ingest_up"] == {(): 1.0}

            status, ctype, body = await http_get(f"{ing.url}/metrics.json")
            assert status == 200 and ctype.startswith("application/json")
            snap = json.loads(body)
            assert snap["totals"]["logs"] == 105 and snap["totals"]["rejected"] == 1
            assert snap["by_format"] == {"json": 75, "syslog": 30}
            assert snap["by_transport"] == {"tls": 100, "udp": 5}
            assert snap["rejected_by_reason"] == {"invalid": 1}
            assert snap["by_host"] == {"127.0.0.1": 105}
            assert set(snap["samples"]) == {"json", "syslog"}
            assert json.loads(snap["samples"]["syslog"][-1])["format"] == "syslog"
            assert snap["info"]["tcp_port"] == ing.tcp_port and snap["info"]["tls"] is True
            assert snap["info"]["config"]["workers"] == 0
            assert snap["latency_us"] > 0 and snap["uptime_seconds"] > 0
            for key in ("queue_length", "queue_length_max", "connections_active", "disk_bytes", "workers"):
                assert key in snap["gauges"]

            status, _, body = await http_get(f"{ing.url}/healthz")
            assert status == 200
            assert json.loads(body) == {"status": "ok", "workers": 1.0, "schema_source": "bundled"}

            status, ctype, body = await http_get(f"{ing.url}/")
            assert status == 200 and ctype.startswith("text/html") and "metrics.json" in body

    run(scenario())


def test_parse_prometheus_is_strict() -> None:
    """The test's own parser refuses what a Prometheus server would refuse."""
    ok = '# HELP a_total x\n# TYPE a_total counter\na_total{k="v"} 1\n'
    assert parse_prometheus(ok) == {"a_total": {(("k", "v"),): 1.0}}
    for bad in (
        "a_total 1\n",  # no TYPE
        ok + 'a_total{k="v"} 2\n',  # duplicate series
        "# TYPE a gauge\na 1",  # no final newline
        "# TYPE a gauge\na one\n",
        "# TYPE a gauge\na{k=v} 1\n",
    ):
        with pytest.raises(AssertionError):
            parse_prometheus(bad)


def test_client_certificate_auth(tmp_path: Path) -> None:
    """--client-ca: a client with a certificate of that CA is served; one without it is refused."""
    ca = trustme.CA()
    ca_file = tmp_path / "client-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client = ca.issue_cert("sender.example")
    cert_file, key_file = tmp_path / "client-cert.pem", tmp_path / "client-key.pem"
    client.cert_chain_pems[0].write_to_path(str(cert_file))
    client.private_key_pem.write_to_path(str(key_file))
    other = trustme.CA().issue_cert("intruder.example")
    other_cert, other_key = tmp_path / "other-cert.pem", tmp_path / "other-key.pem"
    other.cert_chain_pems[0].write_to_path(str(other_cert))
    other.private_key_pem.write_to_path(str(other_key))

    async def refused(ing: Ingestor, ctx: ssl.SSLContext) -> None:
        try:
            reader, writer = await open_conn(ing, ctx)
            writer.write(encode("json", make_entries(5, "refused")))
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
        except (ssl.SSLError, ConnectionError):
            pass  # TLS 1.2 fails in the handshake, TLS 1.3 on the first read

    async def scenario() -> None:
        data_dir = tmp_path / "data"
        async with Ingestor(config(data_dir, client_ca=ca_file)) as ing:
            await send_tcp(
                ing, encode("json", make_entries(20, "authed")), ctx=tls_context(ing, cert_file, key_file)
            )
            await wait_counts(ing, logs=20)
            await refused(ing, tls_context(ing))
            await refused(ing, tls_context(ing, other_cert, other_key))
            await asyncio.sleep(0.5)
            assert totals(ing)["logs"] == 20

    run(scenario())
    assert_exactly_once(read_stored(tmp_path / "data"), {"authed": 20})


def _json_schema_v2() -> str:
    schema = json.loads(json.dumps(schemas.json_schema()))
    schema["properties"]["region"] = {"type": ["string", "null"], "maxLength": 64}
    return json.dumps(schema)


@pytest.mark.slow
def test_registry_schema_ids(tmp_path: Path) -> None:
    """Schema ids from the registry: v1 accepted, v2's added field moved into attributes, unknown id rejected."""

    async def scenario() -> None:
        async with Registry(tmp_path / "registry", port=0) as registry:
            async with RegistryClient(registry.url) as client:
                v1 = await client.get_latest("logs-json-value")
                v2_id = await client.register("logs-json-value", _json_schema_v2(), "JSON")
            assert v2_id != v1.schema_id
            async with Ingestor(config(tmp_path / "data", registry_url=registry.url)) as ing:
                assert ing.schemas.source == "registry"
                await send_tcp(
                    ing, header("json", schema_id=v1.schema_id) + encode("json", make_entries(10, "v1"))
                )
                v2_lines = b"".join(
                    line[:-2] + b',"region":"eu-north-%d"}\n' % i
                    for i, line in enumerate(encode("json", make_entries(10, "v2")).splitlines(keepends=True))
                )
                await send_tcp(ing, header("json", schema_id=v2_id) + v2_lines)
                await send_tcp(ing, header("json", schema_id=99_999) + encode("json", make_entries(4, "x")))
                await wait_counts(ing, logs=20, rejected=4)
                assert ing.snapshot()["rejected_by_reason"] == {"unknown_schema": 4}
                _, _, body = await http_get(f"{ing.url}/metrics")
                assert parse_prometheus(body)["ingest_schema_source"] == {(("source", "registry"),): 1.0}

    run(scenario())
    stored = read_stored(tmp_path / "data")
    assert_exactly_once(stored, {"v1": 10, "v2": 10})
    for rec in stored:
        assert "region" not in rec
        if rec["client_id"] == "v2":
            assert rec["attributes"]["region"] == f"eu-north-{rec['seq']}"
            assert rec["attributes"]["i"] == str(rec["seq"])  # the sent attributes are kept too
    rejected = read_rejected(tmp_path / "data")
    assert {r["reason"] for r in rejected} == {"unknown_schema"}
    assert "99999" in rejected[0]["detail"]


def test_registry_unreachable_falls_back_to_bundled(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused

    async def scenario() -> None:
        cfg = config(tmp_path, registry_url=dead, registry_timeout_seconds=1.0)
        async with Ingestor(cfg) as ing:
            assert ing.schemas.source == "bundled"
            _, _, body = await http_get(f"{ing.url}/metrics")
            assert parse_prometheus(body)["ingest_schema_source"] == {(("source", "bundled"),): 1.0}
            _, _, health = await http_get(f"{ing.url}/healthz")
            assert json.loads(health)["schema_source"] == "bundled"
            await send_tcp(ing, encode("json", make_entries(10, "fallback")))
            await send_tcp(
                ing, wire.make_header("avro").encode() + wire.frame(encode("avro", make_entries(3, "av")))
            )
            await wait_counts(ing, logs=13)

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"fallback": 10, "av": 3})


def test_long_lived_connections_are_spread_over_the_worker_processes(tmp_path: Path) -> None:
    """The parent hands each TCP connection to the least busy worker (SO_REUSEPORT hashing put two
    connections on one worker half of the time): 4 connections open together, 2 workers, each
    worker stores the logs of 2 of them, and every log of every connection is stored once."""

    async def scenario() -> None:
        async with Ingestor(config(tmp_path, workers=2)) as ing:
            assert ing.dispatcher is not None
            conns = [await open_conn(ing) for _ in range(4)]
            for i, (_reader, writer) in enumerate(conns):
                writer.write(header("json") + encode("json", make_entries(200, f"conn{i}")))
            for reader, writer in conns:
                await close_cleanly(reader, writer)
            await wait_counts(ing, logs=800)
            assert ing.dispatcher.dispatched == 4

    run(scenario())
    stored = read_stored(tmp_path)
    assert_exactly_once(stored, {f"conn{i}": 200 for i in range(4)})
    by_worker: dict[str, set[str]] = {}
    for path in sorted(tmp_path.glob("log_*.jsonl*")):
        worker = path.name.split("_")[1]
        by_worker.setdefault(worker, set()).update(r["client_id"] for r in read_segment(path))
    assert sorted(len(clients) for clients in by_worker.values()) == [2, 2], by_worker


def test_a_plain_client_on_the_tls_port_of_worker_processes_is_cut_and_the_next_one_is_served(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with Ingestor(config(tmp_path, workers=2)) as ing:
            reader, writer = await open_conn(ing, ctx=False)
            writer.write(header("json") + encode("json", make_entries(5, "plain")))
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 20) == b""  # the handshake fails; closed
            writer.close()
            await send_tcp(ing, header("json") + encode("json", make_entries(7, "tls")))
            await wait_counts(ing, logs=7)

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"tls": 7})


def test_a_sender_that_closes_without_reading_loses_nothing(tmp_path: Path) -> None:
    """Like loggen: write every log over TLS, then close the socket without reading a byte. A TLS
    1.3 session ticket left unread in the sender's receive buffer would turn that close into a
    reset, and the kernel drops what the ingestor had not read yet (2 % of loggen's logs, measured).
    The ingestor sends no tickets, so the close is a FIN and every log is stored."""
    n = 20_000
    data = header("json") + encode("json", make_entries(n, "closer"))

    def send_and_close(port: int, cafile: str) -> None:
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.check_hostname = False
        tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
        try:
            assert tls.version() == "TLSv1.3"
            tls.sendall(data)
        finally:
            tls.close()  # no close_notify, no read: whatever the server sent stays unread

    async def scenario() -> None:
        async with Ingestor(config(tmp_path, workers=2)) as ing:
            assert ing.cert_path is not None
            await asyncio.to_thread(send_and_close, ing.tcp_port, ing.cert_path)
            await wait_counts(ing, logs=n, timeout=30)

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"closer": n})


def test_a_worker_process_runs_without_the_settings_model(tmp_path: Path) -> None:
    """The parent validates the configuration; a worker gets the same settings without importing
    pydantic (its import was most of a worker's start and 5 MB of its memory): its memory maps
    hold no pydantic_core, and it stores what it is sent."""

    async def scenario() -> None:
        async with Ingestor(config(tmp_path, workers=1)) as ing:
            pids = [c.process.pid for c in ing._children.values()]
            assert len(pids) == 1
            maps = Path(f"/proc/{pids[0]}/maps").read_text()
            assert "pydantic_core" not in maps and "msgspec" in maps
            reader, writer = await open_conn(ing)
            writer.write(header("json") + encode("json", make_entries(50, "lean")))
            await close_cleanly(reader, writer)
            await wait_counts(ing, logs=50)

    run(scenario())
    assert_exactly_once(read_stored(tmp_path), {"lean": 50})


def test_worker_settings_are_the_parents_validated_config(tmp_path: Path) -> None:
    from workbench.ingestor.config import IngestorConfig
    from workbench.ingestor.process import worker_settings

    cfg = IngestorConfig(data_dir=tmp_path, cert=tmp_path / "c.pem", key=tmp_path / "k.pem", auth_token="t",
                         otlp_http_port=0, max_queue_bytes=1 << 20)  # fmt: skip
    settings = worker_settings(cfg.model_dump(mode="json"))
    for name in IngestorConfig.model_fields:
        assert getattr(settings, name) == getattr(cfg, name), name
