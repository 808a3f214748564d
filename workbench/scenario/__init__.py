"""Scenarios: the YAML model, matrix expansion, the runner with its placements, accounting, results."""

from __future__ import annotations

from workbench.scenario.model import Scenario, expand, load_scenario, parse_scenario
from workbench.scenario.runner import RunResult, run_scenario

__all__ = ["RunResult", "Scenario", "expand", "load_scenario", "parse_scenario", "run_scenario"]
