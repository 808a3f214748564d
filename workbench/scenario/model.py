"""The scenario: what a run starts, how long, what it varies; loaded from YAML with located errors.

A scenario names the components (registry, ingestor, generator groups), how long a cell runs,
and a ``matrix``: settings varied over lists, every combination run as one cell after another.
Matrix keys are dotted paths into the scenario (``ingestor.workers``, ``generators.0.batch``);
a bare key (``format``, ``protocol``, ``batch``, ``clients``, ``rate``, ``ack``) applies to every
generator group; a value that is a mapping sets several group settings at once (``protocol:
[hec, {protocol: tcp, format: proto}]``). ``docs/scenario.md`` is the reference; ``docs/scenario.schema.json`` (exported
by ``python -m workbench run --schema``) lets editors complete it.
"""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from workbench.errors import ConfigError
from workbench.formats import ACK_MODE_PROTOCOLS, Format, GeneratorProtocol
from workbench.ingestor.config import Compression, OutputFormat, Overflow
from workbench.units import parse_bytes, parse_seconds

Seconds = Annotated[float, BeforeValidator(parse_seconds)]
Bytes = Annotated[int, BeforeValidator(parse_bytes)]
GENERATOR_KEYS = (
    "format",
    "protocol",
    "batch",
    "clients",
    "rate",
    "interval_ms",
    "ack",
    "processes",
    "burst",
)


# our stream formats over tcp or udp, or a shipper's protocol (``generator.protocols``)
GroupProtocol = Literal["tcp", "udp"] | GeneratorProtocol


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistrySettings(_Model):
    enabled: bool = True
    port: int = Field(0, ge=0, le=65535)


class IngestorSettings(_Model):
    """The ingestor settings a scenario may set: each is the ``IngestorConfig`` setting of the same
    name (``rotate``: ``rotate_bytes``), handed over as it is (``targets.ingestor_config``), except
    ``instances`` and ``use_registry``, which are the runner's. The runner sets the rest itself
    (data dir, ports, host, the registry's URL)."""

    instances: int = Field(
        1,
        ge=1,
        le=256,
        description="ingestors, each with its own data dir; generators spread their clients over them",
    )
    workers: int = Field(1, ge=0, description="worker processes; 0 = inside the ingestor's own process")
    tls: bool = True
    output: OutputFormat = "jsonl"
    rotate: Bytes = Field(50_000_000, description="rotate segments at this size, e.g. 50MB")
    compression: Compression = "zstd"
    compression_level: int = 1
    overflow: Overflow = "block"
    max_queue_bytes: Bytes = Field(32 << 20, ge=1 << 16, description="per worker, e.g. 32MiB")
    max_queue_logs: int = Field(1_000_000, ge=1)
    use_registry: bool = Field(
        True, description="validate against the registry's schemas when a registry runs"
    )


class GeneratorGroup(_Model):
    name: str = "gen"
    tool: Literal["workbench", "loggen"] = Field(
        "workbench", description="our generator, or syslog-ng's loggen (RFC 5424 syslog over tcp only)"
    )
    message_size: int = Field(256, ge=64, le=65536, description="loggen's message size in bytes (--size)")
    format: Format = "json"
    protocol: GroupProtocol = Field(
        "tcp",
        description="tcp or udp (our stream format), or a shipper's protocol (format is then unused; batch is "
        "records per request, each answer an ack; forward: entries per message, acked with ack; gelf-udp: to the "
        "ingestor's GELF port, datagrams per burst)",
    )
    clients: int = Field(1, ge=1)
    processes: int = Field(1, ge=1, description="generator processes (subprocess placement)")
    batch: int = Field(100, ge=1)
    interval_ms: float = Field(1000, ge=0)
    rate: float | None = Field(None, gt=0, description="logs/s for the whole group; overrides interval_ms")
    count: int | None = Field(None, ge=1, description="logs per client; else the cell's duration")
    burst: str | None = Field(None, description="e.g. 5x,2s,10s: x5 for 2 s every 10 s")
    ack: bool = False
    level_mix: dict[str, float] | None = None

    @model_validator(mode="after")
    def _protocol_fits(self) -> GeneratorGroup:
        if self.protocol in ("tcp", "udp"):
            return self
        if self.tool != "workbench":
            raise ValueError(f"protocol {self.protocol}: sent by our generator only")
        if self.ack and self.protocol not in ACK_MODE_PROTOCOLS:
            why = "GELF has no acks" if self.protocol.startswith("gelf") else "each answer is one"
            raise ValueError(f"protocol {self.protocol}: no ack mode ({why}); forward takes ack (chunk acks)")
        return self


