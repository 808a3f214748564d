"""Loki push into a real ingestor from winston-loki (npm), the client Node.js services use,
in both of its encodings: snappy-compressed protobuf (its default) and JSON, over TLS."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.ingest_helpers import HOST, assert_exactly_once, config, read_stored, run, wait_counts
from workbench.ingestor.service import Ingestor

NODE_CLIENTS = Path(__file__).resolve().parents[1] / "clients" / "node"


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_winston_loki_pushes_are_stored_once_with_labels_mapped(tmp_path: Path, encoding: str) -> None:
    assert (NODE_CLIENTS / "node_modules").is_dir(), "run `make clients` (npm ci in tests/clients/node)"

    async def main() -> None:
        async with Ingestor(config(tmp_path, loki_port=0, auth_token="lk")) as ing:
            url = f"https://{HOST}:{ing.standard_ports['loki_port']}"
            env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(ing.cert_path)}
            cmd = ["node", str(NODE_CLIENTS / "loki_send.mjs"), url, "450", encoding, "lk"]
            if encoding == "json":
                cmd.append("--json")
            done = await asyncio.to_thread(
                subprocess.run, cmd, capture_output=True, text=True, timeout=90, env=env
            )
            assert done.returncode == 0, done.stderr[-2000:]
            assert json.loads(done.stdout.strip().splitlines()[-1]) == {"sent": 450, "failed": 0}
            await wait_counts(ing, logs=450)
        stored = read_stored(tmp_path)
        assert_exactly_once(stored, {encoding: 450})
        by_seq = {r["seq"]: r for r in stored}
        assert by_seq[3]["level"] == "ERROR" and by_seq[4]["level"] == "INFO"
        rec = by_seq[4]
        assert (rec["service"], rec["host"], rec["format"], rec["transport"]) == (
            "checkout-js",
            "pod-7",
            "loki",
            "tls",
        )
        assert rec["message"].startswith("cart 4 checked out")

    run(main())


def test_a_push_without_the_token_is_refused_and_nothing_stored(tmp_path: Path) -> None:
    async def main() -> None:
        async with Ingestor(config(tmp_path, tls=False, auth_token="lk")) as ing:
            cmd = ["node", str(NODE_CLIENTS / "loki_send.mjs"), f"http://{HOST}:{ing.tcp_port}", "20", "nope"]
            done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=90)
            assert done.returncode == 1 and "push failed" in done.stderr
            await asyncio.sleep(0.3)
            assert ing.snapshot()["totals"]["logs"] == 0

    run(main())
