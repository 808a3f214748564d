"""The scenario runner end to end: validation, matrix, both placements, exact accounting, results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import psutil
import pyarrow.parquet as pq
import pytest
import zstandard

from workbench.errors import ConfigError
from workbench.scenario.accounting import account, read_stored
from workbench.scenario.model import expand, parse_scenario
from workbench.scenario.runner import run_scenario

TINY = """
name: tiny
duration: 2s
seed: 7
placement: {{type: {placement}}}
registry: {{enabled: {registry}}}
ingestor: {{workers: {workers}, rotate: 64KB}}
generators:
  - name: g
    clients: 2
    batch: 50
    rate: 2000
matrix:
  format: [json, proto]
"""


def test_unknown_key_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"x.yaml:4: ingestor.wrokers: unknown setting"):
        parse_scenario("name: t\nduration: 1s\ningestor:\n  wrokers: 2\n", "x.yaml")


def test_bad_value_names_the_line_and_setting() -> None:
    text = "name: t\ngenerators:\n  - format: json\n  - format: xml\n"
    with pytest.raises(ConfigError, match=r"x.yaml:4: generators.1.format: Input should be"):
        parse_scenario(text, "x.yaml")


def test_bad_duration_and_matrix_key() -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_scenario("name: t\nduration: soon\n", "x.yaml")
    with pytest.raises(ConfigError, match="matrix key 'fromat'"):
        parse_scenario("name: t\nmatrix:\n  fromat: [json]\n", "x.yaml")
    with pytest.raises(ConfigError, match="matrix cell"):
        expand(parse_scenario("name: t\nmatrix:\n  format: [json, xml]\n"))


def test_matrix_expands_every_combination_in_order() -> None:
    sc = parse_scenario(
        "name: t\ngenerators: [{name: a}, {name: b}]\n"
        "matrix:\n  format: [json, proto]\n  batch: [1, 10, 100]\n  ingestor.workers: [1, 2]\n"
    )
    cells = expand(sc)
    assert len(cells) == 12
    assert cells[0].name == "format=json-batch=1-workers=1"
    assert cells[-1].name == "format=proto-batch=100-workers=2"
    for cell in cells:
        assert {g.format for g in cell.scenario.generators} == {cell.values["format"]}
        assert all(g.batch == cell.values["batch"] for g in cell.scenario.generators)
        assert cell.scenario.ingestor.workers == cell.values["ingestor.workers"]


def _write_segment(path: Path, rows: list[tuple[str, int]], compress: bool) -> None:
    lines = b"".join(
        json.dumps({"timestamp": "2025-01-01T00:00:00Z", "level": "INFO", "service": "s", "message": "m", "host": "h",
                    "client_id": c, "seq": q, "received_at": "2025-01-01T00:00:00.001Z"}).encode() + b"\n"
        for c, q in rows
    )  # fmt: skip
    path.write_bytes(zstandard.ZstdCompressor().compress(lines) if compress else lines)


def test_accounting_is_exact_with_injected_loss_duplicates_and_reordering(tmp_path: Path) -> None:
    a = [("a", i) for i in range(100) if i not in (10, 11, 12)]  # 3 lost
    a += [("a", 50), ("a", 51)]  # 2 duplicates, and the seq goes down once
    b = [("b", i) for i in range(40)]
    _write_segment(tmp_path / "log_0_20250101_000000.jsonl.zst", a[:60], compress=True)
    _write_segment(tmp_path / "log_0_20250101_000001.jsonl.zst", a[60:], compress=True)
    _write_segment(tmp_path / "log_1_20250101_000000.jsonl", b, compress=False)
    stored = read_stored(tmp_path)
    acc = account({"a": {"sent": 100}, "b": {"sent": 40}, "c": {"sent": 5}}, stored, rejected=1, dropped=2)
    by = {c["client_id"]: c for c in acc["clients"]}
    assert by["a"] == {"client_id": "a", "sent": 100, "stored": 97, "duplicated": 2, "reordered": 1,
                       "missing": 3, "unexpected": 0}  # fmt: skip
    assert by["b"]["stored"] == 40 and by["b"]["missing"] == 0 and by["b"]["duplicated"] == 0
    assert by["c"]["stored"] == 0 and by["c"]["missing"] == 5
    assert acc["sent"] == 145 and acc["stored"] == 137 and acc["duplicated"] == 2
    assert acc["lost"] == 145 - 137 - 1 - 2
    assert stored.latency_us["p50"] == 1000.0
    assert stored.compression_ratio > 1.0


def _check_results(run_dir: Path) -> pl.DataFrame:
    summary = pl.read_parquet(run_dir / "summary.parquet")
    arrow = pq.read_table(run_dir / "summary.parquet")  # a second Parquet reader
    assert arrow.num_rows == summary.height
    for col in ("cell", "format", "protocol", "batch", "clients", "duration_s", "sent", "stored", "lost", "duplicated",
                "rejected", "dropped", "logs_per_sec", "mb_per_sec", "latency_p50_us", "latency_p99_us",
                "cpu_percent", "rss_mb", "compression_ratio"):  # fmt: skip
        assert col in summary.columns, col
    ts = pq.read_table(run_dir / "timeseries.parquet").to_pydict()
    assert ts["cell"] and len(ts["t"]) == len(ts["cell"])
    env = json.loads((run_dir / "env.json").read_text())
    assert env["format_version"] == 2 and env["cores"] and env["python"]
    assert (run_dir / "scenario.yaml").is_file()
    return summary


@pytest.mark.slow
def test_inprocess_run_accounts_for_every_log(tmp_path: Path) -> None:
    sc = parse_scenario(TINY.format(placement="inprocess", registry="false", workers=0))
    result = run_scenario(sc, tmp_path, quiet=True)
    summary = _check_results(result.path)
    assert summary["status"].to_list() == ["ok", "ok"]
    assert summary["format"].to_list() == ["json", "proto"]
    for row in summary.iter_rows(named=True):
        assert row["sent"] > 1000
        assert row["stored"] == row["sent"] and row["lost"] == 0 and row["duplicated"] == 0


@pytest.mark.slow
def test_subprocess_run_with_registry_and_worker_processes(tmp_path: Path) -> None:
    sc = parse_scenario(TINY.format(placement="subprocess", registry="true", workers=2))
    result = run_scenario(sc, tmp_path, quiet=True)
    summary = _check_results(result.path)
    for row in summary.iter_rows(named=True):
        assert row["status"] == "ok", row["reason"]
        assert row["stored"] == row["sent"] > 1000 and row["lost"] == 0
        assert row["compression_ratio"] > 2
        assert row["cpu_percent"] > 0 and row["rss_mb"] > 50  # the ingestor's process tree
        assert row["generator_cpu_percent"] > 0 and row["generator_rss_mb"] > 10  # every other component too
    timeseries = pl.read_parquet(result.path / "timeseries.parquet")
    assert {"generator_cpu_percent", "registry_rss_mb"} <= set(timeseries.columns)
    assert (result.path / "logs" / "ingestor.log").is_file()


@pytest.mark.slow
def test_ctrl_c_leaves_no_process_behind(tmp_path: Path) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(TINY.format(placement="subprocess", registry="true", workers=2).replace("2s", "60s"))
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "run", str(scenario), "--results-dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    me = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    descendants: list[psutil.Process] = []
    while time.monotonic() < deadline:  # until the ingestor's workers and a generator run
        descendants = me.children(recursive=True)
        if len(descendants) >= 5:
            break
        time.sleep(0.2)
    assert len(descendants) >= 5, [p.cmdline() for p in descendants]
    os.kill(proc.pid, signal.SIGINT)
    proc.wait(timeout=90)
    _gone, alive = psutil.wait_procs(descendants, timeout=30)
    assert not alive, [p.cmdline() for p in alive]


@pytest.mark.slow
def test_collector_group_files_are_tailed_forwarded_and_accounted(tmp_path: Path) -> None:
    sc = parse_scenario(
        "name: files\nduration: 2s\nseed: 9\nplacement: {type: inprocess}\nregistry: {enabled: false}\n"
        "ingestor: {workers: 0}\ngenerators: []\n"
        "collectors:\n  - {name: tail, files: 2, rate: 1500}\nmatrix:\n  collectors.0.file_format: [json, text]\n"
    )
    result = run_scenario(sc, tmp_path, quiet=True)
    summary = _check_results(result.path)
    for row in summary.iter_rows(named=True):
        assert row["status"] == "ok", row["reason"]
        assert row["protocol"] == "collector"
        assert (
            row["sent"] > 2000
            and row["stored"] == row["sent"]
            and row["lost"] == 0
            and row["duplicated"] == 0
        )


def test_target_and_placement_without_type_are_the_defaults() -> None:
    """``type`` may be left out: the ingestor target and the subprocess placement, with their options."""
    sc = parse_scenario("name: t\ntarget: {tls: false}\nplacement: {}\n")
    assert (sc.target.type, sc.target.tls, sc.placement.type) == ("ingestor", False, "subprocess")
    cells = expand(parse_scenario("name: t\ntarget: {tls: true}\ngenerators: [{format: syslog}]\n"
                                  "matrix:\n  target.type: [rsyslog, ingestor]\n"))  # fmt: skip
    assert [(c.scenario.target.type, c.scenario.target.tls) for c in cells] == [
        ("rsyslog", True),
        ("ingestor", True),
    ]


def test_external_target_needs_a_syslog_load() -> None:
    with pytest.raises(ConfigError, match="rsyslog target takes syslog over tcp"):
        expand(parse_scenario("name: t\ntarget: {type: rsyslog}\ngenerators: [{format: json}]\n"))
    with pytest.raises(ConfigError, match=r"target\.command: target type command needs it"):
        expand(parse_scenario("name: t\ntarget: {type: command}\ngenerators: [{format: syslog}]\n"))


@pytest.mark.slow
def test_rsyslog_target_is_accounted_like_our_ingestor(tmp_path: Path) -> None:
    """rsyslog (Debian's, installed by `make test`) receives the same octet-counted RFC 5424 load,
    plain and over TLS; the accounting reads its file and finds every seq of every client once."""
    sc = parse_scenario(
        "name: peers\nduration: 2s\nseed: 3\nplacement: {type: inprocess}\nregistry: {enabled: false}\n"
        "ingestor: {workers: 0}\ngenerators: [{name: s, format: syslog, clients: 2, batch: 100, rate: 4000}]\n"
        "matrix:\n  target.type: [rsyslog, ingestor]\n  target.tls: [false, true]\n"
    )
    result = run_scenario(sc, tmp_path, quiet=True)
    summary = _check_results(result.path)
    assert summary.height == 4
    for row in summary.iter_rows(named=True):
        assert row["status"] == "ok", row["reason"]
        assert (
            row["sent"] > 3000
            and row["stored"] == row["sent"]
            and row["lost"] == 0
            and row["duplicated"] == 0
        )
    conf = next((result.path / "cells").glob("*type=rsyslog-tls=True/target.conf")).read_text()
    assert 'streamDriver.name="gtls"' in conf and "127.0.0.1" in conf


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rsyslog", "syslog-ng"])
def test_peer_stopped_after_the_senders_closed_stores_what_its_sockets_still_held(
    tmp_path: Path, kind: str
) -> None:
    """rsyslog stops reading its sockets on SIGTERM: a loaded machine's last batches, still in the
    kernel when the runner stopped it, were lost (a CI run stored 8000 of 8200). Here the receiver
    is frozen while the load is sent and closed, as if it got no CPU; its stop waits until it has
    read every connection to its end, then its clean shutdown writes them all."""
    import asyncio

    from workbench.scenario.external import ExternalReceiver, read_external
    from workbench.scenario.model import RsyslogTarget, SyslogNgTarget

    model = RsyslogTarget if kind == "rsyslog" else SyslogNgTarget
    target = model.model_validate({"type": kind, "tls": False})
    frames = b"".join(
        b"%d %s" % (len(m), m)
        for m in (f'<14>1 2026-01-01T00:00:00Z h app 1 - [log@32473 client_id="c" seq="{i}"] {"x" * 150}'.encode()
                  for i in range(2000))
    )  # fmt: skip

    async def main() -> int:
        receiver = await ExternalReceiver.start(target, tmp_path, tmp_path / "logs", kind, dict)
        pid = receiver.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", receiver.handles[0].tcp_port)
            writer.write(frames)
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 10)  # the kernel's buffers hold it all
            # it gets the CPU back only once the runner has begun to stop it
            asyncio.get_running_loop().call_later(0.5, os.kill, pid, signal.SIGCONT)
            await receiver.stop()
        finally:
            if receiver.proc.returncode is None:
                os.kill(pid, signal.SIGCONT)
        assert receiver.proc.returncode == 0
        return read_external(tmp_path / "data", target.output).lines

    assert asyncio.run(main()) == 2000


@pytest.mark.parametrize("kind", ["rsyslog", "syslog-ng"])
def test_peer_configs_use_absolute_paths_under_a_relative_results_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """`workbench run` writes under the relative results/; rsyslogd changes to / before it writes
    its pid file, so a relative path there made it exit (the peers scenario lost its rsyslog rows)."""
    from workbench.scenario.external import render
    from workbench.scenario.model import TARGET

    monkeypatch.chdir(tmp_path)
    target = TARGET.validate_python({"type": kind, "tls": True})
    command, config, subs = render(target, Path("results/run/cells/000-x"))
    for key in ("data_dir", "config", "cert", "key"):
        assert Path(subs[key]).is_absolute(), key
    assert "results/run" not in config.replace(str(tmp_path / "results/run"), "")
    assert all("results/run" not in part or part.startswith(str(tmp_path)) for part in command)


def test_loggen_and_baseline_are_checked() -> None:
    with pytest.raises(ConfigError, match="loggen sends syslog over tcp"):
        expand(parse_scenario("name: t\ngenerators: [{tool: loggen, format: json}]\n"))
    with pytest.raises(ConfigError, match="one loggen group per cell"):
        expand(
            parse_scenario(
                "name: t\ngenerators: [{tool: loggen, format: syslog}, {tool: loggen, format: syslog}]\n"
            )
        )
    with pytest.raises(ConfigError, match=r"baseline target\.type=.syslog-ng. is not a value of the matrix"):
        expand(parse_scenario("name: t\ngenerators: [{format: syslog}]\nmatrix: {target.type: [ingestor, rsyslog]}\n"
                              "baseline: {target.type: syslog-ng}\n"))  # fmt: skip


def test_loggen_sent_is_exact_per_connection_and_the_tail_is_the_loggen_client(tmp_path: Path) -> None:
    from workbench.scenario.external import loggen_sent, read_loggen

    out = tmp_path / "out.log"
    lines = [f"<38>1 2026-01-01T00:00:00+00:00 h prg 1 - - seq: {s:010d}, thread: {t:04d}, runid: 1, x\n"
             for t, n in ((0, 5), (1, 3)) for s in range(n) if (t, s) != (1, 1)]  # fmt: skip
    out.write_text("".join([*lines, lines[0]]))  # thread 0 seq 0 twice, thread 1 seq 1 missing
    stored = read_loggen([out])
    acc = account(loggen_sent(10, stored), stored)
    by_client = {c["client_id"]: c for c in acc["clients"]}
    assert by_client["loggen-t0000"] == {"client_id": "loggen-t0000", "sent": 5, "stored": 5, "duplicated": 1,
                                         "reordered": 1, "missing": 0, "unexpected": 0}  # fmt: skip
    assert by_client["loggen-t0001"]["missing"] == 1
    assert by_client["loggen"]["sent"] == 2 and acc["lost"] == 3 and acc["sent"] == 10


@pytest.mark.slow
def test_syslog_ng_and_loggen_are_accounted_and_compared(tmp_path: Path) -> None:
    """syslog-ng (unpacked into peers/ by `make test`) and our ingestor receive our generator's
    and loggen's load over TLS; every message is found once, and each cell has its ratio to syslog-ng."""
    sc = parse_scenario(
        "name: peers\nduration: 2s\nseed: 3\nplacement: {type: inprocess}\nregistry: {enabled: false}\n"
        "ingestor: {workers: 0}\ntarget: {tls: true}\n"
        "generators: [{name: s, format: syslog, clients: 2, batch: 100, rate: 4000}]\n"
        "matrix:\n  generators.0.tool: [workbench, loggen]\n  target.type: [syslog-ng, ingestor]\n"
        "baseline: {target.type: syslog-ng}\n"
    )
    result = run_scenario(sc, tmp_path, quiet=True)
    summary = _check_results(result.path)
    assert summary.height == 4
    for row in summary.iter_rows(named=True):
        assert row["status"] == "ok", row["reason"]
        assert row["sent"] > 3000 and row["stored"] == row["sent"] and row["lost"] == 0, row
        assert row["duplicated"] == 0 and row["tls"] is True
        assert row["ratio_to_baseline"] == pytest.approx(
            row["logs_per_sec"]
            / summary.filter((pl.col("target") == "syslog-ng") & (pl.col("generator") == row["generator"]))[
                "logs_per_sec"
            ][0]
        )
    assert set(summary["generator"]) == {"workbench", "loggen"}
    clients = pl.read_parquet(result.path / "clients.parquet")
    assert {"loggen-t0000", "loggen-t0001"} <= set(clients["client_id"])
    conf = next((result.path / "cells").glob("*tool=loggen-type=syslog-ng/target.conf")).read_text()
    assert 'transport("tls")' in conf and 'ip("127.0.0.1")' in conf


@pytest.mark.slow
def test_a_failed_cell_leaves_no_rsyslogd_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The placement stops the ingestors it started; a third-party receiver it does not know of
    is stopped by the cell itself when a generator fails."""
    from workbench.errors import ComponentFailed
    from workbench.scenario import runner

    async def failing(*args: object, **kwargs: object) -> None:
        raise ComponentFailed("generator exited with status 2 (a generator that fails, for this test)")

    monkeypatch.setattr(runner, "_run_generator", failing)
    sc = parse_scenario(
        "name: peers\nduration: 2s\nplacement: {type: inprocess}\nregistry: {enabled: false}\n"
        "target: {type: rsyslog}\ngenerators: [{name: s, format: syslog, clients: 1, rate: 100}]\n"
    )
    result = run_scenario(sc, tmp_path, quiet=True)
    row = pl.read_parquet(result.path / "summary.parquet").row(0, named=True)
    assert row["status"] == "failed" and "fails, for this test" in row["reason"]
    left = [
        p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert left == [], f"rsyslogd still running: {left}"