class CollectorGroup(_Model):
    """Files written by generators, tailed by one collector that forwards them in ack mode."""

    name: str = "files"
    files: int = Field(1, ge=1, description="files, each written by its own generator client")
    file_format: Literal["json", "text"] = "json"
    rate: float = Field(2000, gt=0, description="logs/s written per file")
    batch: int = Field(100, ge=1)
    count: int | None = Field(None, ge=1, description="logs per file; else the cell's duration")
    forward_format: Literal["json", "proto"] = "json"


class IngestorTarget(_Model):
    """Our ingestor (``ingestor:`` sets it up); ``tls`` overrides ``ingestor.tls``."""

    type: Literal["ingestor"] = "ingestor"
    tls: bool | None = Field(
        None, description="TLS to the target; for the ingestor it overrides ingestor.tls"
    )


class _ExternalTarget(_Model):
    type: str
    tls: bool | None = Field(None, description="TLS to the target (its own self-signed certificate)")

    @property
    def output(self) -> str:
        """Its output file under its data dir, one raw message per line (the config names it so)."""
        return f"{self.type}.log"


class RsyslogTarget(_ExternalTarget):
    """rsyslogd: the runner writes its config (imtcp on 127.0.0.1, TLS with gtls when ``tls``, the
    raw message per line to a file)."""

    type: Literal["rsyslog"]


class SyslogNgTarget(_ExternalTarget):
    """syslog-ng: the runner writes its config (its ``syslog()`` source, flow control,
    ``${RAWMSG}`` per line to a file)."""

    type: Literal["syslog-ng"]


class CommandTarget(_Model):
    """Any receiver: ``command`` and ``config`` with ``{port}``, ``{data_dir}``, ``{config}``,
    ``{cert}``, ``{key}`` filled in; ``output`` is the glob of its files under ``{data_dir}``, one
    RFC 5424 message per line."""

    type: Literal["command"]
    tls: bool | None = Field(None, description="TLS to the target ({cert} and {key} are filled in)")
    command: list[str] = Field(min_length=1, description="the receiver's command line")
    config: str | None = Field(None, description="written to {config} before it starts")
    output: str = Field("*.log", description="glob of its output files under {data_dir}")


def _type_defaults_to(default: str) -> BeforeValidator:
    """A union on ``type`` whose members may leave it out: a mapping without ``type`` is ``default``'s."""

    def fill(value: Any) -> Any:
        return {"type": default, **value} if isinstance(value, dict) and "type" not in value else value

    return BeforeValidator(fill)


# What receives the load: our ingestor, or a third-party receiver for a side-by-side comparison
TargetSettings = Annotated[
    IngestorTarget | RsyslogTarget | SyslogNgTarget | CommandTarget,
    Field(discriminator="type"),
    _type_defaults_to("ingestor"),
]
ExternalTarget = RsyslogTarget | SyslogNgTarget | CommandTarget


Role = Literal["registry", "ingestor", "generator", "collector"]


class SubprocessPlacement(_Model):
    """Every component a local subprocess (``python -m workbench VERB --config-json ...``)."""

    type: Literal["subprocess"] = "subprocess"


class InProcessPlacement(_Model):
    """Every component an object in the runner's event loop (notebooks)."""

    type: Literal["inprocess"]


