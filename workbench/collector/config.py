"""Settings of the collector: one frozen pydantic model, built from flags, YAML or a notebook.

Tag rules come from a YAML file (``--tags FILE``) or flags (``--tag NAME=REGEX``); the file is a
list of ``{tag, pattern, field?}`` (or a mapping with a ``rules:`` list of them). Without
``field`` a rule matches the raw record text; with it, the entry's field (``message``,
``service``, ``host``, ``level``, ... or ``attributes.NAME``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workbench import model
from workbench.errors import ConfigError

OutputType = Literal["jsonl", "sqlite", "csv", "forward"]
ReadFrom = Literal["beginning", "end"]
DEFAULT_OUTPUT_DIR = Path("collected_logs")
DEFAULT_OUTPUTS = {"jsonl": "collected.jsonl", "sqlite": "collected.db", "csv": "collected.csv"}
_TAG_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _check_regex(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{what}: not a regular expression: {value!r} ({exc})") from None
    return value


class TagRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: str
    pattern: str
    field: str | None = Field(None, description="entry field to match; None matches the raw record text")

    @field_validator("tag")
    @classmethod
    def _tag_name(cls, v: str) -> str:
        if not _TAG_NAME.fullmatch(v):
            raise ValueError(f"tag {v!r}: use 1-64 letters, digits, '_', '.', ':' or '-'")
        return v

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        return _check_regex(v, "pattern") or v

    @field_validator("field")
    @classmethod
    def _field(cls, v: str | None) -> str | None:
        if v is not None and v not in model.FIELDS and not v.startswith("attributes."):
            raise ValueError(f"field {v!r}: one of {', '.join(model.FIELDS)} or attributes.NAME")
        return v


class CollectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: tuple[str, ...] = Field(..., min_length=1, description="file paths or glob patterns")
    output_type: OutputType = "jsonl"
    output_path: Path | None = Field(None, description="default collected_logs/collected.<ext>")
    state_dir: Path = DEFAULT_OUTPUT_DIR / "state"
    read_from: ReadFrom = Field("beginning", description="where a file never seen before starts")
    include_regex: str | None = Field(None, description="--filter: keep only records matching it")
    exclude_regex: str | None = Field(None, description="--exclude: drop records matching it")
    tag_rules: tuple[TagRule, ...] = ()
    multiline: bool = Field(True, description="join continuation lines (stack traces) to their record")
    multiline_start_regex: str | None = Field(
        None, description="a record starts with a line matching it; other lines continue the record"
    )
    multiline_timeout_seconds: float = Field(
        1.0, gt=0, description="emit a pending record after this quiet time"
    )
    max_record_lines: int = Field(500, ge=1)
    default_service: str | None = Field(None, description="service of raw lines; default the file's stem")
    keep_unparsed: bool = Field(True, description="a line that fails its format is kept as a raw entry")
    chunk_bytes: int = Field(1 << 20, ge=4096, description="bytes read from a file per read call")
    max_line_bytes: int = Field(1 << 20, ge=1024, description="longer lines are skipped and counted")
    poll_interval_seconds: float = Field(0.25, gt=0, description="stat/glob interval without events")
    glob_interval_seconds: float = Field(1.0, gt=0, description="re-expand the globs at least this often")
    use_watchdog: bool = Field(
        True, description="file-system events via watchdog (polling stays as fallback)"
    )
    rotate_wait_seconds: float = Field(
        5.0, ge=0, description="keep reading a rotated-away file this long after its last growth"
    )
    partial_line_timeout_seconds: float | None = Field(
        None, gt=0, description="take an unfinished last line as complete after the file is quiet this long"
    )
    flush_interval_seconds: float = Field(1.0, gt=0, description="flush output and write the checkpoint")
    fsync: bool = Field(False, description="fsync output and checkpoint (survives power loss, slower)")
    max_error_samples: int = Field(1000, ge=0, description="lines kept in <state_dir>/parse_errors.jsonl")
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(None, ge=0, le=65535, description="metrics and page; 0 picks one")
    stats_interval_seconds: float | None = Field(10.0, gt=0, description="stats line on stdout; None: off")
    # forwarding
    forward_host: str = "127.0.0.1"
    forward_port: int = Field(3001, ge=1, le=65535)
    forward_tls: bool = True
    forward_ca: Path | None = None
    forward_insecure: bool = False
    forward_format: Literal["json", "proto"] = "json"
    forward_batch_entries: int = Field(1000, ge=1, le=100_000)
    max_unacked_frames: int = Field(64, ge=1)
    connect_timeout_seconds: float = Field(5.0, gt=0)
    retry_backoff_seconds: float = Field(0.2, gt=0)
    max_backoff_seconds: float = Field(5.0, gt=0)
    drain_timeout_seconds: float = Field(10.0, ge=0, description="on stop, wait this long for the last acks")
    client_name: str = "collector"

    @field_validator("include_regex", "exclude_regex", "multiline_start_regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        return _check_regex(v, "regex")

    @model_validator(mode="after")
    def _forward_tls(self) -> CollectorConfig:
        if self.forward_ca is not None and self.forward_insecure:
            raise ValueError("forward_ca and forward_insecure exclude each other")
        return self

    @property
    def resolved_output(self) -> Path | None:
        if self.output_type == "forward":
            return self.output_path
        return self.output_path or DEFAULT_OUTPUT_DIR / DEFAULT_OUTPUTS[self.output_type]


def parse_tag_flag(text: str) -> TagRule:
    """``NAME=REGEX`` (as given to ``--tag``) to a rule on the raw record text."""
    name, sep, pattern = text.partition("=")
    if not sep or not name:
        raise ConfigError(f"--tag {text!r}: expected NAME=REGEX, e.g. auth='(?i)login|password'")
    try:
        return TagRule(tag=name, pattern=pattern)
    except ValueError as exc:
        raise ConfigError(f"--tag {text!r}: {exc}") from None


def load_tag_rules(path: Path) -> tuple[TagRule, ...]:
    """Rules of a YAML tags file: a list of ``{tag, pattern, field?}``, or ``{rules: [...]}``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the tags file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"tags file {path} is not YAML: {exc}") from None
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ConfigError(f"tags file {path}: expected a list of {{tag, pattern, field?}}")
    rules = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ConfigError(f"tags file {path}: rule {i + 1} is not a mapping")
        try:
            rules.append(TagRule(**item))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"tags file {path}: rule {i + 1}: {_first_error(exc)}") from None
    return tuple(rules)


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(map(str, first.get("loc", ())))
        return f"{loc}: {first['msg']}" if loc else str(first["msg"])
    return str(exc)
