"""Engine overhead of the dask placement: the same scenario locally and on a Dask LocalCluster.

Two ingestors and four generator clients sending as fast as the ingestors take it, a fixed count
per client, run alternately with the subprocess placement and the dask placement (a LocalCluster
of two worker processes on 127.0.0.1); the best and the median logs/s of each, and their ratios. Accounting must be
exact in every run (a run that loses a log is not a measurement). Target: overhead under 5 %.

    .venv/bin/python bench/scale_out.py [--count-per-client 100000] [--repeats 2] [--format json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from workbench.scenario.model import DaskPlacement, SubprocessPlacement, parse_scenario
from workbench.scenario.runner import run_scenario

SCENARIO = """
name: bench-scale-out
seed: 1
registry: {{enabled: false}}
ingestor: {{instances: 2, workers: 1}}
generators:
  - {{name: g, format: {format}, clients: 4, batch: 100, interval_ms: 0, count: {count}}}
"""
PLACEMENTS = {"local": SubprocessPlacement(), "dask": DaskPlacement(type="dask", local_workers=2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count-per-client", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--format", default="json")
    args = ap.parse_args()
    scenario = parse_scenario(SCENARIO.format(format=args.format, count=args.count_per_client))
    runs: dict[str, list[float]] = {name: [] for name in PLACEMENTS}
    with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as tmp:
        for i in range(args.repeats):
            for name, placement in PLACEMENTS.items():
                result = run_scenario(scenario, Path(tmp) / f"{name}-{i}", placement=placement, quiet=True)
                row = result.summary.row(0, named=True)
                if row["status"] != "ok" or row["lost"] or row["stored"] != row["sent"]:
                    print(f"{name} run {i}: {row['status']} {row.get('reason')} lost={row.get('lost')}")
                    return 1
                print(
                    f"{name:5s} run {i}: {row['stored']:,} logs, {row['logs_per_sec']:,.0f} logs/s",
                    flush=True,
                )
                runs[name].append(row["logs_per_sec"])
    for label, pick in (("best", max), ("median", statistics.median)):
        local, dask = pick(runs["local"]), pick(runs["dask"])
        print(f"{label}: local {local:,.0f} logs/s, dask {dask:,.0f} logs/s, "
              f"dask/local {dask / local:.3f} (overhead {100 * (1 - dask / local):+.1f} %)")  # fmt: skip
    return 0


if __name__ == "__main__":  # the LocalCluster's workers are spawned processes that import this module
    sys.exit(main())
