"""``python -m workbench``: the verb listing and what each verb imports before it parses an argument."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench import cli

HEAVY = ("polars", "pyarrow", "numpy", "panel", "bokeh", "distributed", "fastavro")


def test_the_listing_is_each_verbs_own_help() -> None:
    parser = cli.build_parser()
    choices = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    helps = {a.dest: a.help for a in choices._choices_actions}  # type: ignore[attr-defined]
    assert helps == {name: help_line for name, (_module, help_line) in cli.VERBS.items()}


def _imported_by(argv: list[str]) -> set[str]:
    code = (
        "import sys\nfrom workbench import cli\ntry:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    return set(done.stderr.strip().splitlines()[-1].split())


def test_help_imports_no_verb() -> None:
    loaded = _imported_by(["--help"])
    assert not loaded & {*HEAVY, "pydantic", "msgspec"}, loaded


@pytest.mark.parametrize("verb", ["ingest", "generate", "registry", "collect"])
def test_a_service_verb_imports_neither_dataframes_nor_views(verb: str) -> None:
    loaded = _imported_by([verb, "--help"])
    assert not loaded & set(HEAVY), (verb, loaded & set(HEAVY))
