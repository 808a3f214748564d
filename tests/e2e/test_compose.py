"""The one-command deployment (issue 21): the real image, built offline here, as a compose stack.

``make image-base image`` builds the local Debian base images and the services' image from the
host's wheelhouse (no image registry, no network in the build); ``docker compose up -d`` starts
registry, ingestor, both generators, the file-writing app, the collector and the dashboard on
published ports chosen free on 127.0.0.1. From the host the test then checks what an operator
would: every service healthy; ``/metrics``, the registry API and the dashboard (in Chromium, over
its websocket) answering; a TLS line verified against the first-start certificate, a UDP
datagram, and Docker's syslog logging driver sending from another container, all stored. Then it
stops the senders, and the ingestor's metrics and the files in its volume must hold every log of
both generators and of the collected file: 0 lost, 0 duplicated. ``docker compose down -v``
must leave no container, volume or network of the project.

A Docker engine is started (``dockerd``, as root, by ``tests/docker_engine.py``) when none
answers and stopped after. Where none can start the test is skipped with the reason; under
``WORKBENCH_REQUIRE_DOCKER=1`` (CI) that is a failure instead, so a broken engine never hides
as a skip.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.docker_engine import engine as docker_engine
from tests.docker_engine import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "workbench:latest"
SENDERS = ("gen-json", "gen-proto", "app-logs")
SERVICES = ("registry", "ingestor", "collector", "dashboard", *SENDERS)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
PHASES: dict[str, float] = {}


def run(cmd: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def wait_until(what: str, check: Any, timeout: float, interval: float = 0.5) -> Any:
    """``check()``'s first truthy value; fails saying ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Docker:
    """The ``docker`` CLI against the engine that answers."""

    def __init__(self) -> None:
        docker = shutil.which("docker")
        assert docker is not None
        self.docker = docker

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        done = run([self.docker, *args], timeout)
        if check and done.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
            )
        return done.stdout


@pytest.fixture(scope="module")
def engine() -> Iterator[Docker]:
    """The running engine, or a ``dockerd`` started for this module and stopped after it."""
    with docker_engine(timeout=90) as why:
        if why is not None:
            unavailable(why)
        yield Docker()


def compose_command(docker: str) -> list[str]:
    """``docker compose`` (v2) where the plugin is there, else Debian's ``docker-compose`` (v1)."""
    chosen = os.environ.get("WORKBENCH_COMPOSE")
    if chosen:
        return chosen.split()
    if run([docker, "compose", "version"], 30).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        unavailable(
            "neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)"
        )
    return [str(legacy)]


