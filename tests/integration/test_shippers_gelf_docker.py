"""Docker's own gelf logging driver into the ingestor's GELF port: UDP with each compression
(gzip, zlib, none; long lines force chunking) and TCP, every numbered line stored once with the
container's name mapped and stderr as ERROR (the driver's level 3).

Needs a Docker engine (``tests/docker_engine.py``); where none can start the test skips.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.ingest_helpers import config, read_stored, run, totals, wait_counts
from tests.integration.test_shippers_forward_docker import numbered_lines_script
from workbench.ingestor.service import Ingestor

pytestmark = pytest.mark.slow
LINES = 400


@pytest.mark.parametrize(("transport", "compression", "pad"),
                         [("udp", "gzip", 0), ("udp", "zlib", 6000), ("udp", "none", 6000), ("tcp", "none", 0)])  # fmt: skip
def test_the_gelf_driver_delivers_every_line_once(tmp_path: Path, busybox: str, transport: str, compression: str,
                                                  pad: int) -> None:  # fmt: skip
    name = f"gelf-{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        async with Ingestor(config(tmp_path, tls=False, gelf_port=0)) as ing:
            port = ing.standard_ports["gelf_port"]
            opts = ["--log-opt", f"gelf-address={transport}://127.0.0.1:{port}", "--log-opt", "tag=shop"]
            if transport == "udp":
                opts += ["--log-opt", f"gelf-compression-type={compression}"]
            # padding of 6,000 repeated characters: over one datagram uncompressed (chunked);
            # lines are paced so that the kernel's receive buffer does not overflow on a small box
            script = numbered_lines_script(LINES, pad).replace("i=$((i + 1));", "i=$((i + 1)); usleep 500;")
            cmd = [
                "docker",
                "run",
                "--rm",
                "--name",
                name,
                "--log-driver",
                "gelf",
                *opts,
                busybox,
                "sh",
                "-c",
                script,
            ]
            done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stderr[-2000:]
            await wait_counts(ing, logs=LINES, timeout=60)
            assert totals(ing)["rejected"] == 0
        stored = read_stored(tmp_path)
        counts = Counter(" ".join(r["message"].split()[:2]) for r in stored)
        assert counts == Counter(f"line {i}" for i in range(LINES))
        for rec in stored:
            i = int(rec["message"].split()[1])
            assert rec["level"] == ("ERROR" if i % 5 == 0 else "INFO")
            assert rec["service"] == name and rec["attributes"]["container_name"] == name
            assert rec["attributes"]["tag"] == "shop" and rec["format"] == "gelf"
            assert len(rec["message"]) >= pad

    run(main(), timeout=240)
