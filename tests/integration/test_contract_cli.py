"""The contract of every component verb, from the command line (``workbench.contract``): the whole
config in as ``--config-json``, ``ready`` and ``summary`` events out as JSON lines.

Each verb runs as a real process, as the subprocess and Dask placements start it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from workbench import contract
from workbench.collector.config import CollectorConfig
from workbench.generator.config import GeneratorConfig
from workbench.registry.config import RegistryConfig

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)  # fmt: skip


def _events(stdout: str) -> dict[str, dict[str, Any]]:
    found = [e for line in stdout.splitlines() if (e := contract.parse(line)) is not None]
    return {e["event"]: e for e in found}


@pytest.mark.parametrize(
    ("verb", "config", "flag"),
    [
        ("registry", RegistryConfig(port=0), ["--port", "9000"]),
        ("generate", GeneratorConfig(count=1), ["--batch", "5"]),
        ("collect", CollectorConfig(inputs=("x",)), ["--fsync"]),
        ("ingest", None, ["--workers", "3"]),
    ],
)
def test_a_setting_flag_beside_config_json_is_an_error(verb: str, config: Any, flag: list[str]) -> None:
    text = config.model_dump_json() if config is not None else "{}"
    done = _run(verb, "--config-json", text, *flag)
    assert done.returncode != 0
    assert f"{flag[0]} given with --config-json, which holds every setting" in done.stderr


@pytest.mark.parametrize("verb", ["registry", "generate", "collect", "ingest"])
def test_a_config_json_that_breaks_the_model_names_the_setting(verb: str) -> None:
    required = '"inputs": ["x"], ' if verb == "collect" else ""  # the collector's one required setting
    done = _run(verb, "--config-json", "{" + required + '"no_such_setting": 1}')
    assert done.returncode != 0
    assert "no_such_setting" in done.stderr and "Extra inputs are not permitted" in done.stderr


def test_generate_reports_its_effective_config_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "logs.jsonl"
    config = GeneratorConfig(transport="file", output_file=out, count=50, batch_size=10, rate_per_second=5000,
                             stats_interval_seconds=0)  # fmt: skip
    source = tmp_path / "generator.json"
    source.write_text(config.model_dump_json())
    done = _run("generate", "--config-json", str(source))
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    ready, summary = events["ready"], events["summary"]
    assert ready["component"] == "generator" and summary["component"] == "generator"
    effective = GeneratorConfig.model_validate(ready["config"])
    # what it chose in place of None is in the effective config, and it is what it ran with
    assert effective.seed is not None and effective.client_prefix is not None
    assert effective.model_copy(update={"seed": None, "client_prefix": None}) == config
    assert summary["seed"] == effective.seed
    assert summary["totals"]["sent_logs_total"] == 50
    assert [c["client_id"] for c in summary["clients"]] == [f"{effective.client_prefix}-0"]
    assert len(out.read_bytes().splitlines()) == 50


def _start(verb: str, config: Any, tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    with open(tmp_path / f"{verb}.log", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "workbench", verb, "--config-json", "-"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(config.model_dump_json())
    proc.stdin.close()
    for _ in range(200):  # bounded: the ready event comes within a few lines
        line = proc.stdout.readline()
        if not line:
            break
        if (ready := contract.parse(line, "ready")) is not None:
            return proc, ready
    proc.kill()
    proc.wait()
    proc.stdout.close()
    raise AssertionError(f"{verb} printed no ready event: {(tmp_path / f'{verb}.log').read_text()}")


def _stop(proc: subprocess.Popen[str]) -> dict[str, dict[str, Any]]:
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    rest = proc.stdout.read()
    proc.stdout.close()
    assert proc.wait(timeout=30) == 0
    return _events(rest)


def test_registry_reports_its_port_and_config_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc, ready = _start(
        "registry", RegistryConfig(port=0, data_dir=tmp_path / "reg", auth="admin:secret"), tmp_path
    )
    try:
        effective = ready["config"]
        assert effective["port"] > 0 and ready["url"] == f"http://127.0.0.1:{effective['port']}"
        assert effective["auth"] == "admin:***"  # the password is not repeated
        assert effective["data_dir"] == str(tmp_path / "reg")
    finally:
        _stop(proc)


def test_collect_reports_its_config_and_its_summary_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        '{"timestamp": "2026-01-01T00:00:00Z", "level": "INFO", "service": "a", "message": "m"}\n' * 7
    )
    out = tmp_path / "out.jsonl"
    config = CollectorConfig(inputs=(str(log),), output_path=out, state_dir=tmp_path / "state", http_port=0,
                             stats_interval_seconds=None, flush_interval_seconds=0.2, use_watchdog=False)  # fmt: skip
    proc, ready = _start("collect", config, tmp_path)
    try:
        assert ready["component"] == "collector" and ready["config"]["http_port"] == ready["http_port"] > 0
        assert CollectorConfig.model_validate({**ready["config"], "http_port": 0}) == config
    finally:
        events = _stop(proc)
    summary = events["summary"]
    assert summary["component"] == "collector" and summary["failure"] is None
    assert summary["totals"]["lines"] == 7
    assert len(out.read_bytes().splitlines()) == 7
