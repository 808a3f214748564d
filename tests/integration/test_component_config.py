"""Every ingestor, generator and collector setting of a scenario reaches its component, in every
placement (issue 17, item 2).

The runner hands each component its whole config as JSON (``VERB --config-json``), the component
answers with a ``ready`` event holding its effective config, and the runner stores it as
``cells/<cell>/<component>.config.json``. Here a scenario sets a value other than the default for
every ingestor setting, every generator group setting and every collector group setting; the
files must show each one, in the subprocess, in-process and Dask placements. ``burst.yaml``'s
queue bound, which the old flag-based hand-over lost, is checked too.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from workbench.collector.config import CollectorConfig
from workbench.generator.config import GeneratorConfig
from workbench.ingestor.config import IngestorConfig
from workbench.registry.config import RegistryConfig
from workbench.scenario.model import CollectorGroup, GeneratorGroup, load_scenario, parse_scenario
from workbench.scenario.runner import run_scenario
from workbench.scenario.targets import ingestor_config

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """
name: settings
duration: 1s
warmup: 0s
seed: 3
placement: {placement}
registry: {{enabled: false}}
ingestor: {{workers: 0, tls: false, output: csv, rotate: 2MB, compression: gzip, compression_level: 7,
           overflow: drop, max_queue_logs: 200000, max_queue_bytes: 8MiB}}
generators:
  - {{name: g, format: syslog, protocol: udp, clients: 2, processes: 2, batch: 20, interval_ms: 500,
     rate: 2000, count: 100, burst: "3x,1s,4s", level_mix: {{ERROR: 50, INFO: 50}}}}
collectors:
  - {{name: f, files: 2, file_format: text, rate: 500, batch: 25, count: 60, forward_format: proto}}
"""
# what each scenario setting above becomes in the ingestor's own config
EXPECTED = {
    "workers": 0, "tls": False, "output": "csv", "rotate_bytes": 2_000_000, "compression": "gzip",
    "compression_level": 7, "overflow": "drop", "max_queue_logs": 200_000, "max_queue_bytes": 8 << 20,
}  # fmt: skip
# ... in the generator's (the group's count is per client: 2 clients x 100)
GENERATOR = {
    "format": "syslog", "transport": "udp", "clients": 2, "processes": 2, "batch_size": 20, "interval_ms": 500.0,
    "rate_per_second": 2000.0, "count": 200, "burst": {"factor": 3.0, "length_seconds": 1.0, "period_seconds": 4.0},
    "level_mix": {"ERROR": 50.0, "INFO": 50.0},
}  # fmt: skip
GROUP_KEYS = {"format", "protocol", "clients", "processes", "batch", "interval_ms", "rate", "count", "burst",
              "level_mix"}  # fmt: skip
# ... in each file generator's and in the collector's
FILE_GENERATOR = {
    "transport": "file",
    "file_format": "text",
    "rate_per_second": 500.0,
    "batch_size": 25,
    "count": 60,
}
COLLECTOR = {"forward_format": "proto", "output_type": "forward", "forward_tls": False}
COLLECTOR_KEYS = {"files", "file_format", "rate", "batch", "count", "forward_format"}
PLACEMENTS = {"subprocess": "{type: subprocess}", "inprocess": "{type: inprocess}",
              "dask": "{type: dask, local_workers: 1}"}  # fmt: skip


def test_the_scenario_sets_every_setting_to_a_non_default() -> None:
    defaults = IngestorConfig()
    for key, value in EXPECTED.items():
        assert getattr(defaults, key) != value, f"{key} is the default: the test would not see it lost"
    from workbench.scenario.model import IngestorSettings
    from workbench.scenario.targets import RENAMED, RUNNER_SETTINGS

    # every scenario ingestor setting is set here (a new one must be added)
    assert {RENAMED.get(k, k) for k in IngestorSettings.model_fields} - RUNNER_SETTINGS == set(EXPECTED)
    generator = GeneratorConfig(output_file=Path("x"))
    for key, value in {**GENERATOR, **FILE_GENERATOR}.items():
        assert generator.model_dump(mode="json")[key] != value, f"generator {key} is the default"
    collector = CollectorConfig(inputs=("x",))
    for key, value in COLLECTOR.items():
        assert collector.model_dump(mode="json")[key] != value, f"collector {key} is the default"
    # every setting of a group is one the scenario above sets (a new one must be added here)
    scenario = parse_scenario(SCENARIO.format(placement="{type: subprocess}"))
    group, cgroup = scenario.generators[0], scenario.collectors[0]
    for key in GROUP_KEYS:
        assert getattr(group, key) != GeneratorGroup.model_fields[key].default, key
    assert set(GeneratorGroup.model_fields) - GROUP_KEYS == {
        "name",
        "tool",
        "message_size",
        "ack",
    }  # ack: not on UDP
    for key in COLLECTOR_KEYS:
        assert getattr(cgroup, key) != CollectorGroup.model_fields[key].default, key
    assert set(CollectorGroup.model_fields) - COLLECTOR_KEYS == {"name"}


@pytest.mark.slow
@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_every_ingestor_setting_reaches_the_ingestor(placement: str, tmp_path: Path) -> None:
    result = run_scenario(
        parse_scenario(SCENARIO.format(placement=PLACEMENTS[placement])), tmp_path, quiet=True
    )
    row = pl.read_parquet(result.path / "summary.parquet").row(0, named=True)
    assert row["status"] == "ok", row["reason"]
    assert row["sent"] == 200 + 2 * 60
    cell = result.path / "cells" / "000-base"
    # the settings acted, not only arrived: CSV segments, compressed with gzip (the accounting reads
    # JSONL only, so ``stored`` is not counted for this output)
    finished = sorted(p.name for p in (cell / "data").glob("log_*"))
    assert finished and all(name.endswith(".csv.gz") for name in finished), finished
    reported = json.loads((cell / "ingestor.config.json").read_text())
    assert {k: reported[k] for k in EXPECTED} == EXPECTED
    # the ports it chose stand in place of the scenario's 0 (and it is every setting there is)
    assert reported["tcp_port"] > 0 and reported["http_port"] > 0
    assert set(reported) == set(IngestorConfig.model_fields)

    generator = json.loads((cell / "generator-0.config.json").read_text())
    assert {k: generator[k] for k in GENERATOR} == GENERATOR
    assert generator["seed"] == 3 and generator["client_prefix"] == "c0-g0"
    assert generator["udp_port"] == reported["udp_port"] and set(generator) == set(
        GeneratorConfig.model_fields
    )
    # what the two processes did: two clients each, 100 logs each process, client ids of both
    summary = json.loads((cell / "generator-0.json").read_text())
    assert summary["processes"] == 2 and summary["totals"]["sent_logs_total"] == 200
    assert sorted(c["client_id"] for c in summary["clients"]) == ["c0-g0-p0-0", "c0-g0-p0-1", "c0-g0-p1-0",
                                                                  "c0-g0-p1-1"]  # fmt: skip
    for fi in range(2):
        files = json.loads((cell / f"filegen-0-0-{fi}.config.json").read_text())
        assert {k: files[k] for k in FILE_GENERATOR} == FILE_GENERATOR
    assert not (cell / "filegen-0-0-2.config.json").exists()
    collector = json.loads((cell / "collector-0.config.json").read_text())
    assert {k: collector[k] for k in COLLECTOR} == COLLECTOR
    assert collector["forward_port"] == reported["tcp_port"] and collector["http_port"] > 0
    assert collector["inputs"][0].endswith("files/0-f/*.log")
    assert not (result.path / "registry.config.json").exists()  # the scenario runs none


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_the_registry_reports_its_config(placement: str, tmp_path: Path) -> None:
    text = f"""
