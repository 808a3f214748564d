"""OTLP logs over HTTP into a real ingestor, sent by the OpenTelemetry Python SDK's logging
handler and OTLP/HTTP exporter (the client people use), and the bad cases answered and counted.

Every test sends a known set of logs (``seq`` 0..n-1 and a ``client_id`` as record attributes)
and checks each one stored exactly once with the fields mapped as ``docs/protocol.md`` says.
"""

from __future__ import annotations

import gzip
import http.client
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as pb
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from tests.integration.ingest_helpers import (
    HOST,
    assert_exactly_once,
    config,
    metric_total,
    parse_prometheus,
    read_rejected,
    read_stored,
    run,
    wait_counts,
)
from tests.integration.otel_sdk import send_logs
from workbench.ingestor.service import Ingestor


def _sdk_send(endpoint: str, n: int, client: str, *, certificate: str | None = None, headers: dict[str, str] | None = None,
              compression: str | None = None) -> bool:  # fmt: skip
    """n WARN logs through the SDK and its OTLP/HTTP exporter; True when every batch was exported."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    exporter = OTLPLogExporter(
        endpoint=endpoint, certificate_file=certificate, headers=headers, timeout=10,
        compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
    )  # fmt: skip
    resource = {"service.name": "checkout", "host.name": "box-1", "deployment.environment": "test"}
    results = send_logs(exporter, n, client, resource, extra={"order_id": "o-{i}"})
    return bool(results) and set(results) == {"SUCCESS"}


def _post(port: int, path: str, body: bytes, headers: dict[str, str], tls: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    conn: http.client.HTTPConnection = (
        http.client.HTTPSConnection(HOST, port, context=tls, timeout=10) if tls else http.client.HTTPConnection(HOST, port, timeout=10)
    )  # fmt: skip
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _request(records: list[logs_pb2.LogRecord], service: str = "billing") -> pb.ExportLogsServiceRequest:
    req = pb.ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(string_value=service))
    sl = rl.scope_logs.add()
    sl.scope.name = "test-scope"
    sl.log_records.extend(records)
    return req


def _record(i: int, client: str, **kw: Any) -> logs_pb2.LogRecord:
    r = logs_pb2.LogRecord(time_unix_nano=1_750_000_000_000_000_000 + i * 1000, severity_number=kw.pop("severity", 17),
                           body=common_pb2.AnyValue(string_value=kw.pop("message", f"failed {i}")), **kw)  # fmt: skip
    r.attributes.add(key="seq", value=common_pb2.AnyValue(int_value=i))
    r.attributes.add(key="client_id", value=common_pb2.AnyValue(string_value=client))
    return r


def test_the_sdk_over_tls_on_the_standard_port_stores_every_log_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's ``verify`` (requests
    # issue 3829), and this machine sets them: the exporter's certificate_file is used only without
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    async def main() -> None:
        async with Ingestor(config(tmp_path, otlp_http_port=0)) as ing:
            port = ing.standard_ports["otlp_http_port"]
            import asyncio

            ok = await asyncio.to_thread(_sdk_send, f"https://{HOST}:{port}/v1/logs", 500, "sdk-tls",
                                         certificate=ing.cert_path)  # fmt: skip
            assert ok
            await wait_counts(ing, logs=500)
        stored = read_stored(tmp_path)
        assert_exactly_once(stored, {"sdk-tls": 500})
        rec = next(r for r in stored if r["seq"] == 7)
        assert rec["level"] == "WARN" and rec["service"] == "checkout" and rec["host"] == "box-1"
        assert rec["message"] == "order 7 paid" and rec["format"] == "otlp" and rec["transport"] == "tls"
        assert rec["attributes"]["order_id"] == "o-7"
        assert rec["attributes"]["deployment.environment"] == "test"
        assert rec["attributes"]["otel.scope.name"] == "otel-sdk-sdk-tls"
        assert "seq" not in rec["attributes"] and "client_id" not in rec["attributes"]

    run(main())


def test_the_sdk_with_gzip_on_the_universal_port_and_a_token(tmp_path: Path) -> None:
    """One port for everything: the exporter's HTTP request is told from our formats by its first bytes."""

    async def main() -> None:
        import asyncio

        async with Ingestor(config(tmp_path, tls=False, auth_token="s3cret")) as ing:
            url = f"http://{HOST}:{ing.tcp_port}/v1/logs"
            refused = await asyncio.to_thread(_sdk_send, url, 5, "no-token")
            assert not refused  # the exporter saw the 401
            ok = await asyncio.to_thread(_sdk_send, url, 300, "gz", headers={"Authorization": "Bearer s3cret"},
                                         compression="gzip")  # fmt: skip
            assert ok
            await wait_counts(ing, logs=300)
            metrics = parse_prometheus(await _metrics(ing))
            assert metric_total(metrics, "ingest_requests_total", protocol="otlp", status="401") >= 1
            assert metric_total(metrics, "ingest_requests_total", protocol="otlp", status="200") >= 2
        assert_exactly_once(read_stored(tmp_path), {"gz": 300})

    run(main())


