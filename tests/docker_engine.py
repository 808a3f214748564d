"""A Docker engine for the tests that drive Docker itself (its logging drivers, compose).

``engine()`` uses the running ``dockerd`` or starts one (as root; stopped again when the last
user is done), and says why when neither can be: no ``docker`` CLI, not root, or a daemon that
does not come up within its bound. ``busybox_image()`` imports Debian's static busybox as a
one-file image (no image registry is reachable here), once per engine.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

BUSYBOX = "workbench-test-busybox:1"


def unavailable(reason: str) -> None:
    """Skip a Docker test with the reason no engine is there; under ``WORKBENCH_REQUIRE_DOCKER=1``
    (CI, which installs and starts one) fail instead, so a broken engine never hides as a skip."""
    import pytest

    if os.environ.get("WORKBENCH_REQUIRE_DOCKER") == "1":
        pytest.fail(f"WORKBENCH_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _docker_ok() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def engine(timeout: float = 60.0) -> Iterator[str | None]:
    """Yields None when an engine answers, else the reason there is none (the test fails or skips with it)."""
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        yield "no docker CLI/dockerd (apt-get install docker.io)"
        return
    if _docker_ok():
        yield None
        return
    if os.geteuid() != 0:
        yield "dockerd is not running and starting it needs root"
        return
    log = open("/tmp/workbench-test-dockerd.log", "ab")  # noqa: SIM115 - closed below
    daemon = subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not _docker_ok():
            if daemon.poll() is not None or time.monotonic() > deadline:
                yield f"dockerd did not come up within {timeout:.0f}s (see /tmp/workbench-test-dockerd.log)"
                return
            time.sleep(0.5)
        yield None
    finally:
        if daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        log.close()


def busybox_image() -> str:
    """The tag of a busybox image, imported from the host's busybox-static when missing."""
    if subprocess.run(["docker", "image", "inspect", BUSYBOX], capture_output=True).returncode == 0:
        return BUSYBOX
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise AssertionError("no /bin/busybox (apt-get install busybox-static)")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(busybox, "bin/busybox")
        for tool in ("sh", "seq", "echo", "sleep", "cat"):
            link = tarfile.TarInfo(f"bin/{tool}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    subprocess.run(["docker", "import", "-c", "CMD [\"/bin/sh\"]", "-", BUSYBOX], input=data.getvalue(),
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    return BUSYBOX
