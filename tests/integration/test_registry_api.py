"""The registry's HTTP API end to end: every endpoint and error code, persistence, concurrency, auth."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workbench.registry.background import registry_in_thread
from workbench.registry.service import Registry

VND = "application/vnd.schemaregistry.v1+json"
REC = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
REC2 = {**REC, "fields": [*REC["fields"], {"name": "b", "type": "string", "default": ""}]}
REC_BAD = {**REC, "fields": [*REC["fields"], {"name": "c", "type": "string"}]}


def call(
    url: str,
    method: str = "GET",
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw: bool = False,
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, method=method, data=data, headers={"Content-Type": VND, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    return status, (text if raw else json.loads(text))


def schema_body(schema: Any, schema_type: str | None = None) -> dict[str, Any]:
    body = {"schema": schema if isinstance(schema, str) else json.dumps(schema)}
    if schema_type:
        body["schemaType"] = schema_type
    return body


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with registry_in_thread(tmp_path / "reg", seed=False) as reg:
        yield reg


@pytest.fixture
def url(registry: Registry) -> str:
    return registry.url


def register(url: str, subject: str, schema: Any, schema_type: str | None = None) -> tuple[int, Any]:
    return call(f"{url}/subjects/{subject}/versions", "POST", schema_body(schema, schema_type))


def test_register_get_and_list(url: str) -> None:
    assert call(f"{url}/") == (200, {})
    assert call(f"{url}/subjects") == (200, [])
    status, body = register(url, "s", REC)
    assert (status, body) == (200, {"id": 1})
    assert register(url, "s", REC) == (200, {"id": 1})  # idempotent
    assert register(url, "s", REC2) == (200, {"id": 2})
    assert register(url, "other", REC) == (200, {"id": 1})  # same schema, same id across subjects
    assert call(f"{url}/subjects") == (200, ["other", "s"])
    assert call(f"{url}/subjects?subjectPrefix=o") == (200, ["other"])
    assert call(f"{url}/subjects/s/versions") == (200, [1, 2])
    status, latest = call(f"{url}/subjects/s/versions/latest")
    assert status == 200 and latest["version"] == 2 and latest["id"] == 2 and latest["subject"] == "s"
    assert "schemaType" not in latest and json.loads(latest["schema"]) == REC2
    assert call(f"{url}/subjects/s/versions/-1")[1] == latest
    assert json.loads(call(f"{url}/subjects/s/versions/1/schema", raw=True)[1]) == REC
    assert call(f"{url}/subjects/s/versions/1/referencedby") == (200, [])
    assert json.loads(call(f"{url}/schemas/ids/1")[1]["schema"]) == REC
    assert json.loads(call(f"{url}/schemas/ids/1/schema", raw=True)[1]) == REC
    assert call(f"{url}/schemas/ids/1/versions") == (
        200,
        [{"subject": "other", "version": 1}, {"subject": "s", "version": 1}],
    )
    assert call(f"{url}/schemas/ids/1/subjects") == (200, ["other", "s"])
    assert sorted(call(f"{url}/schemas/types")[1]) == ["AVRO", "JSON", "PROTOBUF"]
    status, schemas = call(f"{url}/schemas?latestOnly=true")
    assert status == 200 and [(s["subject"], s["version"]) for s in schemas] == [("other", 1), ("s", 2)]


def test_lookup(url: str) -> None:
    register(url, "s", REC)
    status, body = call(f"{url}/subjects/s", "POST", schema_body(REC))
    assert status == 200 and (body["subject"], body["id"], body["version"]) == ("s", 1, 1)
    assert call(f"{url}/subjects/s", "POST", schema_body(REC2))[1]["error_code"] == 40403
    assert call(f"{url}/subjects/nope", "POST", schema_body(REC))[1]["error_code"] == 40401


def test_error_codes(url: str) -> None:
    register(url, "s", REC)
    cases = [
        (call(f"{url}/subjects/nope/versions"), 404, 40401),
        (call(f"{url}/subjects/nope/versions/1"), 404, 40401),
        (call(f"{url}/subjects/s/versions/9"), 404, 40402),
        (call(f"{url}/schemas/ids/99"), 404, 40403),
        (call(f"{url}/subjects/s/versions/0"), 422, 42202),
        (call(f"{url}/subjects/s/versions/abc"), 422, 42202),
        (register(url, "s", REC_BAD), 409, 409),
        (register(url, "s", '{"type": "nope"}'), 422, 42201),
        (register(url, "j", '{"type": 12}', "JSON"), 422, 42201),
        (register(url, "p", "message {", "PROTOBUF"), 422, 42201),
        (register(url, "s", "x", "XML"), 422, 42201),
        (call(f"{url}/config", "PUT", {"compatibility": "SIDEWAYS"}), 422, 42203),
        (call(f"{url}/config/s"), 404, 40408),
        (call(f"{url}/associations/resources/x"), 404, 404),
        (call(f"{url}/subjects/s/metadata"), 404, 404),
        (call(f"{url}/mode/s"), 404, 40409),
        (call(f"{url}/mode", "PUT", {"mode": "BOGUS"}), 422, 42204),
        (call(f"{url}/mode", "PUT", {"mode": "IMPORT"}), 422, 42205),
        (call(f"{url}/subjects/s/versions", "POST", {"schema": json.dumps(REC), "id": 5}), 422, 42205),
        (
            call(
                f"{url}/subjects/s/versions",
                "POST",
                {"schema": json.dumps(REC), "references": [{"name": "x", "subject": "y", "version": 1}]},
            ),
            422,
            42201,
        ),
    ]
    for (status, body), want_status, want_code in cases:
        assert (status, body["error_code"]) == (want_status, want_code), body
        assert isinstance(body["message"], str) and body["message"]
    status, body = register(url, "s", REC_BAD)
    assert "'c'" in body["message"] and "no default" in body["message"]


def test_malformed_body_is_400_not_500(url: str) -> None:
    request = urllib.request.Request(
        f"{url}/subjects/s/versions", method="POST", data=b"{oops", headers={"Content-Type": VND}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 400 and json.loads(info.value.read())["error_code"] == 400


def test_content_types(url: str) -> None:
    for accept, expected in ((VND, VND), ("application/json", "application/json"), ("*/*", VND)):
        request = urllib.request.Request(f"{url}/subjects", headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"].startswith(expected)
    request = urllib.request.Request(
        f"{url}/subjects/s/versions",
        method="POST",
        data=json.dumps(schema_body(REC)).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == {"id": 1}


def test_soft_and_permanent_delete(url: str) -> None:
    register(url, "s", REC)
    register(url, "s", REC2)
    # permanent delete needs a soft delete first
    assert call(f"{url}/subjects/s/versions/1?permanent=true", "DELETE")[1]["error_code"] == 40407
    assert call(f"{url}/subjects/s/versions/1", "DELETE") == (200, 1)
    assert call(f"{url}/subjects/s/versions/1", "DELETE")[1]["error_code"] == 40406
    assert call(f"{url}/subjects/s/versions") == (200, [2])
    assert call(f"{url}/subjects/s/versions?deleted=true") == (200, [1, 2])
    assert call(f"{url}/subjects/s/versions/1")[1]["error_code"] == 40402
    assert call(f"{url}/subjects/s/versions/1?deleted=true")[1]["deleted"] is True
    assert call(f"{url}/schemas/ids/1")[0] == 200  # a soft-deleted version keeps its id readable
    assert call(f"{url}/subjects/s/versions/1?permanent=true", "DELETE") == (200, 1)
    assert call(f"{url}/subjects/s/versions?deleted=true") == (200, [2])
    assert call(f"{url}/schemas/ids/1")[1]["error_code"] == 40403
    assert call(f"{url}/subjects/s?permanent=true", "DELETE")[1]["error_code"] == 40405
    assert call(f"{url}/subjects/s", "DELETE") == (200, [2])
    assert call(f"{url}/subjects/s", "DELETE")[1]["error_code"] == 40404
    assert call(f"{url}/subjects") == (200, [])
    assert call(f"{url}/subjects?deleted=true") == (200, ["s"])
    assert call(f"{url}/subjects?deletedOnly=true") == (200, ["s"])
    assert call(f"{url}/subjects/s/versions")[1]["error_code"] == 40401
    assert register(url, "s", REC2) == (200, {"id": 2})  # re-registering continues the numbering
    assert call(f"{url}/subjects/s/versions") == (200, [3])
    call(f"{url}/subjects/s", "DELETE")
    assert call(f"{url}/subjects/s?permanent=true", "DELETE") == (200, [2, 3])
    assert call(f"{url}/subjects?deleted=true") == (200, [])
    assert call(f"{url}/subjects/s", "DELETE")[1]["error_code"] == 40401
    assert register(url, "s", REC) == (200, {"id": 1})  # the schema keeps its id after a hard delete


def test_config_and_compatibility(url: str) -> None:
    assert call(f"{url}/config") == (200, {"compatibilityLevel": "BACKWARD"})
    register(url, "s", REC)
    endpoint = f"{url}/compatibility/subjects/s/versions/latest"
    assert call(endpoint, "POST", schema_body(REC2)) == (200, {"is_compatible": True})
    assert call(endpoint, "POST", schema_body(REC_BAD)) == (200, {"is_compatible": False})
    _, body = call(endpoint + "?verbose=true", "POST", schema_body(REC_BAD))
    assert body["is_compatible"] is False and "no default" in body["messages"][0]
    assert call(f"{url}/compatibility/subjects/s/versions/1?verbose=true", "POST", schema_body(REC2))[1] == {
        "is_compatible": True,
        "messages": [],
    }
    assert call(f"{url}/compatibility/subjects/s/versions", "POST", schema_body(REC_BAD))[1] == {
        "is_compatible": False
    }
    assert (
        call(f"{url}/compatibility/subjects/nope/versions/latest", "POST", schema_body(REC))[1]["error_code"]
        == 40401
    )
    assert (
        call(f"{url}/compatibility/subjects/s/versions/7", "POST", schema_body(REC))[1]["error_code"] == 40402
    )
    assert (
        call(f"{url}/compatibility/subjects/s/versions/latest", "POST", schema_body("{"))[1]["error_code"]
        == 42201
    )

    assert call(f"{url}/config/s", "PUT", {"compatibility": "none"}) == (200, {"compatibility": "NONE"})
    assert call(f"{url}/config/s") == (200, {"compatibilityLevel": "NONE"})
    assert call(endpoint, "POST", schema_body(REC_BAD)) == (200, {"is_compatible": True})
    assert register(url, "s", REC_BAD)[0] == 200
    assert call(f"{url}/config/s", "DELETE") == (200, {"compatibilityLevel": "NONE"})
    assert call(f"{url}/config/s", "DELETE")[1]["error_code"] == 40401
    assert call(f"{url}/config/s?defaultToGlobal=true") == (200, {"compatibilityLevel": "BACKWARD"})
    assert call(f"{url}/config", "PUT", {"compatibility": "FULL_TRANSITIVE"}) == (
        200,
        {"compatibility": "FULL_TRANSITIVE"},
    )
    assert call(f"{url}/config") == (200, {"compatibilityLevel": "FULL_TRANSITIVE"})
    assert call(f"{url}/config", "DELETE") == (200, {"compatibilityLevel": "FULL_TRANSITIVE"})
    assert call(f"{url}/config") == (200, {"compatibilityLevel": "BACKWARD"})


def test_protobuf_and_json_subjects(url: str) -> None:
    proto = 'syntax = "proto3";\nmessage M { int32 a = 1; string b = 2; }\n'
    status, body = register(url, "p", proto, "PROTOBUF")
    assert status == 200
    got = call(f"{url}/schemas/ids/{body['id']}")[1]
    assert got == {"schema": proto, "schemaType": "PROTOBUF"}
    assert call(f"{url}/subjects/p/versions/1")[1]["schemaType"] == "PROTOBUF"
    status, body = register(
        url, "p", proto.replace("  string b = 2;", "").replace(" string b = 2;", ""), "PROTOBUF"
    )
    assert status == 409 and "reserving its number" in body["message"]
    assert (
        register(url, "p", proto.replace("string b = 2;", "string b = 2; bool c = 3;"), "PROTOBUF")[0] == 200
    )
    closed = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    assert register(url, "j", closed, "JSON")[0] == 200
    status, body = register(url, "j", {**closed, "required": ["a"]}, "JSON")
    assert status == 409 and "required" in body["message"]


def test_unused_features_answer_like_the_api(url: str) -> None:
    register(url, "s", REC)
    assert call(f"{url}/mode") == (200, {"mode": "READWRITE"})
    assert call(f"{url}/mode", "PUT", {"mode": "READWRITE"}) == (200, {"mode": "READWRITE"})
    assert call(f"{url}/mode/s?defaultToGlobal=true") == (200, {"mode": "READWRITE"})
    assert call(f"{url}/contexts") == (200, ["."])
    assert call(f"{url}/subjects/s/versions/9/referencedby")[1]["error_code"] == 40402
    for method, path in (
        ("GET", "/associations"),
        ("POST", "/associations"),
        ("GET", "/schemas/guids/x"),
        ("GET", "/exporters"),
        ("GET", "/dek-registry/v1/keks"),
    ):
        status, body = call(url + path, method, {} if method == "POST" else None)
        assert status in (404, 405) and body["error_code"] == status


def test_restart_keeps_everything(tmp_path: Path) -> None:
    data = tmp_path / "reg"
    with registry_in_thread(data) as reg:
        seeded = call(f"{reg.url}/subjects")[1]
        assert seeded == ["logs-json-value", "logs-proto-value", "logs-value"]
        register(reg.url, "s", REC)
        register(reg.url, "s", REC2)
        call(f"{reg.url}/subjects/s/versions/1", "DELETE")
        call(f"{reg.url}/config/s", "PUT", {"compatibility": "FORWARD"})
        call(f"{reg.url}/config", "PUT", {"compatibility": "FULL"})
        before = {
            path: call(reg.url + path)
            for path in (
                "/subjects",
                "/subjects/s/versions?deleted=true",
                "/subjects/s/versions/latest",
                "/schemas/ids/4",
                "/config",
                "/config/s",
                "/subjects/logs-value/versions/latest",
                "/subjects?deleted=true",
            )
        }
    with registry_in_thread(data) as reg:
        after = {path: call(reg.url + path) for path in before}
        assert after == before
        assert call(f"{reg.url}/subjects/logs-value/versions") == (200, [1])  # seeding is not repeated
        assert register(reg.url, "new", {"type": "enum", "name": "E", "symbols": ["A"]}) == (200, {"id": 6})


def test_concurrent_registrations_get_unique_consistent_ids(url: str) -> None:
    call(f"{url}/config", "PUT", {"compatibility": "NONE"})  # unrelated records follow each other
    common = [{"type": "record", "name": f"C{i}", "fields": [{"name": "a", "type": "int"}]} for i in range(3)]
    own = {n: [{"type": "enum", "name": f"E{n}_{i}", "symbols": ["A"]} for i in range(2)] for n in range(8)}
    results: list[tuple[str, str, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def client(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for schema in [*common, *own[n]]:
                for subject in (f"sub-{n}", "shared"):
                    status, body = register(url, subject, schema)
                    assert status == 200, body
                    with lock:
                        results.append((subject, json.dumps(schema), body["id"]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    ids: dict[str, set[int]] = {}
    for _, schema, schema_id in results:
        ids.setdefault(schema, set()).add(schema_id)
    assert all(len(found) == 1 for found in ids.values())  # the same schema always got the same id
    assert len({min(found) for found in ids.values()}) == 3 + 16  # distinct schemas got distinct ids
    for n in range(8):
        assert call(f"{url}/subjects/sub-{n}/versions")[1] == [1, 2, 3, 4, 5]
    assert call(f"{url}/subjects/shared/versions")[1] == list(range(1, 3 + 16 + 1))  # no duplicate version


def test_basic_auth(tmp_path: Path) -> None:
    with registry_in_thread(tmp_path / "reg", seed=False, auth="alice:s3cret") as reg:
        status, body = call(f"{reg.url}/subjects")
        assert (status, body["error_code"]) == (401, 401)
        bad = base64.b64encode(b"alice:wrong").decode()
        assert call(f"{reg.url}/subjects", headers={"Authorization": f"Basic {bad}"})[0] == 401
        good = base64.b64encode(b"alice:s3cret").decode()
        assert call(f"{reg.url}/subjects", headers={"Authorization": f"Basic {good}"}) == (200, [])