async def _metrics(ing: Ingestor) -> str:
    from tests.integration.ingest_helpers import http_get

    status, _ctype, text = await http_get(f"{ing.url}/metrics")
    assert status == 200
    return text


def test_partial_success_names_the_rejected_records_and_stores_the_rest(tmp_path: Path) -> None:
    async def main() -> None:
        import asyncio

        async with Ingestor(config(tmp_path, tls=False)) as ing:
            records = [_record(i, "partial") for i in range(10)]
            records[3] = _record(3, "partial", message="x" * 70_000)  # over the schema's message bound
            records[6].time_unix_nano = 0
            records[6].observed_time_unix_nano = 0  # no time at all: stamped on receipt, still stored
            body = _request(records).SerializeToString()
            status, headers, data = await asyncio.to_thread(
                _post, ing.tcp_port, "/v1/logs", body, {"Content-Type": "application/x-protobuf"}
            )
            assert status == 200 and headers["content-type"] == "application/x-protobuf"
            answer = pb.ExportLogsServiceResponse.FromString(data)
            assert answer.partial_success.rejected_log_records == 1
            assert "record 3: invalid" in answer.partial_success.error_message
            await wait_counts(ing, logs=9, rejected=1)
        stored = read_stored(tmp_path)
        assert sorted(r["seq"] for r in stored) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
        assert {r["level"] for r in stored} == {"ERROR"} and {r["service"] for r in stored} == {"billing"}
        assert {r["host"] for r in stored} == {HOST}  # no host.name: the peer's address
        rejected = read_rejected(tmp_path)
        assert rejected and rejected[0]["reason"] == "invalid" and rejected[0]["format"] == "otlp"

    run(main())


def test_otlp_json_follows_the_spec_rules(tmp_path: Path) -> None:
    """lowerCamelCase names, hex trace ids, enum numbers, 64-bit ints as strings."""
    body = {
        "resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}},
                                        {"key": "host.name", "value": {"stringValue": "node-9"}}]},
            "scopeLogs": [{"scope": {"name": "js", "version": "1.2"}, "logRecords": [
                {"timeUnixNano": "1750000000123456789", "severityNumber": 13, "severityText": "Warning",
                 "body": {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": "5"}}]}},
                 "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
                 "attributes": [{"key": "seq", "value": {"intValue": str(i)}},
                                {"key": "client_id", "value": {"stringValue": "json"}},
                                {"key": "retries", "value": {"intValue": "3"}},
                                {"key": "ok", "value": {"boolValue": True}}]}
                for i in range(4)]}],
        }],
    }  # fmt: skip

    async def main() -> None:
        import asyncio

        async with Ingestor(config(tmp_path, tls=False)) as ing:
            status, headers, data = await asyncio.to_thread(
                _post,
                ing.tcp_port,
                "/v1/logs",
                json.dumps(body).encode(),
                {"Content-Type": "application/json"},
            )
            assert status == 200 and headers["content-type"] == "application/json" and json.loads(data) == {}
            await wait_counts(ing, logs=4)
        stored = read_stored(tmp_path)
        assert_exactly_once(stored, {"json": 4})
        rec = stored[0]
        assert rec["timestamp"] == "2025-06-15T15:06:40.123456Z"
        assert (rec["level"], rec["service"], rec["host"]) == ("WARN", "cart", "node-9")
        assert json.loads(rec["message"]) == {"k": 5}
        assert rec["trace_id"] == "5b8efff798038103d269b633813fc60c"
        assert rec["attributes"] == {"retries": "3", "ok": "true", "span_id": "eee19b7ec3c1b174",
                                     "otel.scope.name": "js", "otel.scope.version": "1.2"}  # fmt: skip

    run(main())


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (b"\xff\xff\xff not protobuf", {"Content-Type": "application/x-protobuf"}, 400, "malformed"),
        (b"{not json", {"Content-Type": "application/json"}, 400, "malformed"),
        (b"<xml/>", {"Content-Type": "text/xml"}, 415, None),
        (
            b"\x1f\x8b garbage",
            {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            400,
            "malformed",
        ),
        (
            gzip.compress(b"\0" * (3 << 20)),
            {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            413,
            "too_large",
        ),
        (b"\0" * (2 << 20), {"Content-Type": "application/x-protobuf"}, 413, "too_large"),
    ],
    ids=["bad-protobuf", "bad-json", "media-type", "bad-gzip", "gzip-bomb", "oversized"],
)
def test_bad_requests_are_answered_and_counted(
    tmp_path: Path, body: bytes, headers: dict[str, str], status: int, reason: str | None
) -> None:
    async def main() -> None:
        import asyncio

        cfg = config(tmp_path, tls=False, max_request_bytes=1 << 20, max_inflated_bytes=2 << 20)
        async with Ingestor(cfg) as ing:
            got, _h, data = await asyncio.to_thread(_post, ing.tcp_port, "/v1/logs", body, headers)
            assert got == status, data
            if reason is not None:
                await wait_counts(ing, rejected=1)
                rejected = read_rejected(tmp_path)
                assert rejected[0]["reason"] == reason and rejected[0]["format"] == "otlp"
            # the ingestor still serves the next request on a new connection
            ok, _h, _d = await asyncio.to_thread(
                _post, ing.tcp_port, "/v1/logs", _request([_record(0, "after")]).SerializeToString(),
                {"Content-Type": "application/x-protobuf"},
            )  # fmt: skip
            assert ok == 200
            await wait_counts(ing, logs=1)

    run(main())


