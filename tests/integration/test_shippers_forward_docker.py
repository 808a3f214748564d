"""Docker's own fluentd logging driver into the ingestor's Forward port: a container's numbered
stdout and stderr lines, sent by dockerd (fluent-logger-golang), each stored once with the
container's name and the stream mapped.

Needs a Docker engine (``tests/docker_engine.py`` starts ``dockerd`` as root when none runs);
where none can start the test says why and skips.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.ingest_helpers import config, read_stored, run, wait_counts
from workbench.ingestor.service import Ingestor

pytestmark = pytest.mark.slow
LINES = 600


def numbered_lines_script(n: int, pad: int = 0) -> str:
    """Lines ``line <i> <pad x's>``, every fifth on stderr (the padding made in the shell: the
    command itself stays short, as drivers send it along)."""
    return (
        f"p=$(printf '%{pad}s' '' | tr ' ' x); i=0; while [ $i -lt {n} ]; do if [ $((i % 5)) -eq 0 ]; "
        f'then echo "line $i $p" >&2; else echo "line $i $p"; fi; i=$((i + 1)); done'
    )


@pytest.mark.parametrize("sub_second", [True, False])
def test_the_fluentd_driver_delivers_every_line_once(tmp_path: Path, busybox: str, sub_second: bool) -> None:
    name = f"fwd-{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        async with Ingestor(config(tmp_path, tls=False, forward_port=0)) as ing:
            port = ing.standard_ports["forward_port"]
            cmd = ["docker", "run", "--rm", "--name", name, "--log-driver", "fluentd",
                   "--log-opt", f"fluentd-address=tcp://127.0.0.1:{port}", "--log-opt", "tag=docker.{{.Name}}",
                   "--log-opt", f"fluentd-sub-second-precision={'true' if sub_second else 'false'}",
                   busybox, "sh", "-c", numbered_lines_script(LINES)]  # fmt: skip
            done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stderr[-2000:]
            await wait_counts(ing, logs=LINES, timeout=60)
        stored = read_stored(tmp_path)
        counts = Counter(r["message"].strip() for r in stored)
        assert counts == Counter(f"line {i}" for i in range(LINES))
        for rec in stored:
            i = int(rec["message"].split()[1])
            attrs = rec["attributes"]
            assert attrs["source"] == ("stderr" if i % 5 == 0 else "stdout")
            assert attrs["container_name"] == f"/{name}" and len(attrs["container_id"]) == 64
            assert rec["service"] == name and attrs["tag"] == f"docker.{name}"
            assert rec["format"] == "forward"
        if sub_second:
            assert any(not r["timestamp"].endswith(":00Z") and "." in r["timestamp"] for r in stored)

    run(main(), timeout=240)
