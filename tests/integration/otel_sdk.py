"""The OpenTelemetry Python SDK as a real sender: its logging handler, a batch processor and
whichever OTLP exporter a test builds (HTTP or gRPC). ``send_logs`` logs numbered records with
``seq`` and ``client_id`` attributes (exact accounting) and returns the exporter's own result
of every batch, so a test sees what the SDK saw (it retries transient errors, gives up on a
refusal)."""

from __future__ import annotations

import logging
from typing import Any


def send_logs(exporter: Any, n: int, client: str, resource: dict[str, str], *, level: int = logging.WARNING,
              message: str = "order %d paid", extra: dict[str, str] | None = None, batch: int = 200) -> list[str]:  # fmt: skip
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    results: list[Any] = []
    export = exporter.export
    exporter.export = lambda records: results.append(export(records)) or results[-1]
    provider = LoggerProvider(resource=Resource.create(resource))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=batch))
    logger = logging.getLogger(f"otel-sdk-{client}")
    logger.propagate = False
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        for i in range(n):
            fields = {k: v.format(i=i) for k, v in (extra or {}).items()}
            logger.log(level, message, i, extra={"seq": i, "client_id": client, **fields})
        assert provider.force_flush(30_000)
        return [r.name for r in results]
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
