"""OTLP/gRPC into a real ingestor, sent by the OpenTelemetry SDK's gRPC log exporter (grpcio, the
client people use) and by a plain grpcio channel for the bad cases, each answered with the gRPC
status a client expects and counted."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as pb

from tests.integration.ingest_helpers import (
    HOST,
    assert_exactly_once,
    config,
    http_get,
    metric_total,
    parse_prometheus,
    read_rejected,
    read_stored,
    run,
    wait_counts,
)
from tests.integration.otel_sdk import send_logs
from workbench.ingestor.grpc import EXPORT
from workbench.ingestor.service import Ingestor


def _sdk_send(target: str, n: int, client: str, *, cert: str | None = None, token: str | None = None,
              gzip: bool = False) -> list[str]:  # fmt: skip
    """n ERROR logs through the SDK and its OTLP/gRPC exporter; the exporter's results."""
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

    credentials = grpc.ssl_channel_credentials(root_certificates=Path(cert).read_bytes()) if cert else None
    exporter = OTLPLogExporter(
        endpoint=target, insecure=cert is None, credentials=credentials, timeout=10,
        headers={"authorization": f"Bearer {token}"} if token else None,
        compression=grpc.Compression.Gzip if gzip else None,
    )  # fmt: skip
    resource = {"service.name": "payments", "host.name": "pod-3"}
    return send_logs(
        exporter, n, client, resource, level=logging.ERROR, message="charge %d declined", batch=250
    )


def test_the_sdk_over_tls_on_the_grpc_port_stores_every_log_mapped(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, otlp_grpc_port=0)) as ing:
            port = ing.standard_ports["otlp_grpc_port"]
            results = await asyncio.to_thread(
                _sdk_send, f"{HOST}:{port}", 1000, "grpc-tls", cert=ing.cert_path
            )
            assert results and set(results) == {"SUCCESS"}
            await wait_counts(ing, logs=1000)
        stored = read_stored(tmp_path)
        assert_exactly_once(stored, {"grpc-tls": 1000})
        rec = next(r for r in stored if r["seq"] == 11)
        assert (rec["level"], rec["service"], rec["host"]) == ("ERROR", "payments", "pod-3")
        assert (
            rec["message"] == "charge 11 declined" and rec["format"] == "otlp" and rec["transport"] == "tls"
        )

    run(main())


def test_grpc_in_plain_text_on_the_universal_port_with_a_token_and_gzip(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, tls=False, auth_token="t0ken")) as ing:
            target = f"{HOST}:{ing.tcp_port}"
            refused = await asyncio.to_thread(_sdk_send, target, 10, "no-token")
            assert refused and "SUCCESS" not in refused
            results = await asyncio.to_thread(_sdk_send, target, 600, "gz", token="t0ken", gzip=True)
            assert results and set(results) == {"SUCCESS"}
            await wait_counts(ing, logs=600)
            _status, _ctype, text = await http_get(f"{ing.url}/metrics")
            metrics = parse_prometheus(text)
            assert metric_total(metrics, "ingest_requests_total", protocol="otlp", status="grpc-16") >= 1
            assert metric_total(metrics, "ingest_requests_total", protocol="otlp", status="grpc-0") >= 3
        assert_exactly_once(read_stored(tmp_path), {"gz": 600})

    run(main())


@pytest.mark.parametrize(
    ("method", "message", "code", "reason"),
    [
        (EXPORT, b"\xff\xff\xff\xff", grpc.StatusCode.INVALID_ARGUMENT, "malformed"),
        (EXPORT, b"\0" * (2 << 20), grpc.StatusCode.RESOURCE_EXHAUSTED, "too_large"),
        (
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            b"",
            grpc.StatusCode.UNIMPLEMENTED,
            None,
        ),
    ],
    ids=["bad-message", "oversized", "other-method"],
)
def test_bad_calls_get_their_grpc_status(tmp_path: Path, method: str, message: bytes, code: Any, reason: str | None) -> None:  # fmt: skip
    async def main() -> None:
        async with Ingestor(config(tmp_path, tls=False, max_request_bytes=1 << 20)) as ing:

            def call() -> tuple[Any, Any]:
                with grpc.insecure_channel(f"{HOST}:{ing.tcp_port}") as channel:
                    stub = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
                    try:
                        stub(message, timeout=10)
                    except grpc.RpcError as exc:
                        return exc.code(), exc.details()
                    good = pb.ExportLogsServiceRequest()
                    return "ok", good

            got, details = await asyncio.to_thread(call)
            assert got == code, details
            if reason is not None:
                await wait_counts(ing, rejected=1)
                assert read_rejected(tmp_path)[0]["reason"] == reason

    run(main())
