"""``docker/healthcheck.py``, the image's one HEALTHCHECK: what it probes for each service's
command line, how it finds that command line in ``/proc``, and the probes themselves against a
real HTTP server and a real TCP connection."""

from __future__ import annotations

import http.server
import importlib.util
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "healthcheck.py"


@pytest.fixture(scope="module")
def hc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("workbench_healthcheck", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ingest", "--host", "0.0.0.0", "--data-dir", "/data"], "http://127.0.0.1:8080/healthz"),
        (["ingest", "--http-port=9000"], "http://127.0.0.1:9000/healthz"),
        (["ingest", "--http-port", "0"], "none"),  # chosen at start: only its output tells
        (
            ["ingest", "--config-json", '{"http_port": 9100, "host": "0.0.0.0"}'],
            "http://127.0.0.1:9100/healthz",
        ),
        (["registry", "--host", "0.0.0.0"], "http://127.0.0.1:8081/healthz"),
        (["registry", "--host", "10.1.2.3", "--port", "18081"], "http://10.1.2.3:18081/healthz"),
        (
            ["dashboard", "--live", "http://ingestor:8080", "--address", "0.0.0.0"],
            "http://127.0.0.1:5006/healthz",
        ),
        (["collect", "--input", "/logs/*.log"], "none"),  # no HTTP port unless asked for
        (["collect", "--http-host", "::", "--http-port", "8082"], "http://127.0.0.1:8082/healthz"),
        (["generate", "--address", "ingestor", "--format", "proto"], "tcp:3001"),
        (["generate", "--tcp-port", "13001"], "tcp:13001"),
        (["generate", "--targets", "a:4001,b:4002"], "tcp:4001"),
        (["generate", "--udp"], "none"),
        (["generate", "--output", "/logs/app.log"], "none"),
        (["generate", "--blackhole"], "none"),
        (["run", "scenarios/quickstart.yaml"], "none"),
    ],
)
def test_target_follows_the_command_line(hc: ModuleType, argv: list[str], expected: str) -> None:
    assert hc.target(argv) == expected


def test_target_reads_a_config_json_file(hc: ModuleType, tmp_path: Path) -> None:
    config = tmp_path / "collector.json"
    config.write_text(json.dumps({"http_port": 7001}))
    assert hc.target(["collect", "--config-json", str(config)]) == "http://127.0.0.1:7001/healthz"
    generator = tmp_path / "generator.json"
    generator.write_text(json.dumps({"transport": "udp", "tcp_port": 3001}))
    assert hc.target(["generate", "--config-json", str(generator)]) == "none"


def _proc(root: Path, pid: int, *argv: str) -> None:
    (root / str(pid)).mkdir(parents=True)
    (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_service_argv_is_the_lowest_workbench_process(hc: ModuleType, tmp_path: Path) -> None:
    _proc(tmp_path, 1, "/sbin/docker-init", "--", "workbench", "ingest", "--quiet")
    _proc(tmp_path, 7, "/opt/workbench/bin/python3", "/opt/workbench/bin/workbench", "ingest", "--quiet")
    _proc(tmp_path, 12, "/opt/workbench/bin/python3", "-m", "workbench.ingestor.child")
    (tmp_path / "self").mkdir()  # not a pid
    assert hc.service_argv(tmp_path) == ["ingest", "--quiet"]
    assert hc.service_argv(tmp_path / "self") is None


def test_established_to_reads_the_namespace_tables(hc: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    header = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    )
    listen = "   0: 00000000:0BB9 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001 0 1\n"
    (tmp_path / "net" / "tcp").write_text(header + listen)
    assert not hc.established_to(3001, tmp_path)  # listening on 3001 is not a connection to it
    established = "   1: 0500140A:D2F0 0300140A:0BB9 01 00000000:00000000 00:00000000 00000000 10001 0 2\n"
    (tmp_path / "net" / "tcp6").write_text(header + established)
    assert hc.established_to(3001, tmp_path)
    assert not hc.established_to(3002, tmp_path)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 200 if self.path == "/healthz" else 503
        body = b'{"status": "ok"}' if code == 200 else b"down"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_probe_over_http(hc: ModuleType, http_port: int) -> None:
    ok, message = hc.probe(f"http://127.0.0.1:{http_port}/healthz")
    assert ok and '"ok"' in message
    ok, message = hc.probe(f"http://127.0.0.1:{http_port}/other")
    assert not ok and "503" in message
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    ok, message = hc.probe(f"http://127.0.0.1:{closed}/healthz")
    assert not ok and "refused" in message.lower()


def test_probe_tcp_sees_a_real_connection(hc: ModuleType) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp (not Linux)")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert not hc.probe(f"tcp:{port}")[0]
        with socket.create_connection(("127.0.0.1", port)), server.accept()[0]:
            assert hc.probe(f"tcp:{port}") == (True, f"connected to port {port}")
