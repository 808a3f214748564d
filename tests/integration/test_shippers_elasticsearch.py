"""Elasticsearch bulk into a real ingestor, sent by the official Python client
(``elasticsearch.Elasticsearch`` and ``helpers.bulk``), and the bad documents answered per item
and counted.

Every test sends a known set of documents (``seq`` 0..n-1 and a ``client_id``) and checks each
one stored exactly once with the fields mapped as ``docs/protocol.md`` says.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

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
from workbench.ingestor.service import Ingestor
from workbench.shippers.elasticsearch import VERSION


def _docs(n: int, client: str) -> list[dict[str, Any]]:
    return [
        {"_index": "shop-logs", "@timestamp": f"2025-06-30T21:{i // 60 % 60:02d}:{i % 60:02d}.5Z",
         "message": f"order {i} paid", "log": {"level": "warn" if i % 3 == 0 else "info", "logger": "orders"},
         "service": {"name": "checkout"}, "host": {"name": "box-1"}, "seq": i, "client_id": client,
         "order": {"id": f"o-{i}", "total": i * 1.5}}
        for i in range(n)
    ]  # fmt: skip


def _bulk(url: str, docs: list[dict[str, Any]], **client_kw: Any) -> tuple[dict[str, Any], int, list[Any]]:
    """``info()`` then ``helpers.bulk`` with the official client; (info, ok count, error items)."""
    with Elasticsearch(url, request_timeout=20, **client_kw) as es:
        info = dict(es.info())
        ok, errors = helpers.bulk(es, docs, chunk_size=200, raise_on_error=False)
    return info, ok, list(errors)  # type: ignore[arg-type]


def test_the_official_client_over_tls_on_the_standard_port_stores_every_document_mapped(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, elasticsearch_port=0, auth_token="s3cret")) as ing:
            port = ing.standard_ports["elasticsearch_port"]
            info, ok, errors = await asyncio.to_thread(_bulk, f"https://{HOST}:{port}", _docs(500, "es-tls"),
                                                       ca_certs=ing.cert_path, api_key="s3cret")  # fmt: skip
            assert info["version"]["number"] == VERSION and info["tagline"] == "You Know, for Search"
            assert (ok, errors) == (500, [])
            await wait_counts(ing, logs=500)
        stored = read_stored(tmp_path)
        assert_exactly_once(stored, {"es-tls": 500})
        rec = next(r for r in stored if r["seq"] == 9)
        assert (rec["level"], rec["service"], rec["host"]) == ("WARN", "checkout", "box-1")
        assert rec["message"] == "order 9 paid" and rec["timestamp"] == "2025-06-30T21:00:09.500000Z"
        assert rec["format"] == "elasticsearch" and rec["transport"] == "tls"
        assert rec["attributes"]["order.id"] == "o-9" and rec["attributes"]["order.total"] == "13.5"
        assert rec["attributes"]["log.logger"] == "orders" and rec["attributes"]["_index"] == "shop-logs"
        assert len(rec["attributes"]["_id"]) == 20
        assert "seq" not in rec["attributes"] and "client_id" not in rec["attributes"]

    run(main())


def test_bad_documents_are_answered_per_item_and_counted(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, tls=False)) as ing:
            docs = _docs(40, "es-bad")
            docs[5]["@timestamp"] = "the day before yesterday"  # not a date
            docs[17]["labels"] = {f"k{i}": "v" for i in range(130)}  # over the schema's 128 attributes
            docs.insert(30, {"_op_type": "delete", "_index": "shop-logs", "_id": "gone"})
            url = f"http://{HOST}:{ing.tcp_port}"  # the universal port: told from our formats by its first bytes
            _info, ok, errors = await asyncio.to_thread(_bulk, url, docs)
            assert ok == 38
            assert [(next(iter(e)), e[next(iter(e))]["status"]) for e in errors] == [
                ("index", 400), ("index", 400), ("delete", 400)
            ]  # fmt: skip
            types = [e[next(iter(e))]["error"]["type"] for e in errors]
            assert types == [
                "document_parsing_exception",
                "document_parsing_exception",
                "illegal_argument_exception",
            ]
            await wait_counts(ing, logs=38, rejected=3)
            status, _ctype, text = await http_get(f"{ing.url}/metrics")
            assert status == 200
            metrics = parse_prometheus(text)
            assert metric_total(metrics, "ingest_requests_total", protocol="elasticsearch", status="200") >= 2
        stored = read_stored(tmp_path)
        assert sorted(r["seq"] for r in stored) == [i for i in range(40) if i not in (5, 17)]
        assert len({r["seq"] for r in stored}) == len(stored)  # each once
        rejected = read_rejected(tmp_path)
        assert sorted(r["reason"] for r in rejected) == ["invalid", "invalid", "invalid"]
        assert {r["format"] for r in rejected} == {"elasticsearch"}

    run(main())


def _post(port: int, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/x-ndjson"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_a_broken_action_line_refuses_the_whole_request(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, tls=False)) as ing:
            body = b'{"index":{}}\n{"message":"kept?","seq":0,"client_id":"x"}\n{"index":\n{"message":"m"}\n'
            status, headers, data = await asyncio.to_thread(_post, ing.tcp_port, "/app/_bulk", body)
            assert status == 400 and headers["x-elastic-product"] == "Elasticsearch"
            assert json.loads(data)["error"]["type"] == "x_content_parse_exception"
            await wait_counts(ing, rejected=1)
            good = b'{"create":{}}\n{"message":"after","seq":1,"client_id":"x"}\n'
            status, _h, data = await asyncio.to_thread(_post, ing.tcp_port, "/app/_bulk", good)
            assert status == 200 and json.loads(data)["items"][0]["create"]["status"] == 201
            await wait_counts(ing, logs=1)
        assert [r["seq"] for r in read_stored(tmp_path)] == [1]

    run(main())