class DaskPlacement(_Model):
    """Every component a process on a worker of a Dask cluster.

    ``scheduler`` connects to a running one (``tcp://HOST:8786``); ``local_workers`` starts a
    LocalCluster of that many worker processes on 127.0.0.1 for the run. ``resources`` pins a
    role to workers started with those Dask resources (``dask worker ... --resources
    "ingest=1"``); ``data_dir`` is where each worker host keeps data dirs and logs.
    """

    type: Literal["dask"]
    scheduler: str | None = Field(None, description="a running scheduler, e.g. tcp://10.0.0.1:8786")
    local_workers: int | None = Field(
        None, ge=1, le=64, description="start a LocalCluster of N worker processes on 127.0.0.1"
    )
    resources: dict[Role, dict[str, float]] = Field(
        default_factory=dict,
        description="worker resources a component of each role takes, e.g. {ingestor: {ingest: 1}}",
    )
    data_dir: str | None = Field(
        None,
        description="folder on every worker host for data dirs and logs (default: the run folder's path)",
    )
    timeout_seconds: Seconds = Field(
        60.0, gt=0, description="how long connecting, starting or stopping a component may take"
    )

    @field_validator("scheduler")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"(tcp|tls)://[^\s/]+:\d+", value):
            raise ValueError(f"{value!r} is not a scheduler address such as tcp://10.0.0.1:8786")
        return value

    @field_validator("resources")
    @classmethod
    def _positive_resources(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for role, needs in value.items():
            bad = [name for name, amount in needs.items() if amount <= 0]
            if bad:
                raise ValueError(f"{role}: resource {bad[0]} needs a positive amount")
        return value

    @model_validator(mode="after")
    def _one_cluster(self) -> DaskPlacement:
        if (self.scheduler is None) == (self.local_workers is None):
            raise ValueError(
                "type dask takes either scheduler (tcp://HOST:8786) or local_workers (N), not both"
            )
        return self


# Where components run: in this process, as local subprocesses, or on the workers of a Dask cluster
Placement = Annotated[
    SubprocessPlacement | InProcessPlacement | DaskPlacement,
    Field(discriminator="type"),
    _type_defaults_to("subprocess"),
]
PLACEMENT = TypeAdapter(Placement)
TARGET = TypeAdapter(TargetSettings)
# the ``type`` of every member of those unions (pydantic names the member it tried in an error's place)
_TAGS = frozenset(
    get_args(m.model_fields["type"].annotation)[0]
    for union in (Placement, TargetSettings)
    for m in get_args(get_args(union)[0])
)


def placement_of(kind: str) -> SubprocessPlacement | InProcessPlacement | DaskPlacement:
    """The settings of a placement kind with its defaults (``dask`` needs more: a ConfigError)."""
    try:
        return PLACEMENT.validate_python({"type": kind})
    except ValidationError as exc:
        raise ConfigError(f"placement {kind}: {_first_error(exc)}") from None


class Scenario(_Model):
    name: str
    description: str = ""
    duration: Seconds = Field(10.0, gt=0, description="how long generators send in each cell")
    warmup: Seconds = Field(0.0, ge=0, description="sending before measurement starts")
    seed: int | None = None
    placement: Placement = SubprocessPlacement()
    registry: RegistrySettings = RegistrySettings()
    ingestor: IngestorSettings = IngestorSettings()
    generators: list[GeneratorGroup] = Field(default_factory=lambda: [GeneratorGroup()])
    collectors: list[CollectorGroup] = Field(default_factory=list)
    target: TargetSettings = IngestorTarget()
    matrix: dict[str, list[Any]] = Field(default_factory=dict)
    baseline: dict[str, Any] | None = Field(
        None,
        description="matrix values of the reference cells, e.g. {target.type: syslog-ng}: every cell "
        "gets ratio_to_baseline, its logs/s over that of the cell with the same other values",
    )


class Cell(_Model):
    """One combination of the matrix: the scenario with its values applied."""

    index: int
    name: str
    values: dict[str, Any]
    scenario: Scenario


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node: Any = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _label(value: Any) -> str:
    if isinstance(value, dict):  # {protocol: tcp, format: proto} -> tcp-proto
        return "-".join(_member_label(k, v) for k, v in value.items())
    return str(value).replace(" ", "").replace("/", "-")


def _member_label(key: str, value: Any) -> str:
    """A setting of a mapping value in its cell's name: a word as it is, a flag by its key (``ack``,
    ``no-ack``), a number after its key (``rate100000``)."""
    if isinstance(value, bool):
        return key if value else f"no-{key}"
    if isinstance(value, int | float):
        return f"{key}{value:g}"
    return _label(value)


def expand(scenario: Scenario) -> list[Cell]:
    """Every combination of the matrix, in order (the first key varies slowest)."""
    if not scenario.matrix:
        check_target(scenario)
        return [Cell(index=0, name="base", values={}, scenario=scenario)]
    keys = list(scenario.matrix)
    cells = []
    base = scenario.model_dump(exclude={"matrix"})
    for i, combo in enumerate(itertools.product(*(scenario.matrix[k] for k in keys))):
        data = copy.deepcopy(base)
        for key, value in zip(keys, combo, strict=True):
            if "." in key:
                _set_path(data, key, value)
            else:
                for group in data["generators"]:
                    if isinstance(value, dict):  # several settings of the group at once
                        group.update(value)
                    else:
                        group[key] = value
        try:
            cell_scenario = Scenario.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"scenario {scenario.name}: matrix cell {dict(zip(keys, combo, strict=True))}: "
                              f"{_first_error(exc, data)}") from None  # fmt: skip
        check_target(cell_scenario)
        name = "-".join(f"{k.split('.')[-1]}={_label(v)}" for k, v in zip(keys, combo, strict=True))
        cells.append(
            Cell(index=i, name=name, values=dict(zip(keys, combo, strict=True)), scenario=cell_scenario)
        )
    return cells


