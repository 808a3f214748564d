"""Elasticsearch bulk: documents mapped field by field, the answer item by item, per-item
rejections beside stored documents, whole-request 400s, the cluster answer of ``GET /``, and the
official Python client with ``helpers.bulk`` driving the codec through an in-process node (the
client's own serialisation, product check and error handling; no server).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, NamedTuple
from urllib.parse import parse_qsl

import msgspec
import pytest
from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
from elasticsearch import Elasticsearch, helpers

from workbench.codecs.base import ENCODING, INVALID, MALFORMED
from workbench.shippers.base import Decoded, HttpReply, HttpRequest
from workbench.shippers.elasticsearch import VERSION, ElasticsearchCodec, filter_path

CODEC = ElasticsearchCodec(default_service="fallback-svc", worker_id=3)


def ndjson(*objs: Any) -> bytes:
    return b"".join((o if isinstance(o, bytes) else msgspec.json.encode(o)) + b"\n" for o in objs)


def request(body: bytes, path: str = "/_bulk", index: str | None = None, query: dict[str, str] | None = None,
            headers: dict[str, str] | None = None, method: str = "POST") -> HttpRequest:  # fmt: skip
    params = {"index": index} if index else {}
    return HttpRequest(method, path, query or {}, headers or {}, body, params, peer_host="10.9.8.7")


def bulk(body: bytes, **kw: Any) -> tuple[Decoded, dict[str, Any], HttpReply]:
    req = request(body, **kw)
    decoded = CODEC.decode("bulk", req)
    assert isinstance(decoded, Decoded), decoded
    reply = CODEC.reply("bulk", req, decoded)
    assert reply.status == 200
    assert ("X-Elastic-Product", "Elasticsearch") in reply.headers
    return decoded, msgspec.json.decode(reply.body), reply


def refused(body: bytes, **kw: Any) -> dict[str, Any]:
    reply = CODEC.decode("bulk", request(body, **kw))
    assert isinstance(reply, HttpReply) and reply.status == 400
    assert ("X-Elastic-Product", "Elasticsearch") in reply.headers
    answer = msgspec.json.decode(reply.body)
    assert answer["status"] == 400 and answer["error"]["root_cause"][0]["type"] == answer["error"]["type"]
    return answer["error"]  # type: ignore[no-any-return]


def test_routes() -> None:
    table = {(r.method, r.path): r.action for r in ElasticsearchCodec.routes}
    for key in [("POST", "/_bulk"), ("PUT", "/_bulk"), ("POST", "/{index}/_bulk"), ("PUT", "/{index}/_bulk")]:
        assert table[key] == "bulk"
    assert table[("GET", "/")] == "info"
    route = next(r for r in ElasticsearchCodec.routes if r.path == "/{index}/_bulk")
    assert route.match("POST", "/logs-app/_bulk") == {"index": "logs-app"}
    assert next(r for r in ElasticsearchCodec.routes if r.path == "/").match("HEAD", "/") == {}


def test_document_maps_every_field() -> None:
    doc = {
        "@timestamp": "2025-06-30T21:59:23.123456Z", "message": "charge failed",
        "log": {"level": "error", "logger": "payments"}, "service": {"name": "payment-api", "version": "1.2"},
        "host": {"name": "web-1", "ip": ["10.0.0.1"]}, "seq": 7, "client_id": "gen-1",
        "user": {"id": "u-9"}, "trace.id": "abc", "http": {"response": {"status_code": 502}}, "tags": ["a", "b"],
    }  # fmt: skip
    decoded, answer, _ = bulk(ndjson({"index": {"_index": "logs", "_id": "doc-1"}}, doc))
    assert decoded.errors == []
    [e] = decoded.entries
    assert e.timestamp == dt.datetime(2025, 6, 30, 21, 59, 23, 123456, tzinfo=dt.UTC)
    assert (e.level, e.service, e.host, e.message) == ("ERROR", "payment-api", "web-1", "charge failed")
    assert (e.seq, e.client_id, e.user_id, e.trace_id) == (7, "gen-1", "u-9", "abc")
    assert e.attributes == {
        "log.logger": "payments", "service.version": "1.2", "host.ip": '["10.0.0.1"]',
        "http.response.status_code": "502", "tags": '["a","b"]', "_index": "logs", "_id": "doc-1",
    }  # fmt: skip
    assert answer["errors"] is False and isinstance(answer["took"], int)
    [item] = answer["items"]
    assert item == {"index": {"_index": "logs", "_id": "doc-1", "_version": 1, "result": "created",
                              "_shards": {"total": 1, "successful": 1, "failed": 0},
                              "_seq_no": item["index"]["_seq_no"], "_primary_term": 1, "status": 201}}  # fmt: skip


def test_flat_names_and_fallbacks() -> None:
    before = dt.datetime.now(dt.UTC)
    body = ndjson({"create": {}}, {"message": "m", "level": "warn", "service": "svc", "host": "h"},
                  {"create": {}}, {"msg": "only a msg"})  # fmt: skip
    decoded, answer, _ = bulk(body, path="/app/_bulk", index="app")
    a, b = decoded.entries
    assert (a.level, a.service, a.host, a.message) == ("WARN", "svc", "h", "m")
    assert (b.level, b.service, b.host, b.message) == ("INFO", "fallback-svc", "10.9.8.7", "only a msg")
    assert abs(b.timestamp - before) < dt.timedelta(seconds=30)
    assert [next(iter(i)) for i in answer["items"]] == ["create", "create"]
    assert {i["create"]["_index"] for i in answer["items"]} == {"app"}
    ids = [i["create"]["_id"] for i in answer["items"]]
    assert len(set(ids)) == 2 and all(len(i) == 20 for i in ids)
    assert [e.attributes["_id"] for e in decoded.entries] == ids


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1751320763123, dt.datetime(2025, 6, 30, 21, 59, 23, 123000, tzinfo=dt.UTC)),
        ("1751320763123", dt.datetime(2025, 6, 30, 21, 59, 23, 123000, tzinfo=dt.UTC)),
        ("2025-06-30T23:59:23+02:00", dt.datetime(2025, 6, 30, 21, 59, 23, tzinfo=dt.UTC)),
        ("2025-06-30", dt.datetime(2025, 6, 30, tzinfo=dt.UTC)),
    ],
)
def test_timestamps_iso_or_epoch_millis(value: Any, expected: dt.datetime) -> None:
    for key in ("@timestamp", "timestamp"):
        decoded, _, _ = bulk(ndjson({"index": {"_index": "i"}}, {key: value, "message": "x"}))
        assert decoded.entries[0].timestamp == expected


def test_message_absent_is_empty_and_a_non_string_message_is_json() -> None:
    decoded, _, _ = bulk(ndjson({"index": {"_index": "i"}}, {"event": {"kind": "k"}},
                                {"index": {"_index": "i"}}, {"message": 42}))  # fmt: skip
    a, b = decoded.entries
    assert a.message == "" and a.attributes["event.kind"] == "k"
    assert b.message == "42"


def test_rejected_items_beside_stored_ones_item_by_item() -> None:
    body = ndjson(
        {"index": {"_index": "logs", "_id": "ok-1"}}, {"message": "first", "seq": 1},
        {"index": {"_index": "logs", "_id": "bad-time"}}, {"@timestamp": "yesterday", "message": "x"},
        {"delete": {"_index": "logs", "_id": "gone"}},
        {"update": {"_index": "logs", "_id": "u"}}, {"doc": {"message": "changed"}},
        {"index": {"_index": "logs", "_id": "not-json"}}, b"{not json",
        {"index": {"_index": "logs", "_id": "not-object"}}, b"[1, 2]",
        {"index": {"_index": "logs", "_id": "too-many"}}, {"message": "m", **{f"k{i}": i for i in range(130)}},
        {"index": {"_index": "logs", "_id": "not-utf8"}}, b'{"message": "caf\xe9"}',
        {"create": {"_index": "logs", "_id": "ok-2"}}, {"message": "last", "seq": 2},
    )  # fmt: skip
    decoded, answer, _ = bulk(body)
    assert [e.seq for e in decoded.entries] == [1, 2]
    assert [(e.index, e.reason) for e in decoded.errors] == [
        (1, INVALID), (2, INVALID), (3, INVALID), (4, MALFORMED), (5, MALFORMED), (6, INVALID), (7, ENCODING),
    ]  # fmt: skip
    assert answer["errors"] is True
    items = answer["items"]
    assert [(next(iter(i)), i[next(iter(i))]["_id"], i[next(iter(i))]["status"]) for i in items] == [
        ("index", "ok-1", 201), ("index", "bad-time", 400), ("delete", "gone", 400), ("update", "u", 400),
        ("index", "not-json", 400), ("index", "not-object", 400), ("index", "too-many", 400),
        ("index", "not-utf8", 400), ("create", "ok-2", 201),
    ]  # fmt: skip
    types = [i[next(iter(i))].get("error", {}).get("type") for i in items]
    assert types == [None, "document_parsing_exception", "illegal_argument_exception", "illegal_argument_exception",
                     "document_parsing_exception", "document_parsing_exception", "document_parsing_exception",
                     "document_parsing_exception", None]  # fmt: skip
    assert "failed to parse field [@timestamp] of type [date]" in items[1]["index"]["error"]["reason"]
    assert "[4:1]" in items[1]["index"]["error"]["reason"]  # the source's line, as Elasticsearch says it
    seq_nos = [items[0]["index"]["_seq_no"], items[8]["create"]["_seq_no"]]
    assert seq_nos[1] == seq_nos[0] + 1


def test_the_body_may_lack_its_last_newline_and_hold_blank_lines() -> None:
    decoded, _, _ = bulk(b'\n{"index":{"_index":"i"}}\r\n\n{"message":"m"}')
    assert [e.message for e in decoded.entries] == ["m"]


@pytest.mark.parametrize(
    ("body", "kind", "words"),
    [
        (b'{"index": {"_index": "i"}\n{"message":"m"}\n', "x_content_parse_exception", "[3:1]"),
        (b'{"upsert": {}}\n{"message":"m"}\n', "illegal_argument_exception", "but found [upsert]"),
        (
            b'{"index": {}, "create": {}}\n{}\n',
            "illegal_argument_exception",
            "Malformed action/metadata line [3]",
        ),
        (b'{"index": "i"}\n{}\n', "illegal_argument_exception", "expected START_OBJECT"),
        (b'{"index": {"_index": "i"}}\n', "illegal_argument_exception", "has no source line"),
        (b'{"index": {}}\n{"message":"m"}\n', "action_request_validation_exception", "index is missing"),
    ],
)
def test_a_broken_action_line_fails_the_whole_request(body: bytes, kind: str, words: str) -> None:
    """Nothing is stored, not even the good pair before it (lines 1 and 2)."""
    error = refused(ndjson({"index": {"_index": "i"}}, {"message": "before"}) + body)
    assert error["type"] == kind
    assert words in error["reason"]


@pytest.mark.parametrize("body", [b"", b"\n\n"])
def test_an_empty_bulk_is_refused(body: bytes) -> None:
    error = refused(body)
    assert (error["type"], error["reason"]) == ("action_request_validation_exception",
                                                "Validation Failed: 1: no requests added;")  # fmt: skip


def test_info_is_a_cluster_answer_with_the_product_header() -> None:
    for method in ("GET", "HEAD"):
        reply = CODEC.decode("info", request(b"", "/", method=method))
        assert isinstance(reply, HttpReply) and reply.status == 200
        assert ("X-Elastic-Product", "Elasticsearch") in reply.headers
        info = msgspec.json.decode(reply.body)
        assert info["tagline"] == "You Know, for Search"
        assert info["version"]["number"] == VERSION and VERSION.startswith("8.")
        assert info["version"]["build_flavor"] == "default"
        assert info["cluster_name"] and info["cluster_uuid"] and info["name"]
    again = ElasticsearchCodec(worker_id=0).info()
    assert again["cluster_uuid"] == CODEC.info()["cluster_uuid"]  # every worker is the same cluster


def test_every_answer_has_the_product_header() -> None:
    req = request(b"")
    for reply in (CODEC.unauthorized(req), CODEC.too_large(req, "too big"), CODEC.busy(req),
                  CODEC.decode("health", request(b"", "/_cluster/health", method="GET"))):  # fmt: skip
        assert isinstance(reply, HttpReply)
        assert ("X-Elastic-Product", "Elasticsearch") in reply.headers
    assert CODEC.unauthorized(req).status == 401
    assert msgspec.json.decode(CODEC.unauthorized(req).body)["error"]["type"] == "security_exception"
    assert CODEC.busy(req).status == 429


def test_compatible_media_type_is_answered_in_kind() -> None:
    accept = {"accept": "application/vnd.elasticsearch+json; compatible-with=8"}
    _, _, reply = bulk(ndjson({"index": {"_index": "i"}}, {"message": "m"}), headers=accept)
    assert reply.content_type == "application/vnd.elasticsearch+json;compatible-with=8"
    _, _, plain = bulk(ndjson({"index": {"_index": "i"}}, {"message": "m"}))
    assert plain.content_type == "application/json"


def test_filter_path() -> None:
    body = {"took": 3, "errors": True, "items": [{"index": {"status": 201, "_id": "a"}},
                                                 {"create": {"status": 400, "error": {"type": "t"}}}]}  # fmt: skip
    assert filter_path(body, "errors,items.*.error,items.*.status") == {
        "errors": True, "items": [{"index": {"status": 201}}, {"create": {"status": 400, "error": {"type": "t"}}}]
    }  # fmt: skip
    assert filter_path(body, "took") == {"took": 3}
    assert filter_path(body, "nothing.here") == {}
    _, answer, _ = bulk(ndjson({"index": {"_index": "i"}}, {"message": "m"}), query={"filter_path": "errors"})
    assert answer == {"errors": False}


# --- the official client, through an in-process node -------------------------------------------


class _Response(NamedTuple):
    meta: ApiResponseMeta
    body: bytes


class InProcessNode(BaseNode):
    """A node of the official client that hands each request to the codec, as the ingestor does:
    decode, 'write' the entries (kept in ``stored``), then reply."""

    codec = ElasticsearchCodec(default_service="client-svc", worker_id=5)
    stored: ClassVar[list[Any]] = []
    rejected: ClassVar[list[Any]] = []

    def perform_request(self, method: str, target: str, body: bytes | None = None,
                        headers: HttpHeaders | None = None, request_timeout: Any = None) -> _Response:  # fmt: skip
        path, _, query = target.partition("?")
        for route in self.codec.routes:
            params = route.match(method, path)
            if params is not None:
                break
        else:
            raise AssertionError(f"the client asked for {method} {path}, which the codec does not serve")
        all_headers = {k.lower(): v for k, v in {**self.headers, **(headers or {})}.items()}
        req = HttpRequest(method, path, dict(parse_qsl(query)), all_headers, body or b"", params, "127.0.0.1")
        decoded = self.codec.decode(route.action, req)
        if isinstance(decoded, Decoded):
            self.stored.extend(decoded.entries)
            self.rejected.extend(decoded.errors)
            decoded = self.codec.reply(route.action, req, decoded)
        meta = ApiResponseMeta(status=decoded.status, http_version="1.1", duration=0.0, node=self.config,
                               headers=HttpHeaders({"content-type": decoded.content_type, **dict(decoded.headers)}))  # fmt: skip
        return _Response(meta, decoded.body)


@pytest.fixture
def client() -> Any:
    InProcessNode.stored.clear()
    InProcessNode.rejected.clear()
    es = Elasticsearch("http://es.invalid:9200", node_class=InProcessNode)
    yield es
    es.close()


def test_official_client_info(client: Any) -> None:
    info = client.info()
    assert info["version"]["number"] == VERSION
    assert client.ping() is True


def test_official_client_helpers_bulk_stores_every_document_once(client: Any) -> None:
    docs = [{"_index": "app-logs", "_id": f"id-{i}", "@timestamp": f"2025-06-30T21:59:{i % 60:02d}Z",
             "message": f"line {i}", "log.level": "warn" if i % 2 else "info", "service": {"name": "shop"},
             "host": {"name": "node-1"}, "seq": i, "client_id": "es-client"} for i in range(250)]  # fmt: skip
    ok, errors = helpers.bulk(client, docs, chunk_size=100)
    assert (ok, errors) == (250, [])
    stored = InProcessNode.stored
    assert sorted(e.seq for e in stored) == list(range(250))
    e = next(e for e in stored if e.seq == 7)
    assert (e.level, e.service, e.host, e.message, e.client_id) == (
        "WARN",
        "shop",
        "node-1",
        "line 7",
        "es-client",
    )
    assert e.timestamp == dt.datetime(2025, 6, 30, 21, 59, 7, tzinfo=dt.UTC)
    assert e.attributes == {"_index": "app-logs", "_id": "id-7"}


def test_official_client_sees_bad_documents_per_item(client: Any) -> None:
    docs = [{"_index": "a", "message": "good", "seq": 0}, {"_index": "a", "@timestamp": "not a date", "seq": 1},
            {"_op_type": "delete", "_index": "a", "_id": "x"}, {"_index": "a", "message": "good", "seq": 3}]  # fmt: skip
    ok, errors = helpers.bulk(client, docs, raise_on_error=False)
    assert ok == 2
    assert [(next(iter(e)), e[next(iter(e))]["status"]) for e in errors] == [("index", 400), ("delete", 400)]
    assert sorted(e.seq for e in InProcessNode.stored) == [0, 3]
    assert [err.index for err in InProcessNode.rejected] == [1, 2]
    with pytest.raises(helpers.BulkIndexError) as raised:
        helpers.bulk(client, docs[:2])
    assert raised.value.errors[0]["index"]["error"]["type"] == "document_parsing_exception"
