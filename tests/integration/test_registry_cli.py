"""``python -m workbench registry`` as a real subprocess: serves HTTP, exits 0 on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = re.search(r"registry listening on (http://\S+)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    pytest.fail(f"registry did not start: {proc.communicate()[0]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_stops_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    # through the library's argparse hook, without workbench.cli
    code = (
        "import argparse, sys; from workbench.registry import cli; p = argparse.ArgumentParser(); "
        "sub = p.add_subparsers(); cli.add_parser(sub); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    proc, url = _start(
        [sys.executable, "-c", code, "registry", "--port", "0", "--data-dir", str(tmp_path / "d")]
    )
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=10) as response:
            assert json.loads(response.read()) == ["logs-json-value", "logs-proto-value", "logs-value"]
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
    assert (tmp_path / "d" / "registry.sqlite3").exists()


def test_cli_verb_through_workbench_main(tmp_path: Path) -> None:
    proc, url = _start(
        [sys.executable, "-m", "workbench", "registry", "--port", "0", "--data-dir", str(tmp_path)]
    )
    try:
        with urllib.request.urlopen(f"{url}/schemas/types", timeout=10) as response:
            assert sorted(json.loads(response.read())) == ["AVRO", "JSON", "PROTOBUF"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()


def test_bad_auth_flag_is_one_line_error(tmp_path: Path) -> None:
    from workbench.errors import ConfigError
    from workbench.registry.service import parse_auth

    with pytest.raises(ConfigError, match="user:password"):
        parse_auth("nocolon")
