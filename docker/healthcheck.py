#!/usr/bin/env python3
"""The image's one ``HEALTHCHECK``: it finds which service the container runs and probes it.

It reads the command line of the container's service (the lowest-numbered process running a
``workbench`` verb; PID 1 is ``init: true``'s docker-init) and checks what that verb serves:

* ``ingest``, ``registry``, ``dashboard``, ``collect --http-port``: ``GET /healthz`` on its HTTP
  port (flags, ``--config-json`` or the verb's default port) answers 200;
* ``generate`` over TCP: an established connection to its receiver's port (a generator has no
  HTTP port); to a file, over UDP, or as a blackhole: the process runs.

``WORKBENCH_HEALTHCHECK`` overrides the guess: a URL, ``tcp:PORT``, or ``none``. Exit 0 when
healthy, 1 with one line saying why not (``docker inspect`` shows it). Standard library only,
one process start per check: it runs every few seconds in every container.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

VERBS = ("ingest", "registry", "dashboard", "collect", "generate", "run", "report")
# the verbs' own defaults (their --help); 0 or None means no port to probe
HTTP_PORT = {"ingest": ("--http-port", "http_port", 8080), "registry": ("--port", "port", 8081),
             "dashboard": ("--port", None, 5006), "collect": ("--http-port", "http_port", None)}  # fmt: skip
HOST_FLAG = {"ingest": "--host", "registry": "--host", "dashboard": "--address", "collect": "--http-host"}
TIMEOUT_SECONDS = 4.0
ESTABLISHED = "01"


def service_argv(proc: Path = Path("/proc")) -> list[str] | None:
    """The argv of the container's workbench service, from its verb on; None when none runs."""
    pids = sorted(int(p.name) for p in proc.iterdir() if p.name.isdigit())
    for pid in pids:
        try:
            argv = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        for i, word in enumerate(words[:-1]):
            if (word == "workbench" or word.endswith("/workbench")) and words[i + 1] in VERBS:
                return words[i + 1 :]
    return None


def flag(argv: list[str], name: str) -> str | None:
    """The value of ``--name V`` or ``--name=V`` (the last one given, as argparse takes it)."""
    found = None
    for i, word in enumerate(argv):
        if word == name and i + 1 < len(argv):
            found = argv[i + 1]
        elif word.startswith(name + "="):
            found = word.split("=", 1)[1]
    return found


def config_json(argv: list[str]) -> dict[str, object]:
    """The ``--config-json`` settings (inline JSON or a file); {} without it or on stdin."""
    value = flag(argv, "--config-json")
    if value is None or value == "-":
        return {}
    text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def target(argv: list[str]) -> str:
    """What to probe for this service: a URL, ``tcp:PORT`` or ``none``."""
    verb, config = argv[0], config_json(argv)
    if verb in HTTP_PORT:
        name, key, default = HTTP_PORT[verb]
        port = flag(argv, name) or (config.get(key) if key else None) or default
        if not port or int(port) == 0:
            return "none"  # no HTTP port, or one chosen at start that only its output tells
        host = flag(argv, HOST_FLAG[verb]) or "127.0.0.1"
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{int(port)}/healthz"
    if verb == "generate":
        sends_over_tcp = config.get("transport", "tcp") == "tcp" and not config.get("output_file")
        if any(f in argv for f in ("--udp", "--blackhole", "--output")) or not sends_over_tcp:
            return "none"
        targets = flag(argv, "--targets")
        if targets:
            return "tcp:" + targets.split(",")[0].rsplit(":", 1)[1]
        return f"tcp:{int(flag(argv, '--tcp-port') or config.get('tcp_port') or 3001)}"
    return "none"


def established_to(port: int, proc: Path = Path("/proc")) -> bool:
    """Whether this network namespace has an established TCP connection to remote ``port``."""
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == ESTABLISHED and int(fields[2].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def probe(what: str) -> tuple[bool, str]:
    if what == "none":
        return True, "running (nothing to probe)"
    if what.startswith("tcp:"):
        port = int(what[4:])
        ok = established_to(port)
        return ok, f"{'connected' if ok else 'no established connection'} to port {port}"
    try:
        with urllib.request.urlopen(what, timeout=TIMEOUT_SECONDS) as response:
            return (
                response.status == 200,
                f"{what}: {response.status} {response.read(200).decode(errors='replace')}",
            )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, f"{what}: {exc}"


def main() -> int:
    what = os.environ.get("WORKBENCH_HEALTHCHECK")
    if not what:
        argv = service_argv()
        if argv is None:
            print("no workbench service runs in this container")
            return 1
        what = target(argv)
    ok, message = probe(what)
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
