"""libFuzzer (through atheris) on one target of ``targets.py``, under the sanitizers.

    python tests/fuzz/fuzz.py TARGET [libFuzzer flags, e.g. -max_total_time=60]

Run it through ``sanitizer.run`` (or ``make fuzz``), which starts Python with the sanitizer
runtime. It starts from the target's committed seeds (``corpus/TARGET``) and writes what it
learns into a scratch corpus (``WB_FUZZ_WORK``, default a temporary folder), never into the
repository; a crash is written as ``crash-*`` into the working directory and ends the run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

# our Python checks are covered too (only our modules: the others cost the start-up); the C is by its build
with atheris.instrument_imports(include=["workbench", "targets"]):
    import targets


def main() -> None:
    name = sys.argv[1]
    target = targets.TARGETS[name]
    work = Path(os.environ.get("WB_FUZZ_WORK") or tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    work.mkdir(parents=True, exist_ok=True)
    seeds = targets.CORPUS / name
    argv = [sys.argv[0], *sys.argv[2:], str(work), str(seeds)]
    atheris.Setup(argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