def _first_error(exc: ValidationError, data: Any = None) -> str:
    loc, msg = _located(exc.errors()[0], data)
    return f"{'.'.join(map(str, loc))}: {msg}" if loc else msg


def _located(err: Any, data: Any) -> tuple[tuple[Any, ...], str]:
    """An error's place in the scenario as written (without the tags pydantic adds for a
    ``type``-discriminated union, such as ``placement.dask.local_workers``) and its message."""
    loc: list[Any] = []
    tag: tuple[Any, int] | None = None
    node = data
    for part in err["loc"]:
        if (
            isinstance(node, dict)
            and part not in node
            and node.get("type", part) == part  # (without type: the union's default member)
            and part in _TAGS
            and tag != (part, id(node))
        ):
            tag = (part, id(node))  # the union member pydantic tried: not a key of the scenario
            continue
        loc.append(part)
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)  # fmt: skip
    msg = str(err["msg"]).removeprefix("Value error, ")
    section = ".".join(map(str, loc[:-1]))
    if err["type"] == "extra_forbidden":
        msg = f"not a setting of {section} type {tag[0]}" if tag else "unknown setting (a typo?)"
    elif err["type"] == "missing" and tag:
        msg = f"{section} type {tag[0]} needs it"
    return tuple(loc), msg


def check_target(scenario: Scenario) -> None:
    """An external target gets syslog over TCP from generators only (what third parties read)."""
    t = scenario.target
    loggen = [g for g in scenario.generators if g.tool == "loggen"]
    for g in loggen:
        if g.format != "syslog" or g.protocol != "tcp" or g.ack:
            raise ConfigError(f"scenario {scenario.name}: loggen sends syslog over tcp without ack "
                              f"(generator group {g.name} has {g.format}/{g.protocol}{'/ack' if g.ack else ''})")  # fmt: skip
    if len(loggen) > 1:
        raise ConfigError(f"scenario {scenario.name}: one loggen group per cell (its threads number from 0)")
    if t.type == "ingestor":
        return
    if scenario.ingestor.instances > 1 or scenario.placement.type == "dask":
        raise ConfigError(f"scenario {scenario.name}: a {t.type} target runs once on this machine "
                          "(no ingestor.instances, no dask placement)")  # fmt: skip
    if scenario.collectors:
        raise ConfigError(
            f"scenario {scenario.name}: collectors forward in ack mode, which a {t.type} target lacks"
        )
    for g in scenario.generators:
        if g.format != "syslog" or g.protocol != "tcp" or g.ack:
            raise ConfigError(f"scenario {scenario.name}: a {t.type} target takes syslog over tcp without ack "
                              f"(generator group {g.name} has {g.format}/{g.protocol}{'/ack' if g.ack else ''})")  # fmt: skip


def _check_matrix_keys(scenario: Scenario) -> None:
    for key in scenario.matrix:
        if "." not in key and key not in GeneratorGroup.model_fields:
            raise ConfigError(
                f"scenario {scenario.name}: matrix key {key!r} is neither a generator setting "
                f"({', '.join(GENERATOR_KEYS)}, ...) nor a dotted path such as ingestor.workers"
            )
        if not scenario.matrix[key]:
            raise ConfigError(f"scenario {scenario.name}: matrix key {key!r} has no values")
    for key, value in (scenario.baseline or {}).items():
        if value not in scenario.matrix.get(key, []):
            raise ConfigError(
                f"scenario {scenario.name}: baseline {key}={value!r} is not a value of the matrix"
            )


def _node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The YAML line (1-based) of the node at a pydantic error location, or its nearest parent."""
    node, line = root, None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(part):
                    nxt, line = v, k.start_mark.line + 1
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    if node is not None:
        line = node.start_mark.line + 1
    return line


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse YAML text; errors say the file, the line, the setting and what is wrong."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a scenario is a YAML mapping (name:, duration:, generators:, ...)")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        loc, msg = _located(exc.errors()[0], data)
        line = _node_line(root, loc)
        where = f"{source}:{line}" if line else source
        raise ConfigError(f"{where}: {'.'.join(map(str, loc))}: {msg}") from None
    _check_matrix_keys(scenario)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {p}: {exc.strerror}") from None
    return parse_scenario(text, str(p))
