"""``collect`` as a real process: SIGKILL in the middle and restart (exactly once), SIGTERM, errors.

The lines are JSON entries, raw lines and three-line stack traces, each carrying a unique ``seq``;
a writer thread appends them while the collector runs; the collector is killed with SIGKILL
twice while it reads and restarted; at the end every seq must be in the output exactly once
(the output is cut back to the checkpoint's mark on restart, so there are no duplicates either).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from workbench import cli as workbench_cli
from workbench import model

REPO = Path(__file__).resolve().parents[2]
TOTAL = 30_000


def collect_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench", "collect", *args]


def record(i: int) -> bytes:
    if i % 100 == 7:
        return (f"2025-06-30T21:59:23Z ERROR app: failure seq={i}\n"
                f"\tat a.b.C.d(C.java:{i})\nCaused by: java.io.IOException: no\n\t... 3 more\n").encode()  # fmt: skip
    if i % 3 == 0:
        return f"2025-06-30T21:59:23Z INFO app: plain line seq={i}\n".encode()
    e = model.LogEntry(
        timestamp=model.EPOCH, level="INFO", service="api", message=f"json {i}", host="h", seq=i
    )
    return msgspec.json.encode(e) + b"\n"


def writer(path: Path, stop: threading.Event) -> None:
    i = 0
    with path.open("ab") as fh:
        while i < TOTAL and not stop.is_set():
            fh.write(b"".join(record(j) for j in range(i, min(i + 300, TOTAL))))
            fh.flush()
            i += 300
            time.sleep(0.01)


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for _ in fh)
    except FileNotFoundError:
        return 0


def wait_for(pred, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


def start(tmp: Path, out: Path, n: int) -> subprocess.Popen[bytes]:
    cmd = collect_cmd("--input", str(tmp / "logs" / "*.log"), "--output", str(out), "--state-dir",
                      str(tmp / "state"), "--flush-interval", "0.1", "--poll-interval", "0.05",
                      "--stats-interval", "1", "--multiline-timeout", "0.3")  # fmt: skip
    with (tmp / f"stdout{n}.txt").open("wb") as so, (tmp / f"stderr{n}.txt").open("wb") as se:
        return subprocess.Popen(
            cmd, stdout=so, stderr=se, cwd=tmp, env={**os.environ, "PYTHONPATH": str(REPO)}
        )


@pytest.mark.slow
def test_sigkill_in_the_middle_then_restart_delivers_every_line_exactly_once(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    src = tmp_path / "logs" / "app.log"
    out = tmp_path / "out" / "collected.jsonl"
    stop = threading.Event()
    thread = threading.Thread(target=writer, args=(src, stop), daemon=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        thread.start()
        for n, at_least in enumerate((3_000, 12_000)):
            proc = start(tmp_path, out, n)
            procs.append(proc)
            wait_for(lambda a=at_least: count_lines(out) >= a, 30, f"{at_least} lines in the output")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        proc = start(tmp_path, out, 2)
        procs.append(proc)
        thread.join(30)
        wait_for(lambda: count_lines(out) >= TOTAL, 60, f"all {TOTAL} records in the output")
        time.sleep(0.5)  # duplicates, if any, would show now
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, (tmp_path / "stderr2.txt").read_text()[-2000:]
    finally:
        stop.set()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    seqs = Counter(json.loads(line)["seq"] for line in out.read_bytes().splitlines())
    missing = sorted(set(range(TOTAL)) - set(seqs))
    dups = sum(v - 1 for v in seqs.values() if v > 1)
    assert not missing and not dups, f"{len(missing)} missing (first {missing[:10]}), {dups} duplicates"
    traces = [r for r in map(json.loads, out.read_bytes().splitlines()) if r["message"].startswith("failure")]
    assert len(traces) == TOTAL // 100 and all(t["message"].count("\n") == 3 for t in traces)
    assert "[READY]" in (tmp_path / "stdout2.txt").read_text()
    assert "[COLLECTOR] lines/s" in (tmp_path / "stdout2.txt").read_text()


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    bad = subprocess.run(collect_cmd("--input", "x", "--filter", "("), capture_output=True, cwd=tmp_path,
                         timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.decode().startswith("error: collect:") and "Traceback" not in bad.stderr.decode()
    tags = tmp_path / "tags.yaml"
    tags.write_text("- {tag: x}\n")
    bad = subprocess.run(collect_cmd("--input", "x", "--tags", str(tags)), capture_output=True, cwd=tmp_path,
                         timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert bad.returncode == 2 and "tags file" in bad.stderr.decode()


def test_verb_registers_with_the_workbench_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        workbench_cli.main(["collect", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--input", "--output-type", "--filter", "--exclude", "--tags", "--state-dir", "--http-port",
                 "--forward", "--ca", "--insecure", "--no-tls", "--multiline-start"):  # fmt: skip
        assert flag in text
