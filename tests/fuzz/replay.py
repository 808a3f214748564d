"""Run inputs through a fuzz target once: ``python tests/fuzz/replay.py TARGET FILE...``, or
``--findings`` for every reproducer of ``seeds.FINDINGS`` (run it through ``sanitizer.run``).

A crash file that libFuzzer wrote is replayed this way, and then added to ``seeds.FINDINGS``
(which makes it a seed and a regression test).
"""

from __future__ import annotations

import sys
from pathlib import Path

import seeds
import targets


def main(args: list[str]) -> int:
    if args == ["--findings"]:
        cases = [(t, bytes.fromhex(h)) for t, hs in seeds.FINDINGS.items() for h in hs]
    else:
        cases = [(args[0], Path(f).read_bytes()) for f in args[1:]]
    for target, data in cases:
        targets.TARGETS[target](data)
        print(f"{target}: {data.hex()[:60]}... ok", flush=True)
    print(f"replayed {len(cases)} inputs, no finding")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
