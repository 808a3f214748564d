"""What the image installs, read from ``pyproject.toml`` so that nothing restates its list.

``python docker/requirements.py``: the project's runtime dependencies, less ``NOT_IN_IMAGE``.
``--build``: the tools the build stage needs besides (the build backend of ``[build-system]``,
and Cython and setuptools as ``[project.optional-dependencies] dev`` names them, for
``workbench.speedups.build``); they live in a venv of their own that the final image leaves out.

The Dockerfile runs it inside the build stage and ``docker/wheelhouse.sh`` on the host, so the
online and the offline build install the same set. Standard library only (tomllib): it runs on
the base image's bare python3.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# notebooks run on an analyst's host, not among the compose services; JupyterLab with IPython,
# jedi, babel and debugpy would add about 150 MB to every container
NOT_IN_IMAGE = frozenset({"jupyterlab"})
BUILD_TOOLS = ("cython", "setuptools")


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match[0]).lower()


def runtime(pyproject: dict[str, object]) -> list[str]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    return [r for r in project["dependencies"] if _name(r) not in NOT_IN_IMAGE]


def build_tools(pyproject: dict[str, object]) -> list[str]:
    system = pyproject["build-system"]
    project = pyproject["project"]
    assert isinstance(system, dict) and isinstance(project, dict)
    dev = project["optional-dependencies"]["dev"]
    wanted = [r for r in dev if _name(r) in BUILD_TOOLS]
    missing = set(BUILD_TOOLS) - {_name(r) for r in wanted}
    if missing:
        raise SystemExit(f"pyproject.toml's dev extras no longer name {sorted(missing)}")
    return [*system["requires"], *wanted]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="the build stage's tools instead")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    args = parser.parse_args()
    pyproject = tomllib.loads(args.pyproject.read_text(encoding="utf-8"))
    print("\n".join(build_tools(pyproject) if args.build else runtime(pyproject)))


if __name__ == "__main__":
    main()
