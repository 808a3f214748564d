"""Starting Python with the sanitizer runtime, for the sanitizer build of ``workbench/speedups/``.

A Python that is not built with AddressSanitizer can load an extension that is only when the
ASan runtime is loaded first, so the fuzz scripts run in a child process whose environment
preloads atheris's ``asan_with_fuzzer.so`` (ASan, UBSan's handlers and libFuzzer in one library).
Leak detection is off (the interpreter keeps memory to the end on purpose), every report is
fatal, and ``PYTHONMALLOC=malloc`` puts Python's own small objects under ASan too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def runtime() -> Path:
    """atheris's combined ASan + UBSan + libFuzzer runtime."""
    import atheris

    path = Path(atheris.path()) / "asan_with_fuzzer.so"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install atheris (the dev extras)")
    return path


def env(*, tight: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a child that loads the sanitizer build; ``tight`` sets WB_TIGHT_BUFFERS."""
    out = dict(os.environ)
    out.update(
        LD_PRELOAD=str(runtime()),
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:allocator_may_return_null=1:symbolize=1",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
        PYTHONMALLOC="malloc",
        WB_TIGHT_BUFFERS="1" if tight else "0",
        WB_FUZZ_BUILD="sanitize",
        PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]),
    )
    out.update(extra)
    return out


def run(
    script: str, *args: str, tight: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``python tests/fuzz/<script> args...`` under the sanitizers; its output captured."""
    return subprocess.run(
        [sys.executable, str(HERE / script), *args],
        env=env(tight=tight),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: libFuzzer", "SUMMARY: ")


def reports(output: str) -> list[str]:
    """The lines of an output in which a sanitizer or libFuzzer reported something."""
    return [line for line in output.splitlines() if any(mark in line for mark in SANITIZER_REPORTS)]