def free_ports(n: int) -> list[int]:
    """``n`` ports free on 127.0.0.1 for TCP and UDP alike (the ingestor publishes both)."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


class Stack:
    """One compose project of ``compose.yaml`` under a name of its own, on its own ports."""

    def __init__(self, engine: Docker) -> None:
        self.engine = engine
        self.project = f"wbe2e{uuid.uuid4().hex[:8]}"
        names = ("REGISTRY_PORT", "INGEST_TCP_PORT", "INGEST_UDP_PORT", "INGEST_HTTP_PORT",
                 "COLLECTOR_HTTP_PORT", "DASHBOARD_PORT", "OTLP_GRPC_PORT", "OTLP_HTTP_PORT", "HEC_PORT",
                 "ELASTICSEARCH_PORT", "LOKI_PORT", "FORWARD_PORT", "GELF_PORT")  # fmt: skip
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.env = {**os.environ, **{k: str(v) for k, v in self.ports.items()},
                    "WORKBENCH_BIND": "127.0.0.1", "WORKBENCH_IMAGE": IMAGE}  # fmt: skip
        self.compose_cmd = [
            *compose_command(engine.docker),
            "-p",
            self.project,
            "-f",
            str(REPO / "compose.yaml"),
        ]

    def compose(self, *args: str, timeout: float = 300) -> str:
        done = run([*self.compose_cmd, *args], timeout, env=self.env, cwd=REPO)
        if done.returncode != 0:
            raise AssertionError(
                f"compose {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
            )
        return done.stdout

    def url(self, port_name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[port_name]}{path}"

    def containers(self, all_states: bool = True) -> dict[str, str]:
        """service -> container id, from compose's labels (the same in v1 and v2)."""
        out = self.engine("ps", *(["-a"] if all_states else []), "--filter",
                          f"label=com.docker.compose.project={self.project}",
                          "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}')  # fmt: skip
        return {svc: cid for cid, svc in (line.split() for line in out.splitlines() if line.strip())}

    def health(self) -> dict[str, str]:
        """service -> ``status/health`` (``running/healthy``...)."""
        ids = self.containers()
        if not ids:
            return {}
        fmt = "{{.Id}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"
        rows = [line.split() for line in self.engine("inspect", "--format", fmt, *ids.values()).splitlines()]
        state = {full: f"{status}/{health}" for full, status, health in rows}
        return {svc: next(v for full, v in state.items() if full.startswith(cid)) for svc, cid in ids.items()}

    def wait_healthy(self, timeout: float) -> dict[str, str]:
        """Every service running and healthy; a service that exits or turns unhealthy fails at once."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            broken = [
                svc for svc, h in health.items() if not h.startswith("running") or h.endswith("unhealthy")
            ]
            if broken:
                logs = "\n".join(f"--- {svc} ({health[svc]}):\n{self.logs(svc)[-3000:]}" for svc in broken)
                raise AssertionError(f"services failed: {broken}\n{logs}")
            if set(health) == set(SERVICES) and all(h == "running/healthy" for h in health.values()):
                return health
            if time.monotonic() > deadline:
                raise AssertionError(f"not every service healthy after {timeout:.0f} s: {health}")
            time.sleep(1)

    def logs(self, service: str) -> str:
        cid = self.containers()[service]
        done = run([str(self.engine.docker), "logs", cid], 60)
        return done.stdout + done.stderr

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={self.project}"
        return {
            kind: self.engine(*cmd, "--filter", label).split()
            for kind, cmd in (
                ("containers", ("ps", "-aq")),
                ("volumes", ("volume", "ls", "-q")),
                ("networks", ("network", "ls", "-q")),
            )
        }


def get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def prometheus(text: str) -> dict[str, float]:
    """``name{labels}`` -> value of every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def ingest_metrics(stack: Stack) -> dict[str, float]:
    return prometheus(get(stack.url("INGEST_HTTP_PORT", "/metrics"))[1].decode())


def summary_event(logs: str, service: str) -> dict[str, Any]:
    """The JSON ``summary`` event a component prints when it stops."""
    for line in reversed(logs.splitlines()):
        if line.startswith("{") and '"event": "summary"' in line:
            return dict(json.loads(line))
    raise AssertionError(f"{service} printed no summary event:\n{logs[-3000:]}")


def read_stored(data_dir: Path) -> list[dict[str, Any]]:
    """Every stored entry of the ingestor's data dir; after a clean stop all is finished .zst."""
    import zstandard

    names = sorted(p.name for p in data_dir.iterdir() if p.is_file())
    assert names and all(re.fullmatch(r"log_\d+_\d{8}_\d{6}(_\d+)?\.jsonl\.zst", n) for n in names), names
    entries = []
    for name in names:
        raw = (data_dir / name).read_bytes()
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw), read_across_frames=True)
        text = reader.read().decode()
        assert text.endswith("\n"), f"{name} ends in a torn line"
        entries.extend(json.loads(line) for line in text.splitlines())
    return entries


