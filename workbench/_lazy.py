"""Names imported on first use: package exports (PEP 562), so importing a light module of a
package (its config, say) does not import its service, and registry entries (``module:Name``)
whose modules load only when asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names`` (name -> module) when one is first asked for."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__


def resolve(ref: str) -> Any:
    """The object a ``module:Name`` reference names (the module imported now)."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)
