"""``python -m workbench.generator ARGS`` = ``python -m workbench generate ARGS`` (used by --processes)."""

from workbench.generator.cli import main_standalone

main_standalone()