name: registry
duration: 1s
placement: {PLACEMENTS[placement]}
registry: {{enabled: true}}
ingestor: {{workers: 0, tls: false}}
generators:
  - {{name: g, count: 50, rate: 1000, format: avro}}
"""
    result = run_scenario(parse_scenario(text), tmp_path, quiet=True)
    row = pl.read_parquet(result.path / "summary.parquet").row(0, named=True)
    assert row["status"] == "ok", row["reason"]
    assert row["stored"] == 50
    registry = json.loads((result.path / "registry.config.json").read_text())
    assert set(registry) == set(RegistryConfig.model_fields) and registry["port"] > 0
    ingestor = json.loads((result.path / "cells" / "000-base" / "ingestor.config.json").read_text())
    assert ingestor["registry_url"] == f"http://{registry['host']}:{registry['port']}"


def test_burst_scenario_hands_its_queue_bound_to_the_ingestor(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "burst.yaml")
    cfg = ingestor_config(scenario, tmp_path, None)
    assert cfg.max_queue_logs == 200_000
    # and through the command line the subprocess placement runs
    from workbench.scenario.placement.base import component_args

    args = component_args(cfg)
    assert json.loads(args[args.index("--config-json") + 1])["max_queue_logs"] == 200_000


@pytest.mark.slow
def test_burst_yaml_cell_runs_with_its_queue_bound(tmp_path: Path) -> None:
    """The real burst.yaml, one cell, shortened: its ingestor.config.json says 200,000."""
    scenario = load_scenario(ROOT / "scenarios" / "burst.yaml")
    short = scenario.model_copy(update={"duration": 2.0, "matrix": {}})
    result = run_scenario(short, tmp_path, quiet=True)
    reported = json.loads((result.path / "cells" / "000-base" / "ingestor.config.json").read_text())
    assert reported["max_queue_logs"] == 200_000
    assert reported["workers"] == 2
