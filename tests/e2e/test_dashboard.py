"""The dashboards served by ``python -m workbench dashboard`` and the static report, in real
headless Chromium: charts render, live numbers move, nothing is fetched from the network.

Screenshots are saved under pytest's tmp dir; their paths are printed (``-s`` shows them).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_analysis_fixtures import tiny_run

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
READY = re.compile(r"\[READY\] dashboard (http://\S+)")


def _dashboard_cmd() -> list[str]:
    return [sys.executable, "-m", "workbench", "dashboard"]


class Dashboard:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*_dashboard_cmd(), *args, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)  # fmt: skip
        self.lines: list[str] = []
        self.urls: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + 90
        while not self.urls:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("dashboard did not start:\n" + "\n".join(self.lines[-40:]))
            time.sleep(0.1)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if m := READY.search(line):
                self.urls.append(m[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser: Any, url: str) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, requests, errors


def _wait_count(page: Any, selector: str, n: int, timeout: float = 60.0) -> int:
    """Wait for ``n`` elements (Playwright's CSS engine sees into Bokeh's shadow roots)."""
    deadline = time.monotonic() + timeout
    while (count := page.locator(selector).count()) < n:
        assert time.monotonic() < deadline, f"{count} {selector} elements, wanted {n}"
        time.sleep(0.25)
    return count


def _offsite(requests: list[str], url: str) -> list[str]:
    base = re.match(r"https?://[^/]+", url)
    assert base
    return [r for r in requests if not r.startswith((base[0], "blob:", "data:", "ws://127.0.0.1"))]


def test_compare_dashboard_renders_charts_table_and_logs(browser: Any, tmp_path: Path,
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:  # fmt: skip
    run = tiny_run(tmp_path_factory)
    dash = Dashboard(str(run.parent))
    try:
        url = dash.urls[0]
        page, requests, errors = _open(browser, url)
        _wait_count(page, ".bk-Canvas canvas, canvas", 5)
        page.get_by_text("Summary", exact=True).click()
        page.wait_for_selector(".tabulator-row", timeout=30_000)
        assert page.locator(".tabulator-row").count() >= 2
        assert page.get_by_text("format=proto").count() >= 1
        page.get_by_text("Logs", exact=True).click()
        page.wait_for_selector("text=matching entries", timeout=30_000)
        time.sleep(1.0)
        shot = tmp_path / "compare-dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")
        assert errors == []
        assert _offsite(requests, url) == []
    finally:
        dash.stop()


def _metric(page: Any, name: str) -> float:
    text = page.locator(f"[data-metric='{name}'] .wb-value").first.inner_text(timeout=10_000)
    return float(text.replace(",", "")) if text.strip() not in ("", "-") else -1.0


def test_live_dashboard_streams_a_running_ingestor(browser: Any, tmp_path: Path, start_ingest: Any) -> None:
    ing = start_ingest(tmp_path / "data", workers=0)
    gen = subprocess.Popen([sys.executable, "-m", "workbench", "generate", "--tcp-port", str(ing.tcp_port),
                            "--ca", str(ing.cert_path), "--rate", "1500", "--duration", "60s", "--format", "json",
                            "--clients", "2", "--stats-interval", "0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    dash = Dashboard("--live", ing.url, "--interval-ms", "500")
    try:
        url = dash.urls[0]
        page, requests, errors = _open(browser, url)
        _wait_count(page, "canvas", 7)
        deadline = time.monotonic() + 30
        first = _metric(page, "logs_total")
        while first <= 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            first = _metric(page, "logs_total")
        time.sleep(2.5)
        second = _metric(page, "logs_total")
        assert second > first > 0, (first, second)
        assert _metric(page, "logs_per_sec") > 0
        page.wait_for_selector("text=Latest entries per format")
        page.wait_for_selector(".wb-samples pre", timeout=15_000)
        shot = tmp_path / "live-dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot} (stored {first:,.0f} then {second:,.0f})")
        assert errors == []
        assert _offsite(requests, url) == []
    finally:
        dash.stop()
        gen.terminate()
        gen.wait(30)


def test_static_report_opens_without_network(browser: Any, tmp_path: Path,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:  # fmt: skip
    from workbench.cli import main

    run = tiny_run(tmp_path_factory)
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit):
        main(["report", str(run), "--out", str(tmp_path / "export"), "--html", str(out)])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requested: list[str] = []

    def route(r: Any) -> None:
        requested.append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    _wait_count(page, "canvas", 5)
    time.sleep(0.5)
    shot = tmp_path / "static-report.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    assert [u for u in requested if not u.startswith("file://")] == []
    assert errors == []
