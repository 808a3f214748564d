"""A real results folder for the analysis, notebook and dashboard tests, made once per session.

``tiny_run(tmp_path_factory)`` runs a two-cell scenario (json, proto; in-process, 2 s) the first
time it is called and returns the same run folder afterwards, to this module's tests and to the
e2e dashboard tests (which import this module: ``tests/e2e/conftest.py`` puts this folder on
``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

SCENARIO = """
name: tiny
duration: 2s
seed: 3
placement: {type: inprocess}
registry: {enabled: false}
ingestor: {workers: 0}
generators:
  - name: app
    clients: 2
    batch: 100
    rate: 2000
matrix:
  format: [json, proto]
"""
_CACHE: dict[str, Path] = {}


def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "run" not in _CACHE:
        from workbench.scenario import parse_scenario, run_scenario

        result = run_scenario(parse_scenario(SCENARIO), tmp_path_factory.mktemp("results"), quiet=True)
        _CACHE["run"] = result.path
    return _CACHE["run"]


pytestmark = pytest.mark.slow  # a real scenario run (~10 s), shared by the session


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory)


def test_the_tiny_run_is_a_results_folder(run_dir: Path) -> None:
    assert (run_dir / "summary.parquet").is_file()
    assert sorted(p.name for p in (run_dir / "cells").iterdir()) == ["000-format=json", "001-format=proto"]
