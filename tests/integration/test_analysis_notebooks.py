"""The notebooks in ``notebooks/`` run headless, top to bottom, and are saved without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from test_analysis_fixtures import tiny_run

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
pytestmark = [
    pytest.mark.slow,
    # jupyter_client warns about its own deprecations and zmq's event loop on some platforms
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Proactor event loop.*:RuntimeWarning"),
]


@pytest.mark.parametrize("name", ["01_quickstart", "02_compare_formats", "03_explore_logs"])
def test_notebook_runs(name: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert all(
        not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code"
    )
    monkeypatch.setenv("WORKBENCH_RESULTS_DIR", str(tmp_path))
    if name != "01_quickstart":  # the quickstart runs its own scenario; the others reuse the session's run
        monkeypatch.setenv("WORKBENCH_RUN", str(tiny_run(tmp_path_factory)))
    else:
        monkeypatch.delenv("WORKBENCH_RUN", raising=False)
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                   env=dict(os.environ)).execute()  # fmt: skip
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    if name == "01_quickstart":
        assert any(p.is_dir() for p in tmp_path.glob("notebook-*"))
