"""The typed errors of the workbench, in one place.

A ``WorkbenchError`` is a user error: the CLI prints its message as one line and exits
non-zero, without a traceback. Anything else escaping a verb is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any


class WorkbenchError(Exception):
    """Base of every error a user can cause and fix."""

    exit_code = 2


class ConfigError(WorkbenchError):
    """A setting, flag or file the user gave is wrong or missing."""


class CodecError(WorkbenchError):
    """Input that a codec cannot decode, or entries it cannot encode."""


class FramingError(WorkbenchError):
    """A byte stream that breaks the wire protocol (bad header, lying length, frame over the limit)."""


class ComponentFailed(WorkbenchError):
    """A component of a scenario did not start or died; its cell fails with this reason."""


class SendFailed(WorkbenchError):
    """A sender could not deliver a chunk within its retries."""


class ExportError(WorkbenchError):
    """An export could not be written as promised (a self-contained report that would need the network)."""


def config_error(exc: Any, prefix: str = "") -> ConfigError:
    """A pydantic ``ValidationError`` as one line, ``PREFIX: where: what`` (its first error)."""
    first = exc.errors()[0]
    where = ".".join(map(str, first["loc"]))
    what = str(first["msg"]).removeprefix("Value error, ")
    return ConfigError(": ".join(part for part in (prefix, where, what) if part))
