"""Every ingestor setting of a scenario reaches the ingestor, in every placement (issue 17, item 2).

The runner hands the ingestor its whole config as JSON (``ingest --config-json``), the ingestor
answers with a ``ready`` event holding its effective config, and the runner stores it as
``cells/<cell>/ingestor.config.json``. Here a scenario sets a value other than the default for
every ingestor setting; the file must show each one, in the subprocess, in-process and Dask
placements. ``burst.yaml``'s queue bound, which the old flag-based hand-over lost, is checked too.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from workbench.ingestor.config import IngestorConfig
from workbench.scenario.model import load_scenario, parse_scenario
from workbench.scenario.runner import ingestor_config, run_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """
name: settings
duration: 1s
warmup: 0s
seed: 3
placement: {placement}
registry: {{enabled: false}}
ingestor: {{workers: 0, tls: false, output: csv, rotate: 2MB, compression: gzip, compression_level: 7,
           overflow: drop, max_queue_logs: 200000}}
generators:
  - {{name: g, clients: 1, batch: 20, count: 200, rate: 2000}}
"""
# what each scenario setting above becomes in the ingestor's own config
EXPECTED = {
    "workers": 0, "tls": False, "output": "csv", "rotate_bytes": 2_000_000, "compression": "gzip",
    "compression_level": 7, "overflow": "drop", "max_queue_logs": 200_000,
}  # fmt: skip
PLACEMENTS = {"subprocess": "{type: subprocess}", "inprocess": "{type: inprocess}",
              "dask": "{type: dask, local_workers: 1}"}  # fmt: skip


def test_the_scenario_sets_every_setting_to_a_non_default() -> None:
    defaults = IngestorConfig()
    for key, value in EXPECTED.items():
        assert getattr(defaults, key) != value, f"{key} is the default: the test would not see it lost"


@pytest.mark.slow
@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_every_ingestor_setting_reaches_the_ingestor(placement: str, tmp_path: Path) -> None:
    result = run_scenario(
        parse_scenario(SCENARIO.format(placement=PLACEMENTS[placement])), tmp_path, quiet=True
    )
    row = pl.read_parquet(result.path / "summary.parquet").row(0, named=True)
    assert row["status"] == "ok", row["reason"]
    assert row["sent"] == 200
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


def test_burst_scenario_hands_its_queue_bound_to_the_ingestor(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "burst.yaml")
    cfg = ingestor_config(scenario, tmp_path, None)
    assert cfg.max_queue_logs == 200_000
    # and through the command line the subprocess placement runs
    from workbench.scenario.placement import ingest_args

    args = ingest_args(cfg)
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
