"""``python -m workbench run SCENARIO.yaml``: run a scenario, print the table, write results/."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError


def add_parser(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run a YAML scenario (registry, ingestor, generators), results to Parquet",
        description="Run every cell of a scenario's matrix, measure it, account for every log, write results/<run-id>/.",
    )
    p.add_argument(
        "scenario", nargs="?", type=Path, help="the scenario YAML (e.g. scenarios/quickstart.yaml)"
    )
    p.add_argument(
        "--results-dir", type=Path, default=Path("results"), help="where run folders go (default results/)"
    )
    p.add_argument(
        "--placement", choices=("inprocess", "subprocess"), help="override the scenario's placement"
    )
    p.add_argument(
        "--check", action="store_true", help="validate the scenario and list its cells, run nothing"
    )
    p.add_argument(
        "--schema", action="store_true", help="print the scenario JSON Schema (for editors) and exit"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.scenario.model import Scenario, expand, load_scenario

    if args.schema:
        print(json.dumps(Scenario.model_json_schema(), indent=2))
        return 0
    if args.scenario is None:
        raise ConfigError("run: name a scenario file, e.g. scenarios/quickstart.yaml")
    scenario = load_scenario(args.scenario)
    if args.check:
        for cell in expand(scenario):
            print(f"{cell.index:3d}  {cell.name}")
        return 0
    from workbench.scenario.runner import run_scenario

    result = run_scenario(scenario, args.results_dir, args.placement, quiet=args.quiet)
    failed = [r for r in result.summary.iter_rows(named=True) if r.get("status") != "ok"]
    return 1 if failed else 0
