"""``python -m workbench generate`` (and ``--blackhole``) as real subprocesses: SIGTERM stops cleanly."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _verb() -> list[str]:
    return [sys.executable, "-m", "workbench", "generate"]


def _wait_for(proc: subprocess.Popen[str], pattern: str, timeout: float = 30) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    proc.kill()
    pytest.fail(f"no {pattern!r} in output: {''.join(seen)}")


@pytest.mark.slow
def test_sigterm_gives_summary_and_exit_0(tmp_path: Path) -> None:
    verb = _verb()
    hole = subprocess.Popen([*verb, "--blackhole", "--tcp-port", "0", "--tls-dir", str(tmp_path / "tls"),
                             "--stats-interval", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        port = _wait_for(hole, r"blackhole listening tcp=(\d+)").group(1)
        summary_file = tmp_path / "summary.json"
        gen = subprocess.Popen(
            [*verb, "--tcp-port", port, "--ca", str(tmp_path / "tls" / "ingestor-cert.pem"), "--interval", "20",
             "--clients", "2", "--stats-interval", "0.2", "--summary-json", str(summary_file)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        seed = _wait_for(gen, r"seed=(\d+) \(generated\)").group(1)
        _wait_for(gen, r"stats t=.* sent=[1-9]")
        gen.send_signal(signal.SIGTERM)
        out, _ = gen.communicate(timeout=30)
        assert gen.returncode == 0, out
        assert re.search(rf"summary t=.* sent=\d+ logs.* seed={seed} stopped_by=signal SIGTERM", out), out
        summary = json.loads(summary_file.read_text())
        assert summary["seed"] == int(seed) and summary["transport"] == "tls" and summary["format"] == "json"
        assert len(summary["clients"]) == 2
        for c in summary["clients"]:
            assert c["first_seq"] == 0 and c["last_seq"] == c["sent_logs"] - 1 and c["sent_logs"] > 0
            assert set(c) >= {"client_id", "first_seq", "last_seq", "sent_logs", "acked_logs"}
        sent = summary["totals"]["sent_logs_total"]
    finally:
        hole.send_signal(signal.SIGTERM)
        hole_out, _ = hole.communicate(timeout=30)
    assert hole.returncode == 0
    received = int(re.search(r"received_logs_total=(\d+)", hole_out).group(1))  # type: ignore[union-attr]
    assert received == sent  # TLS shut down cleanly: the tail was not lost


@pytest.mark.slow
def test_user_error_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*_verb(), "--udp", "--format", "proto"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
