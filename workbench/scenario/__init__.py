"""Scenarios: the YAML model, matrix expansion, the runner with its placements, accounting, results."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.scenario.model import Scenario, expand, load_scenario, parse_scenario
    from workbench.scenario.runner import RunResult, run_scenario
else:
    from workbench._lazy import exports

    __getattr__ = exports(
        __name__,
        {
            "Scenario": "workbench.scenario.model",
            "expand": "workbench.scenario.model",
            "load_scenario": "workbench.scenario.model",
            "parse_scenario": "workbench.scenario.model",
            "RunResult": "workbench.scenario.runner",
            "run_scenario": "workbench.scenario.runner",
        },
    )

__all__ = ["RunResult", "Scenario", "expand", "load_scenario", "parse_scenario", "run_scenario"]
