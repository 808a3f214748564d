"""Samples of records that failed to parse: ``<state_dir>/parse_errors.jsonl``, bounded.

One JSON object per line: ``time``, ``file``, ``reason``, ``detail``, ``line`` (the record,
invalid UTF-8 replaced, cut at 4 KiB). At most ``max_samples`` lines are kept in the file over
all runs; errors after that are still counted in the metrics.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

FILE_NAME = "parse_errors.jsonl"


class ParseErrorLog:
    def __init__(self, state_dir: Path, max_samples: int) -> None:
        self.path = state_dir / FILE_NAME
        self.max_samples = max_samples
        self.written = 0
        self._fh: Any = None
        try:
            with self.path.open("rb") as fh:
                self.written = sum(1 for _ in fh)
        except FileNotFoundError:
            pass

    def record(self, file: str, reason: str, detail: str, line: bytes) -> dict[str, Any]:
        sample = {"time": time.time(), "file": file, "reason": reason, "detail": detail[:500],
                  "line": line[:4096].decode("utf-8", "replace")}  # fmt: skip
        if self.written < self.max_samples:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("a", encoding="utf-8")
            self._fh.write(json.dumps(sample, ensure_ascii=False) + "\n")
            self.written += 1
        return sample

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
