"""Compiled fast paths (Cython) of hot loops, each with a pure-Python path that gives the same result.

``python -m workbench.speedups.build`` compiles them in place (``make venv`` does); without a
C compiler the Python paths run and ``available()`` says which modules are missing.
"""

from __future__ import annotations

import importlib

MODULES = ("_syslog", "_binary")


def available() -> dict[str, bool]:
    out = {}
    for name in MODULES:
        try:
            importlib.import_module(f"workbench.speedups.{name}")
            out[name] = True
        except ImportError:
            out[name] = False
    return out
