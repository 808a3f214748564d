"""Which files the collector follows: the input globs expanded, minus its own files.

``~`` is expanded and ``**`` recurses. The output file and the state dir never match (a glob like
``logs/*.jsonl`` must not make the collector read what it writes). ``watch_dirs`` gives the
directories to watch for file-system events: the deepest directory of each pattern that has no
glob characters, recursive when the rest of the pattern has a ``**`` or a directory part.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

_MAGIC = ("*", "?", "[")


def expand(patterns: Iterable[str], ignore: Iterable[Path] = ()) -> list[str]:
    """Existing regular files that match any pattern, sorted, each once (by real path)."""
    ignored = {os.path.realpath(p) for p in ignore}
    ignored_dirs = tuple(p + os.sep for p in ignored)
    seen: set[str] = set()
    out: list[str] = []
    for pattern in patterns:
        pattern = os.path.expanduser(pattern)
        matches = glob.glob(pattern, recursive=True) if any(c in pattern for c in _MAGIC) else [pattern]
        for path in sorted(matches):
            real = os.path.realpath(path)
            if real in seen or real in ignored or real.startswith(ignored_dirs):
                continue
            if os.path.isfile(path):
                seen.add(real)
                out.append(path)
    return out


def watch_dirs(patterns: Iterable[str]) -> dict[str, bool]:
    """Directory -> recursive, for the watcher; directories that do not exist yet are left out."""
    out: dict[str, bool] = {}
    for pattern in patterns:
        parts = Path(os.path.expanduser(pattern)).parts
        fixed: list[str] = []
        for part in parts[:-1]:
            if any(c in part for c in _MAGIC):
                break
            fixed.append(part)
        recursive = len(fixed) < len(parts) - 1
        base = str(Path(*fixed)) if fixed else "."
        if os.path.isdir(base):
            out[base] = out.get(base, False) or recursive
    return out
