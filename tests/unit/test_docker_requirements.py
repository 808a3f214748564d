"""``docker/requirements.py``: the image installs pyproject's runtime dependencies (less what it
leaves out on purpose) and builds with the tools pyproject names, so nothing restates the list."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "requirements.py"


@pytest.fixture(scope="module")
def req() -> ModuleType:
    spec = importlib.util.spec_from_file_location("workbench_docker_requirements", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runtime_is_pyproject_less_what_the_image_leaves_out(req: ModuleType) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = req.runtime(pyproject)
    names = {req._name(r) for r in pyproject["project"]["dependencies"]}
    assert {req._name(r) for r in runtime} == names - req.NOT_IN_IMAGE
    assert names >= req.NOT_IN_IMAGE, "a package the image leaves out is no longer a dependency"


def test_build_tools_come_from_pyproject(req: ModuleType) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tools = req.build_tools(pyproject)
    assert tools[: len(pyproject["build-system"]["requires"])] == pyproject["build-system"]["requires"]
    assert {req._name(t) for t in tools} >= {"hatchling", "cython", "setuptools"}


def test_name_normalises_like_pip(req: ModuleType) -> None:
    assert req._name("fastavro[zstandard]>=1.9") == "fastavro"
    assert req._name("uvloop>=0.19; sys_platform != 'win32'") == "uvloop"
    assert req._name("Foo_Bar.baz==1") == "foo-bar-baz"


def test_cli_prints_one_requirement_a_line() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert "pyarrow>=16" in lines and not any(line.startswith("jupyterlab") for line in lines)
