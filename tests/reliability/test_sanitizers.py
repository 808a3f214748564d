"""The compiled transcoders under AddressSanitizer and UBSan (issue 16): findings, a systematic
pass and libFuzzer, each in a child Python that preloads the sanitizer runtime (``tests/fuzz/``).

* the sanitizer build is made once per session (``python -m workbench.speedups.build --sanitize``);
* every reproducer of a past finding runs clean, with tight buffers (each reservation on an
  allocation boundary) and with the production growth;
* the systematic pass (every seed cut at every length, lying lengths and counts, output sizes
  across buffer boundaries) runs in both modes at once with no report and no finding (the batch seed's cuts at every
  third length: its entries are seeds of their own);
* libFuzzer runs each target for ``WORKBENCH_FUZZ_SECONDS`` (10 in CI, 60 with ``make fuzz``; 600 with ``-m fuzz``),
  two at a time, and must end without a crash or a report.

``docs/reliability.md`` records the method and the executions per target.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ_DIR))

import sanitizer  # noqa: E402
import seeds  # noqa: E402

REPO = FUZZ_DIR.parents[1]
TARGETS = ("json", "raw", "syslog_lines", "syslog_octet", "proto", "avro", "proto_count", "otlp", "hec",
           "forward", "loki_json", "loki_push", "es_bulk", "otlp_json", "gelf")  # fmt: skip


@pytest.fixture(scope="session")
def sanitizer_build() -> None:
    if shutil.which("clang") is None:
        pytest.fail("clang is missing (make test installs it: .ci/system-deps.sh)", pytrace=False)
    done = subprocess.run([sys.executable, "-m", "workbench.speedups.build", "--sanitize"], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]


def assert_clean(done: subprocess.CompletedProcess[str]) -> None:
    found = sanitizer.reports(done.stderr) + sanitizer.reports(done.stdout)
    assert done.returncode == 0 and not found, (
        f"exit {done.returncode}; reports: {found}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-6000:]}"
    )


def test_the_seed_corpora_are_what_seeds_py_writes(tmp_path: Path) -> None:
    seeds.write(tmp_path)
    for target in TARGETS:
        want = {p.name: p.read_bytes() for p in (tmp_path / target).iterdir()}
        have = {p.name: p.read_bytes() for p in (FUZZ_DIR / "corpus" / target).iterdir()}
        assert have == want, f"corpus/{target} is stale: run python tests/fuzz/seeds.py"


@pytest.mark.parametrize("tight", [True, False], ids=["tight-buffers", "growing-buffers"])
def test_every_finding_replays_clean_under_the_sanitizers(sanitizer_build: None, tight: bool) -> None:
    done = sanitizer.run("replay.py", "--findings", tight=tight, timeout=120)
    assert_clean(done)
    assert f"replayed {sum(map(len, seeds.FINDINGS.values()))} inputs, no finding" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_systematic_pass_is_clean_under_the_sanitizers(sanitizer_build: None) -> None:
    """Both buffer modes at once (a core each): the pass is the same, the allocations differ."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(pool.map(lambda tight: (tight, sanitizer.run("systematic.py", tight=tight, timeout=900)),
                             (True, False)))  # fmt: skip
    for tight, done in runs.items():
        mode = "tight buffers" if tight else "growing buffers"
        assert_clean(done)
        assert "no finding" in done.stdout, mode
        for target in TARGETS:
            m = re.search(rf"^{target}: (\d+) inputs, (\d+) accepted", done.stdout, re.M)
            assert m, f"{mode}: {target} did not run:\n{done.stdout}"
            inputs, accepted = int(m[1]), int(m[2])
            assert inputs > 10000 and accepted > 100, (
                f"{mode}: {target}: {inputs} inputs, {accepted} accepted"
            )


def fuzz(target: str, seconds: int, work: Path) -> tuple[str, subprocess.CompletedProcess[str]]:
    work.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(FUZZ_DIR / "fuzz.py"), target, f"-max_total_time={seconds}", "-print_final_stats=1",
         "-rss_limit_mb=4096", f"-artifact_prefix={work}/"],
        env=sanitizer.env(tight=True, WB_FUZZ_WORK=str(work / "corpus")),
        capture_output=True, text=True, timeout=seconds + 300, check=False, cwd=work,
    )  # fmt: skip
    return target, done


def run_libfuzzer(tmp_path: Path, seconds: int) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda t: fuzz(t, seconds, tmp_path / t), TARGETS))
    failed = []
    for target, done in results:
        runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", done.stderr)
        print(f"{target}: {runs[1] if runs else '?'} executions in {seconds} s")
        found = sanitizer.reports(done.stderr)
        if done.returncode != 0 or found or not runs or int(runs[1]) < 1000:
            crashes = sorted(p.name for p in (tmp_path / target).glob("crash-*"))
            failed.append(f"{target}: exit {done.returncode}, {found[:3]}, crash files {crashes}\n"
                          f"{done.stderr[-4000:]}")  # fmt: skip
    assert not failed, "\n\n".join(failed)


CI_SECONDS = int(os.environ.get("WORKBENCH_FUZZ_SECONDS", "10"))
LONG_SECONDS = int(os.environ.get("WORKBENCH_FUZZ_SECONDS", "600"))
ROUNDS = (len(TARGETS) + 1) // 2  # two targets at a time


@pytest.mark.slow
@pytest.mark.timeout(ROUNDS * (CI_SECONDS + 120) + 300)
def test_libfuzzer_finds_nothing_in_any_target(sanitizer_build: None, tmp_path: Path) -> None:
    run_libfuzzer(tmp_path, CI_SECONDS)


@pytest.mark.fuzz
@pytest.mark.timeout(ROUNDS * (LONG_SECONDS + 120) + 300)
def test_libfuzzer_long_run(sanitizer_build: None, tmp_path: Path) -> None:
    run_libfuzzer(tmp_path, LONG_SECONDS)
