"""The contract between the runner and a component process: its config in, JSON lines out.

A component verb (``registry``, ``ingest``, ``generate``, ``collect``) takes its whole validated
config as JSON (``--config-json FILE|-|JSON``, see ``args``, ``from_args``) and answers on stdout with one JSON object per line, each with an ``event``:

* ``{"event": "ready", "component": ..., ...}`` once it serves: its bound ports and, under
  ``config``, its effective configuration (every setting, the ports it chose in place of 0);
* ``{"event": "summary", "component": ..., ...}`` when it stops: its final counts.

Human-readable lines (``[READY] ...``, ``[SUMMARY] ...``) may stand beside them; the runner
reads only the JSON events, with ``parse``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from workbench.errors import ConfigError, config_error

M = TypeVar("M", bound=BaseModel)


def emit(event: str, component: str, **fields: Any) -> None:
    """Print one event line on stdout (flushed: the runner waits for it)."""
    print(json.dumps({"event": event, "component": component, **fields}, default=str), flush=True)


def parse(line: bytes | str, event: str | None = None) -> dict[str, Any] | None:
    """The event of a line (of kind ``event`` when given), or None for any other line."""
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    if not text.lstrip().startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or "event" not in obj or (event is not None and obj["event"] != event):
        return None
    return obj


def find(lines: list[bytes], event: str) -> dict[str, Any] | None:
    """The last event of kind ``event`` among ``lines``."""
    for line in reversed(lines):
        if (found := parse(line, event)) is not None:
            return found
    return None


def load_config(model: type[M], source: str, verb: str) -> M:
    """A component's config from ``--config-json``: a file path, ``-`` (stdin) or the JSON itself."""
    if source == "-":
        text = sys.stdin.read()
    elif source.lstrip().startswith("{"):
        text = source
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{verb}: --config-json {source}: {exc.strerror}") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise config_error(exc, f"{verb}: --config-json") from None


# flags that are not settings: they may stand beside --config-json
NOT_SETTINGS = frozenset({"help", "config_json", "quiet", "_parser", "func"})


def args(verb: str, config: BaseModel | str, *extra: str) -> list[str]:
    """The command line of a component: ``VERB --config-json JSON`` (``python -m workbench`` before
    it); ``config`` as a model or as its JSON already."""
    text = config if isinstance(config, str) else config.model_dump_json()
    return [verb, "--config-json", text, *extra]


def add_argument(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    """``--config-json`` on a verb's parser (which must ``set_defaults(_parser=parser)``)."""
    parser.add_argument("--config-json", metavar="FILE|-|JSON",
                        help=f"every setting as {model.__name__} JSON (a file, - for stdin, or the JSON); "
                             "no other setting flag may be given with it")  # fmt: skip


def from_args(args: argparse.Namespace, model: type[M], verb: str,
              from_flags: Callable[[argparse.Namespace], M]) -> M:  # fmt: skip
    """A verb's config: from ``--config-json`` (then no setting flag may be given, so none is
    silently ignored), else from its flags."""
    if args.config_json is None:
        return from_flags(args)
    parser: argparse.ArgumentParser = args._parser
    given = [a.option_strings[0] for a in parser._actions
             if a.dest not in NOT_SETTINGS and a.option_strings and getattr(args, a.dest) != a.default]  # fmt: skip
    if given:
        raise ConfigError(f"{verb}: {', '.join(given)} given with --config-json, which holds every setting")
    return load_config(model, args.config_json, verb)
