"""Fixtures shared by every test layer.

``loghub_dir`` finds the real-world samples that sit beside the repository as
``../shared/data/loghub`` (a checkout, CI's clone or a worktree all keep ``shared/`` there). A
missing folder is an error, not a skip: tests that silently stop covering real logs are worse
than a red build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LOGHUB_FILES = ("Apache_2k.log", "HDFS_2k.log", "Linux_2k.log", "OpenSSH_2k.log")


def find_loghub_dir() -> Path:
    """The loghub sample folder, or a ``FileNotFoundError`` that says where it was looked for."""
    candidates = [REPO_ROOT.parent / "shared" / "data" / "loghub", REPO_ROOT / "shared" / "data" / "loghub"]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in LOGHUB_FILES):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"loghub samples ({', '.join(LOGHUB_FILES)}) not found; looked in {looked}. "
        "Put a copy of shared/ beside the repository (../shared relative to its root)."
    )


@pytest.fixture(scope="session")
def loghub_dir() -> Path:
    try:
        return find_loghub_dir()
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def loghub_lines(loghub_dir: Path) -> dict[str, list[bytes]]:
    """Non-empty lines of each sample file by its stem (``Linux_2k``), CRLF endings stripped."""
    out: dict[str, list[bytes]] = {}
    for name in LOGHUB_FILES:
        data = (loghub_dir / name).read_bytes()
        out[name.removesuffix(".log")] = [ln.rstrip(b"\r") for ln in data.split(b"\n") if ln.strip()]
    return out


LONG_RUN_MARKERS = ("soak", "fuzz")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long runs (``soak``, ``fuzz``) are deselected unless ``-m`` names them: not skipped, not in CI."""
    expression = config.getoption("markexpr") or ""
    wanted = [m for m in LONG_RUN_MARKERS if m in expression]
    keep, drop = [], []
    for item in items:
        marks = {m.name for m in item.iter_markers()} & set(LONG_RUN_MARKERS)
        (drop if marks and not marks & set(wanted) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
