"""``/healthz`` on the services that gained it for the Docker healthchecks (issue 21).

The ingestor and the collector serve it through ``httpserve.serve_status`` (their own tests cover
it); the registry and the dashboard answer it here. The registry's probe reads the store and
needs no credentials under ``--auth``, while every API route still does.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from workbench.registry.background import registry_in_thread


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_registry_healthz(tmp_path: Path) -> None:
    with registry_in_thread(tmp_path / "reg") as reg:
        assert get(f"{reg.url}/healthz") == (200, {"status": "ok"})
        assert get(f"{reg.url}/subjects")[0] == 200  # the API beside it is unchanged


def test_registry_healthz_needs_no_credentials_but_the_api_still_does(tmp_path: Path) -> None:
    with registry_in_thread(tmp_path / "reg", seed=False, auth="alice:s3cret") as reg:
        assert get(f"{reg.url}/healthz") == (200, {"status": "ok"})
        status, body = get(f"{reg.url}/subjects")
        assert (status, body["error_code"]) == (401, 401)
        # a path that normalises elsewhere is not the probe
        assert get(f"{reg.url}/healthz/../subjects")[0] == 401
        good = base64.b64encode(b"alice:s3cret").decode()
        assert get(f"{reg.url}/subjects", {"Authorization": f"Basic {good}"}) == (200, [])


@pytest.mark.slow
def test_dashboard_healthz_and_a_clean_sigterm() -> None:
    cmd = [sys.executable, "-m", "workbench", "dashboard", "--live", "http://127.0.0.1:9", "--port", "0"]
    lines: list[str] = []
    urls: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip())
                if m := re.search(r"\[READY\] dashboard (http://\S+?)/?$", line.strip()):
                    urls.append(m[1])

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 90
            while not urls:
                assert proc.poll() is None and time.monotonic() < deadline, "\n".join(lines[-40:])
                time.sleep(0.1)
            assert get(f"{urls[0]}/healthz") == (200, {"/healthz": True})
            proc.terminate()  # SIGTERM, as docker stop sends it: a clean stop, exit 0
            assert proc.wait(20) == 0, "\n".join(lines[-40:])
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            reader.join(10)
