"""The thin HTTP layer: Confluent Schema Registry REST routes over ``RegistryService``.

Requests may use ``application/vnd.schemaregistry.v1+json``, ``application/vnd.schemaregistry+json``
or ``application/json``; responses use the vnd type unless the client asked only for plain JSON.
Every error is ``{"error_code": ..., "message": ...}`` with the Confluent codes; routes of features
this registry does not have (associations, metadata, rules) answer 404 with that body, never 500.
``/healthz`` (ours, not Confluent's) answers ``{"status": "ok"}`` once the store answers a read,
without credentials even under ``--auth``: what the compose healthcheck probes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from workbench.registry.compatibility import CompatibilityLevel
from workbench.registry.errors import (
    InvalidMode,
    InvalidSchema,
    OperationNotPermitted,
    RegistryError,
    SubjectConfigNotFound,
    SubjectModeNotFound,
    SubjectNotFound,
)
from workbench.registry.schema_types import SchemaType, Subject
from workbench.registry.store import VersionRow
from workbench.registry.subjects import RegistryService, parse_version

log = logging.getLogger(__name__)
VND = "application/vnd.schemaregistry.v1+json"
SERVICE_KEY = web.AppKey("registry_service", RegistryService)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_MODES = ("READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT")
# not a Confluent route (none clashes with it): the liveness probe every service of ours answers
HEALTH_PATH = "/healthz"


def _content_type(request: web.Request) -> str:
    accept = request.headers.get("Accept", "")
    if "application/json" in accept and "schemaregistry" not in accept:
        return "application/json"
    return VND


def reply(request: web.Request, body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type=_content_type(request))


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").strip().lower() == "true"


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RegistryError(f"Unrecognized request body: {exc}", error_code=400, http_status=400) from None
    if not isinstance(data, dict):
        raise RegistryError("The request body must be a JSON object", error_code=400, http_status=400)
    return data


def _schema_request(body: dict[str, Any]) -> tuple[str | None, object]:
    if body.get("references"):
        raise InvalidSchema("Invalid schema: schema references are not supported by this registry")
    return body.get("schemaType"), body.get("schema")


def _version_body(row: VersionRow) -> dict[str, Any]:
    out: dict[str, Any] = {"subject": row.subject, "version": row.version, "id": row.schema_id}
    if row.schema_type != SchemaType.AVRO.value:
        out["schemaType"] = row.schema_type
    out["schema"] = row.schema
    if row.deleted:
        out["deleted"] = True
    return out


def _subject(request: web.Request) -> Subject:
    return Subject(request.match_info["subject"])


def _maybe_subject(request: web.Request) -> Subject | None:
    name = request.match_info.get("subject")
    return None if name is None else Subject(name)


def _service(request: web.Request) -> RegistryService:
    return request.app[SERVICE_KEY]


# -- error and auth middlewares ------------------------------------------------------------------
@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RegistryError as exc:
        return reply(request, exc.body(), exc.http_status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return reply(
            request, {"error_code": exc.status, "message": f"HTTP {exc.status} {exc.reason}"}, exc.status
        )
    except Exception as exc:  # a bug: answer in the API's shape, keep the traceback in the log
        log.exception("registry request %s %s failed", request.method, request.path)
        return reply(request, {"error_code": 50001, "message": f"Internal server error: {exc}"}, 500)


def auth_middleware(
    user: str, password: str
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    expected = f"{user}:{password}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == HEALTH_PATH:  # probes (Docker, Kubernetes) carry no credentials
            return await handler(request)
        header = request.headers.get("Authorization", "")
        ok = False
        if header[:6].lower() == "basic ":
            try:
                ok = hmac.compare_digest(base64.b64decode(header[6:].strip(), validate=True), expected)
            except (binascii.Error, ValueError):
                ok = False
        if not ok:
            response = reply(request, {"error_code": 401, "message": "Unauthorized"}, 401)
            response.headers["WWW-Authenticate"] = 'Basic realm="schema-registry"'
            return response
        return await handler(request)

    return check


# -- health --------------------------------------------------------------------------------------
async def healthz(request: web.Request) -> web.Response:
    """``{"status": "ok"}`` once the store answered a read: a probe of the whole request path."""
    service = _service(request)
    await service.run(service.store.effective_level, None)
    return web.json_response({"status": "ok"})


# -- subjects ------------------------------------------------------------------------------------
async def root(request: web.Request) -> web.Response:
    return reply(request, {})


async def list_subjects(request: web.Request) -> web.Response:
    service = _service(request)
    deleted = _flag(request, "deleted") or _flag(request, "deletedOnly")
    subjects = await service.run(
        service.store.subjects, include_deleted=deleted, prefix=request.query.get("subjectPrefix", "")
    )
    if _flag(request, "deletedOnly"):
        live = set(await service.run(service.store.subjects))
        subjects = [s for s in subjects if s not in live]
    return reply(request, subjects)


async def list_versions(request: web.Request) -> web.Response:
    service = _service(request)
    rows = await service.run(
        service.store.versions, _subject(request), include_deleted=_flag(request, "deleted")
    )
    return reply(request, [r.version for r in rows])


async def register(request: web.Request) -> web.Response:
    body = await _body(request)
    if body.get("id") is not None or body.get("version") is not None:
        raise OperationNotPermitted(
            f"Subject {_subject(request)} is not in import mode: id and version cannot be given"
        )
    schema_type, schema = _schema_request(body)
    schema_id, _ = await _service(request).register(_subject(request), schema_type, schema)
    return reply(request, {"id": schema_id})


async def _get_row(request: web.Request) -> VersionRow:
    service = _service(request)
    version = parse_version(request.match_info["version"])
    return await service.run(
        service.store.get_version,
        _subject(request),
        version,
        include_deleted=_flag(request, "deleted"),
    )


async def get_version(request: web.Request) -> web.Response:
    return reply(request, _version_body(await _get_row(request)))


async def get_version_schema(request: web.Request) -> web.Response:
    row = await _get_row(request)
    return web.Response(text=row.schema, content_type=_content_type(request))


async def referenced_by(request: web.Request) -> web.Response:
    await _get_row(request)
    return reply(request, [])  # references are not supported, so nothing refers to anything


async def lookup(request: web.Request) -> web.Response:
    schema_type, schema = _schema_request(await _body(request))
    row = await _service(request).lookup(_subject(request), schema_type, schema, _flag(request, "deleted"))
    return reply(request, _version_body(row))


async def delete_subject(request: web.Request) -> web.Response:
    service = _service(request)
    versions = await service.run(
        service.store.delete_subject, _subject(request), permanent=_flag(request, "permanent")
    )
    return reply(request, versions)


async def delete_version(request: web.Request) -> web.Response:
    service = _service(request)
    version = parse_version(request.match_info["version"])
    deleted = await service.run(
        service.store.delete_version,
        _subject(request),
        version,
        permanent=_flag(request, "permanent"),
    )
    return reply(request, deleted)


# -- schemas by id -------------------------------------------------------------------------------
async def schema_by_id(request: web.Request) -> web.Response:
    service = _service(request)
    schema_type, text = await service.run(service.store.schema_by_id, int(request.match_info["id"]))
    body: dict[str, Any] = {"schema": text}
    if schema_type != SchemaType.AVRO.value:
        body["schemaType"] = schema_type
    return reply(request, body)


async def schema_text_by_id(request: web.Request) -> web.Response:
    service = _service(request)
    _, text = await service.run(service.store.schema_by_id, int(request.match_info["id"]))
    return web.Response(text=text, content_type=_content_type(request))


async def id_versions(request: web.Request) -> web.Response:
    service = _service(request)
    pairs = await service.run(
        service.store.id_versions, int(request.match_info["id"]), include_deleted=_flag(request, "deleted")
    )
    return reply(request, [{"subject": s, "version": v} for s, v in pairs])


async def id_subjects(request: web.Request) -> web.Response:
    service = _service(request)
    pairs = await service.run(
        service.store.id_versions, int(request.match_info["id"]), include_deleted=_flag(request, "deleted")
    )
    return reply(request, sorted({s for s, _ in pairs}))


async def list_schemas(request: web.Request) -> web.Response:
    service = _service(request)
    rows = await service.run(service.store.all_latest, include_deleted=_flag(request, "deleted"))
    prefix = request.query.get("subjectPrefix", "")
    rows = [r for r in rows if r.subject.startswith(prefix)]
    if _flag(request, "latestOnly"):
        latest: dict[str, VersionRow] = {r.subject: r for r in rows}
        rows = list(latest.values())
    return reply(request, [_version_body(r) for r in rows])


async def schema_types(request: web.Request) -> web.Response:
    return reply(request, [t.value for t in SchemaType])


# -- config, compatibility, mode -----------------------------------------------------------------
async def get_config(request: web.Request) -> web.Response:
    service = _service(request)
    subject = _maybe_subject(request)
    if subject is None:
        return reply(request, {"compatibilityLevel": await service.run(service.store.effective_level, None)})
    level = await service.run(service.store.get_config, subject)
    if level is None:
        if _flag(request, "defaultToGlobal"):
            level = await service.run(service.store.effective_level, None)
        else:
            raise SubjectConfigNotFound(
                f"Subject '{subject}' does not have subject-level compatibility configured"
            )
    return reply(request, {"compatibilityLevel": level})


async def put_config(request: web.Request) -> web.Response:
    body = await _body(request)
    level = CompatibilityLevel.parse(body.get("compatibility", body.get("compatibilityLevel")))
    service = _service(request)
    await service.run(service.store.set_config, _maybe_subject(request), level.value)
    return reply(request, {"compatibility": level.value})


async def delete_config(request: web.Request) -> web.Response:
    service = _service(request)
    subject = _maybe_subject(request)
    try:
        previous = await service.run(service.store.delete_config, subject)
    except RegistryError as exc:
        if subject is not None and exc.error_code == 40408:
            raise SubjectNotFound(f"Subject '{subject}' not found.") from None
        raise
    return reply(request, {"compatibilityLevel": previous})


async def compatibility(request: web.Request) -> web.Response:
    schema_type, schema = _schema_request(await _body(request))
    messages = await _service(request).check(
        _subject(request), request.match_info.get("version"), schema_type, schema
    )
    body: dict[str, Any] = {"is_compatible": not messages}
    if _flag(request, "verbose"):
        body["messages"] = messages
    return reply(request, body)


async def get_mode(request: web.Request) -> web.Response:
    subject = _maybe_subject(request)
    if subject is not None and not _flag(request, "defaultToGlobal"):
        raise SubjectModeNotFound(f"Subject '{subject}' does not have subject-level mode configured")
    return reply(request, {"mode": "READWRITE"})


async def put_mode(request: web.Request) -> web.Response:
    mode = str((await _body(request)).get("mode", "")).upper()
    if mode not in _MODES:
        raise InvalidMode(f"Invalid mode. Valid values are {', '.join(_MODES)}")
    if mode != "READWRITE":
        raise OperationNotPermitted(f"Mode {mode} is not supported by this registry: it is always READWRITE")
    return reply(request, {"mode": mode})


async def delete_mode(request: web.Request) -> web.Response:
    raise SubjectModeNotFound(f"Subject '{_subject(request)}' does not have subject-level mode configured")


async def contexts(request: web.Request) -> web.Response:
    return reply(request, ["."])


def build_app(service: RegistryService, *, auth: tuple[str, str] | None = None) -> web.Application:
    middlewares: list[Any] = [error_middleware]
    if auth is not None:
        middlewares.append(auth_middleware(*auth))
    app = web.Application(middlewares=middlewares, client_max_size=16 * 1024 * 1024)
    app[SERVICE_KEY] = service
    s, v = "/subjects/{subject}", "/versions/{version}"
    app.router.add_routes(
        [
            web.get("/", root),
            web.get(HEALTH_PATH, healthz),
            web.get("/subjects", list_subjects),
            web.get(f"{s}/versions", list_versions),
            web.post(f"{s}/versions", register),
            web.get(f"{s}{v}", get_version),
            web.get(f"{s}{v}/schema", get_version_schema),
            web.get(f"{s}{v}/referencedby", referenced_by),
            web.delete(f"{s}{v}", delete_version),
            web.post(s, lookup),
            web.delete(s, delete_subject),
            web.get("/schemas", list_schemas),
            web.get("/schemas/types", schema_types),
            web.get("/schemas/ids/{id:\\d+}", schema_by_id),
            web.get("/schemas/ids/{id:\\d+}/schema", schema_text_by_id),
            web.get("/schemas/ids/{id:\\d+}/versions", id_versions),
            web.get("/schemas/ids/{id:\\d+}/subjects", id_subjects),
            web.get("/config", get_config),
            web.put("/config", put_config),
            web.delete("/config", delete_config),
            web.get("/config/{subject}", get_config),
            web.put("/config/{subject}", put_config),
            web.delete("/config/{subject}", delete_config),
            web.post(f"/compatibility{s}{v}", compatibility),
            web.post(f"/compatibility{s}/versions", compatibility),
            web.get("/mode", get_mode),
            web.put("/mode", put_mode),
            web.get("/mode/{subject}", get_mode),
            web.put("/mode/{subject}", put_mode),
            web.delete("/mode/{subject}", delete_mode),
            web.get("/contexts", contexts),
        ]
    )
    return app
