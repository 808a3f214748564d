"""One parser for the sizes and durations people write in YAML and flags: ``"50 MB"``, ``"30s"``."""

from __future__ import annotations

import re

from workbench.errors import ConfigError

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12,
               "tb": 1e12, "kib": 1 << 10, "ki": 1 << 10, "mib": 1 << 20, "mi": 1 << 20, "gib": 1 << 30,
               "gi": 1 << 30, "tib": 1 << 40, "ti": 1 << 40}  # fmt: skip
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|)\s*", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "": 1.0, "m": 60.0, "h": 3600.0}


def parse_bytes(value: str | int | float) -> int:
    """``"50 MB"`` -> 50_000_000, ``"64KiB"`` -> 65536, ``1024`` -> 1024."""
    if isinstance(value, int | float):
        return int(value)
    m = _SIZE.fullmatch(value)
    if not m or (m.group(2) or "").lower() not in _SIZE_UNITS:
        raise ConfigError(f"not a size: {value!r} (examples: 50MB, 64KiB, 1024)")
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])


def parse_seconds(value: str | int | float) -> float:
    """``"30s"`` -> 30.0, ``"250ms"`` -> 0.25, ``"2m"`` -> 120.0, ``5`` -> 5.0."""
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.fullmatch(value)
    if not m:
        raise ConfigError(f"not a duration: {value!r} (examples: 30s, 250ms, 2m)")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2).lower()]