def send_from_host(stack: Stack, cert: Path, marker: str) -> None:
    """What rsyslog or an app on the host does: one JSON line over TLS verified against the
    first-start certificate (its SAN has 127.0.0.1), one RFC 5424 datagram over UDP."""
    ctx = ssl.create_default_context(cafile=str(cert))
    line = json.dumps({"timestamp": "2026-01-01T00:00:00Z", "level": "INFO", "service": "host", "host": "h1",
                       "message": f"tls {marker}", "client_id": f"{marker}-tls", "seq": 0})  # fmt: skip
    address = ("127.0.0.1", stack.ports["INGEST_TCP_PORT"])
    with (
        socket.create_connection(address, timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(line.encode() + b"\n")
        with contextlib.suppress(OSError, ssl.SSLError):
            tls.unwrap()  # close_notify, then the receiver's: nothing is cut short by a reset
    datagram = f"<14>1 2026-01-01T00:00:00Z h1 host - - - udp {marker}".encode()

    def stored_udp() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(datagram, ("127.0.0.1", stack.ports["INGEST_UDP_PORT"]))
        return ingest_metrics(stack).get('ingest_logs_total{format="syslog",transport="udp"}', 0) >= 1

    wait_until("a UDP datagram from the host to be stored", stored_udp, 60, interval=2)


DRIVER_LINES = 50


def send_with_logging_driver(engine: Docker, stack: Stack, cert: Path, marker: str) -> None:
    """What an operator's other containers do: Docker's syslog logging driver (dockerd itself
    sends, RFC 5424 over TLS, verified against the ingestor's certificate) to the published port."""
    script = f'i=1; while [ $i -le {DRIVER_LINES} ]; do echo "driver {marker} $i"; i=$((i+1)); done'
    engine("run", "--rm", "--log-driver", "syslog",
           "--log-opt", f"syslog-address=tcp+tls://127.0.0.1:{stack.ports['INGEST_TCP_PORT']}",
           "--log-opt", f"syslog-tls-ca-cert={cert}", "--log-opt", "syslog-format=rfc5424micro",
           "--log-opt", f"tag={marker}", "--entrypoint", "/bin/sh", IMAGE, "-c", script, timeout=120)  # fmt: skip


def check_dashboard_in_chromium(stack: Stack, shot: Path) -> float:
    """The dashboard's page in Chromium, from its published port (another one than 5006: the
    websocket's origin must be allowed): the live view shows the ingestor's count rising."""
    from playwright.sync_api import sync_playwright

    url = stack.url("DASHBOARD_PORT", "/")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)

            def logs_total() -> float:
                loc = page.locator("[data-metric='logs_total'] .wb-value").first
                text = loc.inner_text(timeout=30_000).strip().replace(",", "")
                return float(text) if text not in ("", "-") else 0.0

            first = wait_until("the live dashboard to show stored logs", logs_total, 90)
            wait_until("the live dashboard's count to move", lambda: logs_total() > first, 30)
            page.screenshot(path=str(shot), full_page=True)
            assert errors == []
            return float(first)
        finally:
            browser.close()


def test_compose_stack_stores_every_log(engine: Docker, tmp_path: Path) -> None:
    t0 = time.monotonic()
    built = run(["make", "image-base", "image"], 1800, cwd=REPO)
    assert built.returncode == 0, (
        f"make image-base image failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    )
    PHASES["build"] = time.monotonic() - t0
    size = int(engine("image", "inspect", "--format", "{{.Size}}", IMAGE).strip())
    print(f"\nimage {IMAGE}: {size / 1e6:.0f} MB, built in {PHASES['build']:.0f} s")

    stack = Stack(engine)
    try:
        t1 = time.monotonic()
        stack.compose("up", "-d", timeout=600)
        health = stack.wait_healthy(300)
        PHASES["healthy"] = time.monotonic() - t1
        print(f"healthy after {PHASES['healthy']:.0f} s: {health}")

        # from the host, on the published ports
        metrics = ingest_metrics(stack)
        assert metrics["ingest_up"] == 1 and metrics["ingest_workers"] >= 1
        # the ingestor took its schemas from the registry service, over the compose network
        assert metrics['ingest_schema_source{source="registry"}'] == 1
        status, body = get(stack.url("REGISTRY_PORT", "/subjects"))
        assert status == 200 and {"logs-value", "logs-proto-value", "logs-json-value"} <= set(
            json.loads(body)
        )
        status, body = get(stack.url("REGISTRY_PORT", "/subjects/logs-value/versions/latest"))
        assert status == 200 and json.loads(body)["subject"] == "logs-value"
        status, body = get(stack.url("DASHBOARD_PORT", "/"))
        assert status == 200 and b"bokeh" in body.lower()
        assert get(stack.url("COLLECTOR_HTTP_PORT", "/healthz"))[0] == 200
        status, page = get(stack.url("INGEST_HTTP_PORT", "/"))
        assert status == 200 and b"<html" in page.lower()

        cert = tmp_path / "ingestor-cert.pem"
        engine("cp", f"{stack.containers()['ingestor']}:/data/tls/ingestor-cert.pem", str(cert))
        # the shippers' standard ports are published too, with the same TLS pair
        tls = ssl.create_default_context(cafile=str(cert))
        hec = f"https://127.0.0.1:{stack.ports['HEC_PORT']}/services/collector/health"
        with urllib.request.urlopen(hec, timeout=10, context=tls) as answer:
            assert answer.status == 200 and json.loads(answer.read())["code"] == 17
        es = f"https://127.0.0.1:{stack.ports['ELASTICSEARCH_PORT']}/"
        with urllib.request.urlopen(es, timeout=10, context=tls) as answer:
            assert answer.headers["X-Elastic-Product"] == "Elasticsearch"
        marker = f"host-{uuid.uuid4().hex[:6]}"
        send_from_host(stack, cert, marker)
        send_with_logging_driver(engine, stack, cert, marker)
        shot = tmp_path / "compose-dashboard.png"
        shown = check_dashboard_in_chromium(stack, shot)
        print(f"dashboard in Chromium showed {shown:,.0f} stored logs; screenshot {shot}")

        def collector_summary() -> dict[str, Any]:
            return dict(json.loads(get(stack.url("COLLECTOR_HTTP_PORT", "/metrics.json"))[1]))

        def collected_some() -> bool:
            return bool(collector_summary()["totals"]["entries"] >= 20)

        wait_until("the collector to forward the app's file", collected_some, 60)

        # stop the senders (SIGTERM through docker-init: each prints its summary), then account
        stack.compose("stop", *SENDERS, timeout=180)
        sent = {svc: summary_event(stack.logs(svc), svc) for svc in SENDERS}
        expected: dict[str, tuple[int, int]] = {}
        for svc, summary in sent.items():
            assert summary["totals"]["failed_logs_total"] == 0, (svc, summary["totals"])
            for client in summary["clients"]:
                if client["sent_logs"]:
                    expected[client["client_id"]] = (client["first_seq"], client["last_seq"])
        total = {svc: s["totals"]["sent_logs_total"] for svc, s in sent.items()}
        assert all(total[svc] > 0 for svc in SENDERS), total

        def collector_done() -> dict[str, Any] | None:
            m = collector_summary()
            fwd = m["forward"]
            done = fwd["entries_acked"] >= total["app-logs"] and fwd["unacked_frames"] == 0
            return m if done else None

        collector = wait_until("the collector to forward the whole file", collector_done, 60)
        assert collector["totals"]["entries"] == total["app-logs"], collector["totals"]
        assert collector["forward"]["frames_resent"] == 0  # so no duplicate is expected either
        want = {
            'ingest_logs_total{format="proto",transport="tls"}': total["gen-proto"],
            'ingest_logs_total{format="json",transport="tls"}': total["gen-json"] + total["app-logs"] + 1,
            'ingest_logs_total{format="syslog",transport="tls"}': DRIVER_LINES,
        }

        def stored_all() -> dict[str, float] | None:
            m = ingest_metrics(stack)
            return m if all(m.get(k, 0) >= v for k, v in want.items()) else None

        metrics = wait_until(f"the ingestor's metrics to count {want}", stored_all, 60)
        time.sleep(2)  # nothing more may arrive: stored equals sent exactly
        metrics = ingest_metrics(stack)
        assert {k: metrics.get(k) for k in want} == want
        assert sum(v for k, v in metrics.items() if k.startswith("ingest_rejected_total")) == 0
        assert sum(v for k, v in metrics.items() if k.startswith("ingest_dropped_total")) == 0

        # a clean stop finishes every segment; then the volume's files must hold each log once
        stack.compose("stop", "ingestor", timeout=180)
        ingestor_id = stack.containers()["ingestor"]
        assert engine("inspect", "--format", "{{.State.ExitCode}}", ingestor_id).strip() == "0"
        assert "[SUMMARY] stored" in stack.logs("ingestor")
        engine("cp", f"{ingestor_id}:/data", str(tmp_path / "volume"))
        entries = read_stored(tmp_path / "volume")
        seqs: dict[str, list[int | None]] = defaultdict(list)
        formats: dict[str, set[str]] = defaultdict(set)
        driver_lines = []
        for entry in entries:
            if entry["service"] == marker and entry["transport"] == "tls":
                driver_lines.append(entry["message"])
            cid = entry.get("client_id") or ""
            seqs[cid].append(entry.get("seq"))
            formats[cid.rsplit("-", 1)[0]].add(entry["format"])
        report = {}
        for cid, (first, last) in expected.items():
            got = seqs.pop(cid, [])
            lost = len(set(range(first, last + 1)) - set(got))
            report[cid] = {
                "sent": last - first + 1,
                "stored": len(got),
                "lost": lost,
                "dup": len(got) - len(set(got)),
            }
        print(f"accounting per client: {report}")
        assert all(r["lost"] == 0 and r["dup"] == 0 for r in report.values()), report
        assert seqs.pop(f"{marker}-tls") == [0]
        assert set(seqs) == {""}, f"entries of unknown clients: {sorted(seqs)}"  # "": syslog, no client
        assert sorted(driver_lines) == sorted(f"driver {marker} {i}" for i in range(1, DRIVER_LINES + 1))
        assert formats["gen-json"] == {"json"} and formats["gen-proto"] == {"proto"}
        assert formats["app-logs"] == {"json"}  # through the collector's forwarding
        udp = metrics['ingest_logs_total{format="syslog",transport="udp"}']
        assert len(entries) == sum(want.values()) + udp

        # what Ctrl+C or `docker compose stop` does: SIGTERM through docker-init, a clean exit 0 each
        stack.compose("stop", timeout=180)
        ids = stack.containers()
        codes = dict(zip(ids, stack.engine("inspect", "--format", "{{.State.ExitCode}}", *ids.values()).split(),
                         strict=True))  # fmt: skip
        assert codes == dict.fromkeys(SERVICES, "0"), codes
    finally:
        t2 = time.monotonic()
        try:
            stack.compose("down", "-v", "--remove-orphans", "--timeout", "60", timeout=300)
        finally:
            PHASES["down"] = time.monotonic() - t2
    assert stack.leftovers() == {"containers": [], "volumes": [], "networks": []}
    print(f"phases (s): { {k: round(v, 1) for k, v in PHASES.items()} }, total {time.monotonic() - t0:.0f} s")
