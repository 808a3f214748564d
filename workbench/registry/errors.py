"""Typed errors of the schema registry, each carrying the Confluent ``error_code`` and HTTP status.

The server raises them in the domain layer and the HTTP layer turns them into
``{"error_code": ..., "message": ...}`` bodies; the client maps an error body back to the same
class, so code on both sides of the wire catches the same exception types.
"""

from __future__ import annotations

from workbench.errors import WorkbenchError


class RegistryError(WorkbenchError):
    """Base of every registry error; ``error_code`` and ``http_status`` follow the Confluent API."""

    error_code = 50001
    http_status = 500

    def __init__(self, message: str, *, error_code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code
        if http_status is not None:
            self.http_status = http_status

    def body(self) -> dict[str, object]:
        return {"error_code": self.error_code, "message": self.message}


class SubjectNotFound(RegistryError):
    error_code, http_status = 40401, 404


class VersionNotFound(RegistryError):
    error_code, http_status = 40402, 404


class SchemaNotFound(RegistryError):
    error_code, http_status = 40403, 404


class SubjectSoftDeleted(RegistryError):
    error_code, http_status = 40404, 404


class SubjectNotSoftDeleted(RegistryError):
    error_code, http_status = 40405, 404


class VersionSoftDeleted(RegistryError):
    error_code, http_status = 40406, 404


class VersionNotSoftDeleted(RegistryError):
    error_code, http_status = 40407, 404


class SubjectConfigNotFound(RegistryError):
    error_code, http_status = 40408, 404


class SubjectModeNotFound(RegistryError):
    error_code, http_status = 40409, 404


class IncompatibleSchema(RegistryError):
    error_code, http_status = 409, 409


class InvalidSchema(RegistryError):
    error_code, http_status = 42201, 422


class InvalidVersion(RegistryError):
    error_code, http_status = 42202, 422


class InvalidCompatibilityLevel(RegistryError):
    error_code, http_status = 42203, 422


class InvalidMode(RegistryError):
    error_code, http_status = 42204, 422


class OperationNotPermitted(RegistryError):
    error_code, http_status = 42205, 422


class InvalidSubject(RegistryError):
    error_code, http_status = 42208, 422


class StoreError(RegistryError):
    error_code, http_status = 50001, 500


class RegistryUnavailable(RegistryError):
    """The client could not reach the registry (connection refused, timeout, 5xx) within its retries."""

    error_code, http_status = 50002, 503


_BY_CODE: dict[int, type[RegistryError]] = {
    cls.error_code: cls
    for cls in (
        SubjectNotFound,
        VersionNotFound,
        SchemaNotFound,
        SubjectSoftDeleted,
        SubjectNotSoftDeleted,
        VersionSoftDeleted,
        VersionNotSoftDeleted,
        SubjectConfigNotFound,
        SubjectModeNotFound,
        IncompatibleSchema,
        InvalidSchema,
        InvalidVersion,
        InvalidCompatibilityLevel,
        InvalidMode,
        OperationNotPermitted,
        InvalidSubject,
        StoreError,
    )
}


def error_from_body(status: int, body: object) -> RegistryError:
    """The typed error for an error response (used by the client)."""
    code, message = status, f"HTTP {status}"
    if isinstance(body, dict):
        code = int(body.get("error_code", status) or status)
        message = str(body.get("message", message))
    cls = _BY_CODE.get(code, RegistryError)
    return cls(message, error_code=code, http_status=status)
