"""``python -m workbench.collector``: the ``collect`` verb on its own."""

from workbench.collector.cli import main

main()
