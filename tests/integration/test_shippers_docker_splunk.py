"""Docker's own splunk logging driver into the ingestor's HEC port: a container's stdout lines,
sent by dockerd as HEC events over TLS with a token, each stored once.

Needs a Docker engine (``tests/docker_engine.py`` starts ``dockerd`` as root when none runs) and
Debian's busybox-static for the container; on a machine where no engine can start the test
says why and skips.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from tests.integration.ingest_helpers import (
    assert_exactly_once,
    config,
    read_stored,
    run,
    wait_counts,
    wait_until,
)
from workbench.ingestor.service import Ingestor

pytestmark = pytest.mark.slow


def _run_container(busybox: str, port: int, ca: str, token: str, fmt: str, n: int, gzip: bool) -> subprocess.CompletedProcess[str]:  # fmt: skip
    script = f'for i in $(seq 0 {n - 1}); do echo "{{\\"seq\\": $i, \\"client_id\\": \\"{fmt}\\", \\"msg\\": \\"paid $i\\", \\"level\\": \\"warn\\"}}"; done'
    cmd = [
        "docker", "run", "--rm", "--log-driver", "splunk",
        "--log-opt", f"splunk-url=https://127.0.0.1:{port}", "--log-opt", f"splunk-token={token}",
        "--log-opt", f"splunk-capath={ca}", "--log-opt", "splunk-caname=localhost",
        "--log-opt", f"splunk-format={fmt}", "--log-opt", "tag=checkout",
        "--log-opt", f"splunk-gzip={'true' if gzip else 'false'}",
        busybox, "sh", "-c", script,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize(("fmt", "gzip"), [("json", True), ("inline", False)])
def test_the_splunk_driver_delivers_every_line_once(
    tmp_path: Path, busybox: str, fmt: str, gzip: bool
) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, hec_port=0, auth_token="d0cker")) as ing:
            port = ing.standard_ports["hec_port"]
            done = await asyncio.to_thread(
                _run_container, busybox, port, str(ing.cert_path), "d0cker", fmt, 800, gzip
            )
            assert done.returncode == 0, done.stderr[-2000:]
            await wait_counts(ing, logs=800, timeout=60)
        stored = read_stored(tmp_path)
        assert {r["format"] for r in stored} == {"hec"} and {r["transport"] for r in stored} == {"tls"}
        if fmt == "json":  # the parsed line's keys are the event's: seq, client_id, level, msg
            assert_exactly_once(stored, {"json": 800})
            rec = next(r for r in stored if r["seq"] == 5)
            assert (rec["message"], rec["level"]) == ("paid 5", "WARN")
            assert rec["attributes"]["tag"] == "checkout" and rec["attributes"]["source"] == "stdout"
        else:  # inline: the line is the message, as the container wrote it
            messages = sorted(r["message"] for r in stored)
            assert len(messages) == 800 and len(set(messages)) == 800
            assert '"msg": "paid 7"' in next(m for m in messages if '"seq": 7,' in m)

    run(main(), timeout=240)


def test_a_wrong_token_is_refused_with_hec_code_4_and_nothing_stored(tmp_path: Path, busybox: str) -> None:
    """The driver's URL check (OPTIONS) passes, as with Splunk; every post is then answered 403
    (HEC code 4, invalid token), counted, and nothing is stored."""

    async def main() -> None:
        async with Ingestor(config(tmp_path, hec_port=0, auth_token="right")) as ing:
            port = ing.standard_ports["hec_port"]
            done = await asyncio.to_thread(
                _run_container, busybox, port, str(ing.cert_path), "wrong", "inline", 5, False
            )
            assert done.returncode == 0, done.stderr[-2000:]

            def refused() -> float:
                return sum(v for labels, v in _requests(ing) if labels == ("hec", "403"))

            await wait_until(lambda: refused() >= 1, 60, what="a 403 answer to the driver")
            assert ing.snapshot()["totals"]["logs"] == 0

    run(main(), timeout=120)


def _requests(ing: Ingestor) -> list[tuple[tuple[str, ...], float]]:
    ing.refresh()
    return list(ing.aggregate.counters()["requests"].items())
