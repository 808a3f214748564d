"""A status line per cell on the terminal: a bar over the cell's time and the live logs/s."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self, cells: int, seconds_per_cell: float, quiet: bool = False, out: TextIO | None = None
    ) -> None:
        self.cells = cells
        self.seconds = max(seconds_per_cell, 1e-9)
        self.quiet = quiet
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self._name = ""
        self._index = 0
        self._last_print = 0.0

    def start_cell(self, index: int, name: str) -> None:
        self._index, self._name = index, name
        self._write(f"[cell {index + 1}/{self.cells}] {name}: starting", final=not self.tty)

    def update(self, elapsed: float, logs_per_sec: float, stored: float) -> None:
        now = time.monotonic()
        if not self.tty and now - self._last_print < 5.0:
            return  # a log file gets a line every 5 s, a terminal a redrawn bar every second
        self._last_print = now
        frac = min(1.0, elapsed / self.seconds)
        bar = "█" * int(frac * 20) + "░" * (20 - int(frac * 20))
        self._write(f"[cell {self._index + 1}/{self.cells}] {self._name} ▕{bar}▏ {elapsed:4.0f}s/{self.seconds:.0f}s "
                    f"{logs_per_sec:>11,.0f} logs/s  stored {stored:,.0f}", final=not self.tty)  # fmt: skip

    def end_cell(self, outcome: str) -> None:
        self._write(f"[cell {self._index + 1}/{self.cells}] {self._name}: {outcome}", final=True)

    def _write(self, text: str, final: bool) -> None:
        if self.quiet:
            return
        if self.tty:
            self.out.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.out.write(text + "\n")
        self.out.flush()
