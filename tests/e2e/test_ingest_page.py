"""The built-in page at ``/`` in headless Chromium: it renders and its live figures move."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import encode, header, make_entries, send_tcp

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


def _sender(proc: Any, stop: threading.Event) -> None:
    async def loop() -> None:
        k = 0
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            await send_tcp(proc, header("json") + encode("json", make_entries(200, f"page-{k}")))
            k += 1
            await asyncio.sleep(0.1)

    asyncio.run(loop())


def test_page_renders_live_figures(tmp_path: Path, start_ingest: Any) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium", pytrace=False)
    proc = start_ingest(tmp_path / "data", workers=1)
    stop = threading.Event()
    sender = threading.Thread(target=_sender, args=(proc, stop), daemon=True)
    sender.start()
    shot = tmp_path / "ingestor-page.png"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 1000})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(proc.url + "/", wait_until="load")
                assert page.title() == "workbench ingestor"
                page.wait_for_function(
                    "document.getElementById('status').textContent.startsWith('up ')", timeout=15_000
                )
                page.wait_for_function(
                    "document.getElementById('stored').textContent !== '0'", timeout=15_000
                )
                first = page.text_content("#stored")
                page.wait_for_function(
                    f"document.getElementById('stored').textContent !== {first!r}", timeout=15_000
                )
                second = page.text_content("#stored")
                assert first != second
                assert int(second.replace(",", "")) > int(first.replace(",", ""))
                assert "schemas: bundled" in (page.text_content("#status") or "")
                assert "format json" in (page.text_content("#breakdown") or "")
                assert '"workers": 1' in (page.text_content("#config") or "")
                page.screenshot(path=str(shot), full_page=True)
                assert not errors, errors
            finally:
                browser.close()
    finally:
        stop.set()
        sender.join(30)
    assert shot.stat().st_size > 10_000
    print(f"screenshot of the ingestor page: {shot}")
    assert proc.terminate() == 0