def test_unknown_paths_are_404_and_a_raw_line_that_looks_like_http_is_still_a_log(tmp_path: Path) -> None:
    async def main() -> None:
        import asyncio

        async with Ingestor(config(tmp_path, tls=False)) as ing:
            got, _h, _d = await asyncio.to_thread(_post, ing.tcp_port, "/nowhere", b"{}", {})
            assert got == 404
            reader, writer = await asyncio.open_connection(HOST, ing.tcp_port)
            writer.write(b"GET /index.html 200 1043 0.002s\nGET /a HTTP/1.1 304\n")
            await writer.drain()
            writer.write_eof()
            await reader.read()
            writer.close()
            await wait_counts(ing, logs=2)
        stored = read_stored(tmp_path)
        assert {r["format"] for r in stored} == {"raw"}
        assert [r["message"] for r in stored] == ["GET /index.html 200 1043 0.002s", "GET /a HTTP/1.1 304"]

    run(main())


def test_keep_alive_requests_on_one_connection_are_answered_in_order(tmp_path: Path) -> None:
    async def main() -> None:
        import asyncio

        async with Ingestor(config(tmp_path, tls=False)) as ing:

            def many() -> list[int]:
                conn = http.client.HTTPConnection(HOST, ing.tcp_port, timeout=10)
                statuses = []
                for b in range(20):
                    records = [_record(b * 50 + i, "keepalive") for i in range(50)]
                    conn.request("POST", "/v1/logs", body=_request(records).SerializeToString(),
                                 headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
                    resp = conn.getresponse()
                    resp.read()
                    statuses.append(resp.status)
                conn.close()
                return statuses

            assert await asyncio.to_thread(many) == [200] * 20
            await wait_counts(ing, logs=1000)
            assert totals(ing)["connections"] == 1

    from tests.integration.ingest_helpers import totals

    run(main())


def test_worker_processes_serve_the_standard_ports_the_parent_accepts_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """`ingest --workers 2 --otlp-http-port 0 --hec-port 0`: the ready event names the bound ports,
    each takes OTLP (every port serves every protocol), and SIGTERM stops it with all stored."""
    from tests.integration.ingest_process import IngestProcess

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    proc = IngestProcess(tmp_path, "--otlp-http-port", "0", "--hec-port", "0")
    try:
        ports = proc.ready
        assert ports["otlp_http_port"] > 0 and ports["hec_port"] > 0
        assert ports["config"]["otlp_http_port"] == ports["otlp_http_port"]
        assert "loki_port" not in ports and ports["config"]["loki_port"] is None
        for client, key in (("w-otlp", "otlp_http_port"), ("w-hec", "hec_port")):
            assert _sdk_send(f"https://{HOST}:{ports[key]}/v1/logs", 400, client, certificate=proc.cert_path)
    finally:
        assert proc.terminate() == 0
    assert_exactly_once(read_stored(tmp_path), {"w-otlp": 400, "w-hec": 400})


NODE_CLIENTS = Path(__file__).resolve().parents[1] / "clients" / "node"


def test_the_javascript_sdk_sends_otlp_json_over_tls(tmp_path: Path) -> None:
    """The OpenTelemetry JavaScript logs exporter (npm, OTLP/JSON over HTTP) unchanged."""
    import asyncio
    import os
    import subprocess

    assert (NODE_CLIENTS / "node_modules").is_dir(), "run `make clients` (npm ci in tests/clients/node)"

    async def main() -> None:
        async with Ingestor(config(tmp_path, otlp_http_port=0, auth_token="js-token")) as ing:
            url = f"https://{HOST}:{ing.standard_ports['otlp_http_port']}/v1/logs"
            env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(ing.cert_path)}
            cmd = ["node", str(NODE_CLIENTS / "otlp_json_send.mjs"), url, "700", "js", "js-token"]
            done = await asyncio.to_thread(
                subprocess.run, cmd, capture_output=True, text=True, timeout=90, env=env
            )
            assert done.returncode == 0, done.stderr[-2000:]
            assert json.loads(done.stdout.strip().splitlines()[-1]) == {"sent": 700, "failed": 0}
            await wait_counts(ing, logs=700)
        stored = read_stored(tmp_path)
        assert_exactly_once(stored, {"js": 700})
        rec = next(r for r in stored if r["seq"] == 9)
        assert (rec["level"], rec["service"], rec["host"]) == ("WARN", "web-frontend", "node-host")
        assert rec["message"] == "slow render 9" and rec["format"] == "otlp"
        assert rec["attributes"]["route"] == "/p/2" and rec["attributes"]["big"] == str(2**40 + 9)
        assert rec["attributes"]["otel.scope.name"] == "frontend-js"

    run(main())
