"""Scale-out: several ingestors, the dask placement on a LocalCluster, results with the same shape.

Every cluster here is a LocalCluster of worker processes on 127.0.0.1 started by the run itself
(``local_workers``) and closed at its end; every server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import polars as pl
import psutil
import pyarrow.parquet as pq
import pytest

from workbench.errors import ConfigError
from workbench.scenario.accounting import Stored, combine, per_client_counts, seq_runs
from workbench.scenario.model import DaskPlacement, Scenario, parse_scenario
from workbench.scenario.runner import run_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """
name: scale
duration: {duration}
seed: 11
placement: {placement}
registry: {{enabled: {registry}}}
ingestor: {{instances: 2, workers: 1, rotate: 64KB}}
generators:
  - name: g
    clients: 4
    batch: 50
    rate: 20000  # enough work that the generators' sampled CPU is above psutil's 10 ms tick
"""
DASK = "{type: dask, local_workers: 2}"


def _scenario(placement: str, duration: str = "2s", registry: str = "false") -> Scenario:
    return parse_scenario(SCENARIO.format(placement=placement, duration=duration, registry=registry))


def _assert_exact(run: Path, min_sent: int = 6000) -> pl.DataFrame:
    summary = pl.read_parquet(run / "summary.parquet")
    row = summary.row(0, named=True)
    assert row["status"] == "ok", row["reason"]
    assert row["ingestors"] == 2 and row["sent"] >= min_sent
    assert row["stored"] == row["sent"] and row["lost"] == 0 and row["duplicated"] == 0
    clients = pl.read_parquet(run / "clients.parquet")
    assert clients.height == 4
    assert (clients["sent"] == clients["stored"]).all() and (clients["missing"] == 0).all()
    return summary


# --- the model ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("placement", "message"),
    [
        (
            "{type: dask}",
            "placement: type dask takes either scheduler (tcp://HOST:8786) or local_workers (N)",
        ),
        ("{type: dask, local_workers: 2, scheduler: 'tcp://h:8786'}", "not both"),
        (
            "{type: dask, local_workers: 0}",
            "placement.local_workers: Input should be greater than or equal to 1",
        ),
        ("{type: dask, scheduler: 'h:8786'}", "placement.scheduler: 'h:8786' is not a scheduler address"),
        (
            "{type: subprocess, local_workers: 2}",
            "placement.local_workers: not a setting of placement type subprocess",
        ),
        ("{local_workers: 2}", "placement.local_workers: not a setting of placement type subprocess"),
        (
            "{type: dask, local_workers: 1, resources: {ingestor: {ingest: 0}}}",
            "resource ingest needs a positive",
        ),
        (
            "{type: dask, local_workers: 1, resources: {ingester: {ingest: 1}}}",
            "placement.resources.ingester",
        ),
        (
            "{type: dask, local_workers: 1, workers: 2}",
            "placement.workers: not a setting of placement type dask",
        ),
    ],
)
def test_bad_placement_options_name_the_field(placement: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_scenario(f"name: x\nplacement: {placement}\n", "x.yaml")
    assert str(err.value).startswith("x.yaml:2: ") and message in str(err.value)


def test_instances_and_external_targets_do_not_mix() -> None:
    text = "name: x\ningestor: {instances: 2}\ntarget: {type: rsyslog}\ngenerators: [{format: syslog}]\n"
    with pytest.raises(ConfigError, match=r"no ingestor\.instances, no dask placement"):
        from workbench.scenario.model import expand

        expand(parse_scenario(text))


def test_documented_schema_matches_the_model() -> None:
    documented = json.loads((ROOT / "docs" / "scenario.schema.json").read_text())
    assert documented == Scenario.model_json_schema()


def test_shipped_scale_out_scenario_is_valid() -> None:
    from workbench.scenario.model import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "scale-out.yaml")
    assert sc.placement.type == "dask" and sc.placement.local_workers == 2
    assert sc.ingestor.instances == 2 and sum(g.clients for g in sc.generators) == 4


# --- accounting across ingestors ---------------------------------------------------------------
def _part(rows: list[tuple[str, int]]) -> Stored:
    df = pl.DataFrame(rows, schema={"client_id": pl.Utf8, "seq": pl.Int64}, orient="row")
    return Stored(per_client_counts(df), df.height, dict.fromkeys(("p50", "p90", "p99", "max"), 0.0), 0, 0,
                  seq_runs(df))  # fmt: skip


def test_combine_sums_clients_across_ingestors_and_finds_cross_host_duplicates() -> None:
    a = _part([("c", 0), ("c", 1), ("c", 2), ("d", 0), ("d", 5)])
    b = _part([("c", 2), ("c", 3), ("d", 1), ("d", 2), ("e", 0)])
    got = {r["client_id"]: r for r in combine([a, b], ["h1", "h2"]).per_client.iter_rows(named=True)}
    assert (got["c"]["lines"], got["c"]["stored"], got["c"]["duplicated"]) == (5, 4, 1)  # seq 2 on both hosts
    assert (got["d"]["stored"], got["d"]["duplicated"], got["d"]["host"]) == (4, 0, "h1,h2")
    assert (got["e"]["stored"], got["e"]["host"]) == (1, "h2")


# --- runs ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_local_placement_with_two_ingestors_is_exact(tmp_path: Path) -> None:
    result = run_scenario(_scenario("{type: subprocess}", registry="true"), tmp_path, quiet=True)
    _assert_exact(result.path)
    clients = pl.read_parquet(result.path / "clients.parquet")
    data = sorted(p.name for p in (result.path / "cells" / "000-base" / "data").iterdir())
    assert data == ["ingestor-0", "ingestor-1"]
    for d in data:  # round-robin: each ingestor holds two clients' logs
        assert any((result.path / "cells" / "000-base" / "data" / d).glob("log_*.jsonl*"))
    assert set(clients["host"]) == {os.uname().nodename}


@pytest.mark.slow
def test_dask_local_cluster_two_ingestors_four_clients_exact(tmp_path: Path) -> None:
    result = run_scenario(_scenario(DASK, registry="true"), tmp_path, quiet=True)
    summary = _assert_exact(result.path)
    assert summary["cpu_percent"][0] > 0 and summary["generator_cpu_percent"][0] > 0  # sampled on the workers
    timeseries = pl.read_parquet(result.path / "timeseries.parquet")
    assert set(timeseries["ingestor"]) == {0, 1} and timeseries["logs_total"].max() > 0  # type: ignore[operator]
    assert (result.path / "logs" / "ingestor-0.log").is_file()  # the worker shares this host's disk
    assert "local_workers: 2" in (result.path / "scenario.yaml").read_text()


@pytest.mark.slow
def test_dask_results_have_the_columns_of_the_local_placement(tmp_path: Path) -> None:
    local = run_scenario(_scenario("{type: subprocess}", "1s", "true"), tmp_path / "local", quiet=True)
    dask = run_scenario(_scenario("{type: subprocess}", "1s", "true"), tmp_path / "dask", quiet=True,
                        placement=DaskPlacement(type="dask", local_workers=2))  # fmt: skip
    for name in ("summary.parquet", "clients.parquet", "timeseries.parquet"):
        a, b = pq.read_schema(local.path / name), pq.read_schema(dask.path / name)
        assert a.names == b.names, name
        assert a.equals(b), name
        assert "host" in a.names
    for run in (local, dask):
        _assert_exact(run.path, min_sent=3000)


def _components(root: psutil.Process) -> list[psutil.Process]:
    """The workbench verbs (ingest, generate, ...) started under this test process."""
    out = []
    for p in root.children(recursive=True):
        try:
            cmd = p.cmdline()
        except psutil.Error:
            continue
        verb = "workbench" in cmd and ("ingest" in cmd or "generate" in cmd or "registry" in cmd)
        if verb or any("workbench.ingestor.child" in c for c in cmd):
            out.append(p)
    return out


@pytest.mark.slow
def test_a_killed_worker_fails_the_cell_and_leaves_no_process(tmp_path: Path) -> None:
    me = psutil.Process()
    seen: list[psutil.Process] = []
    killed: list[float] = []  # when

    def kill_the_ingestors_worker() -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not killed:  # until both ingestors and a generator run
            procs = _components(me)
            ingestors = [p for p in procs if "ingest" in p.cmdline()]
            if len(ingestors) == 2 and any("generate" in p.cmdline() for p in procs):
                time.sleep(1.0)  # the generators are sending
                seen.extend(_components(me))
                worker = ingestors[0].parent()
                assert worker is not None
                os.kill(worker.pid, signal.SIGKILL)
                killed.append(time.monotonic())
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_the_ingestors_worker, daemon=True)
    killer.start()
    result = run_scenario(_scenario(DASK, duration="180s"), tmp_path, quiet=True)
    ended = time.monotonic()
    killer.join(5)
    assert killed, "no worker was killed (components never ran)"
    row = result.summary.row(0, named=True)
    assert row["status"] == "failed"
    assert "is gone" in row["reason"] or "dask worker" in row["reason"], row["reason"]
    # the cell stops when its worker dies (not after its 180 s): detection (half a second), then
    # stopping the rest and closing the LocalCluster, whose nanny first restarts the killed worker
    # (10-40 s on a busy 2-core machine)
    assert ended - killed[0] < 100, f"the run went on {ended - killed[0]:.0f}s after its worker died"
    _gone, alive = psutil.wait_procs(seen, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    assert not _components(me)


def test_components_do_not_inherit_what_the_nanny_set_for_its_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """MALLOC_TRIM_THRESHOLD_=65536 (set by Dask's nanny for its worker) made ingestors and
    generators started from a worker ~30 % slower (every large buffer an mmap/munmap pair)."""
    from workbench.scenario.placement.dask_worker import component_environ

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.setenv("OMP_NUM_THREADS", "8")  # not the nanny's value: the user's own, kept
    monkeypatch.setenv("WORKBENCH_SOMETHING", "kept")
    env = component_environ()
    assert "MALLOC_TRIM_THRESHOLD_" not in env
    assert env["OMP_NUM_THREADS"] == "8" and env["WORKBENCH_SOMETHING"] == "kept"
