"""Where components run: in this process (asyncio tasks), as local subprocesses (CLI verbs), or
on the workers of a Dask cluster.

A placement starts a component and returns a handle with the same shape whatever runs it
(``base``), so the runner, the accounting and the scenarios do not change with the placement.
The Dask placement (``dask``, ``dask_worker``) is imported only when a scenario asks for it, so
local runs do not pay for ``import distributed``. Every placement also reads an ingestor's stored
logs where they lie (``read_stored``) and gives the runner a probe that samples its components
once a second (``probe``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.scenario.placement.base import (
    ComponentFailed,
    GeneratorResult,
    IngestorHandle,
    Placement,
    final_counts,
    terminate,
)
from workbench.scenario.placement.inprocess import InProcessPlacement
from workbench.scenario.placement.subprocess import SubprocessPlacement

if TYPE_CHECKING:
    from workbench.scenario.model import Placement as PlacementSettings


def make_placement(settings: PlacementSettings, log_dir: Path) -> Placement:
    """The placement a scenario asks for; ``log_dir`` is ``<run>/logs`` (the dask placement maps
    the run folder to ``settings.data_dir`` on every worker host)."""
    from workbench.scenario import model

    if isinstance(settings, model.DaskPlacement):
        from workbench.scenario.placement.dask import DaskPlacement

        return DaskPlacement(settings, log_dir)
    return InProcessPlacement(log_dir) if settings.type == "inprocess" else SubprocessPlacement(log_dir)


__all__ = ["ComponentFailed", "GeneratorResult", "InProcessPlacement", "IngestorHandle", "Placement",
           "SubprocessPlacement", "final_counts", "make_placement", "terminate"]  # fmt: skip
