"""The worker side of the dask placement: component processes on a Dask worker, sampled and counted there.

The runner sends these functions to a chosen worker. Process control (``start``, ``poll``,
``stop``, ``stop_all``) goes through ``Client.run`` and runs on the worker's event loop, so a
generator that sends for minutes holds no task slot; ``sample`` and ``count_stored`` are tasks
(``Client.submit``, pinned to the worker) whose Arrow tables come back through futures, because
the processes and the files are on the worker's host.

Each worker process keeps the components it started in ``_TABLE``. Every component is a
``python -m workbench <verb>`` child in its own process group with ``PR_SET_PDEATHSIG`` set to
SIGKILL, so it dies with its worker even when the worker is SIGKILLed (an ingestor's own worker
processes then stop on the EOF of their stdin); ``ComponentReaper``, a worker plugin, kills the
groups when the worker closes normally. No process outlives the worker that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from distributed.diagnostics.plugin import WorkerPlugin

from workbench.scenario.accounting import read_stored, to_arrow
from workbench.scenario.placement.base import (
    EVENT_LINE_LIMIT,
    final_counts,
    ready_event,
    role_args,
    summary_event,
    terminate,
)
from workbench.scenario.sampling import ProcessUsage, metrics_fields

PR_SET_PDEATHSIG = 1


@dataclass
class Component:
    id: str
    role: str
    name: str
    proc: asyncio.subprocess.Process
    log_path: Path
    lines: list[bytes] = field(default_factory=list)  # stdout: its events (the services print little)
    reader: asyncio.Task[None] | None = None
    http_url: str | None = None


_TABLE: dict[str, Component] = {}
_USAGE = ProcessUsage()


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks Linux to SIGKILL the child when its parent dies (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not between fork and exec

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    return preexec


def component_environ() -> dict[str, str]:
    """This worker's environment without what Dask's nanny set for the worker itself.

    The nanny sets ``distributed.nanny.pre-spawn-environ`` (``MALLOC_TRIM_THRESHOLD_=65536``,
    one OpenMP/BLAS thread) for its worker. Inherited by an ingestor or a generator, the malloc
    setting also pins glibc's mmap threshold, so every large buffer becomes an mmap/munmap pair:
    the components ran measurably slower on Dask than locally (bench/scale_out.py)."""
    import dask

    env = dict(os.environ)
    for name, value in (dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}).items():
        if env.get(name) == str(value):
            env.pop(name)
    return env


async def _read(comp: Component) -> None:
    assert comp.proc.stdout is not None
    while line := await comp.proc.stdout.readline():
        comp.lines.append(line)


async def start(role: str, name: str, config: dict[str, Any], log_dir: str,
                files: dict[str, bytes] | None = None, tls_host: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Start the component of ``role`` here with its whole ``config`` (``VERB --config-json``);
    ``ready`` says when it serves.

    ``files``: config keys whose files the runner sent (a CA certificate), written here and the
    key set to the local copy; ``tls_host``: an ingestor's data dir gets a self-signed pair
    naming that address before the ingestor starts.
    """
    logs = Path(log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    config = dict(config)
    for key, content in (files or {}).items():
        local = Path(tempfile.mkdtemp(prefix="workbench-file-")) / Path(str(config[key])).name
        local.write_bytes(content)
        config[key] = str(local)
    cert = None
    if tls_host is not None:  # an ingestor's
        from workbench.tls import ensure_self_signed

        cert, _key, _ = ensure_self_signed(Path(config["data_dir"]) / "tls", (tls_host,))
    if config.get("output_file"):  # a generator writing a file for a collector on this host
        Path(config["output_file"]).parent.mkdir(parents=True, exist_ok=True)
    args = role_args(role, json.dumps(config))
    log_path = logs / f"{name}.log"
    with open(log_path, "ab") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "workbench", *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=err, start_new_session=True, preexec_fn=_die_with_parent(),
            env=component_environ(), limit=EVENT_LINE_LIMIT,
        )  # fmt: skip
    comp = Component(f"{name}@{proc.pid}", role, name, proc, log_path)
    _TABLE[comp.id] = comp
    # its CPU counts from its start, so a short-lived generator's first sample is not spent priming
    _USAGE.usage([proc.pid])
    out: dict[str, Any] = {"id": comp.id, "pid": proc.pid, "host": socket.gethostname()}
    if cert is not None:
        out["cert_pem"] = cert.read_text()
    comp.reader = asyncio.create_task(_read(comp))
    return out


def ready(cid: str) -> dict[str, Any]:
    """Whether a component is ready: ``{"ready": event}``, ``{"exited": code, "log": ...}`` when
    it ended first, or ``{}`` while it is still starting. Asked again and again by the runner:
    a ``Client.run`` that waited for it would hold the scheduler's stream of the runner's other
    requests (the sampling tasks) for as long as a generator builds its pool."""
    comp = _TABLE.get(cid)
    if comp is None:
        return {"exited": None, "log": f"no component {cid} on {socket.gethostname()}"}
    for line in comp.lines:
        if (event := ready_event(line)) is not None:
            return {"ready": event}
    if comp.proc.returncode is not None:
        return {"exited": comp.proc.returncode, "log": _tail(comp.log_path)}
    return {}


def _tail(path: Path, lines: int = 3) -> str:
    with contextlib.suppress(OSError):
        last = path.read_text(errors="replace").strip().splitlines()[-lines:]
        return f"{path} on {socket.gethostname()}: " + " | ".join(last)
    return str(path)


async def poll(ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """Per component: None while it runs, else its exit code (and a generator's summary)."""
    out: dict[str, dict[str, Any] | None] = {}
    for cid in ids:
        comp = _TABLE.get(cid)
        if comp is None:
            out[cid] = {"code": None, "error": f"no component {cid} on {socket.gethostname()}"}
            continue
        if comp.proc.returncode is None:
            out[cid] = None
            continue
        if comp.reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(comp.reader, 5)
        done: dict[str, Any] = {"code": comp.proc.returncode, "log": _tail(comp.log_path)}
        if (summary := summary_event(comp.lines)) is not None:
            done["summary"] = summary
        out[cid] = done
        _forget(comp)
    return out


async def stop(cid: str, timeout: float) -> dict[str, Any]:
    """SIGTERM (SIGKILL after ``timeout``); an ingestor's final counts from its summary event."""
    comp = _TABLE.get(cid)
    if comp is None:
        return {"code": None, "final": {}}
    await terminate(comp.proc, timeout, group=True)
    if comp.reader is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(comp.reader, 5)
    _forget(comp)
    return {
        "code": comp.proc.returncode,
        "final": final_counts(comp.lines) if comp.role == "ingestor" else {},
    }


async def stop_all(timeout: float) -> int:
    """Stop every component this worker started; how many there were."""
    comps = list(_TABLE.values())
    await asyncio.gather(*(terminate(c.proc, timeout, group=True) for c in comps))
    for c in comps:
        _forget(c)
    return len(comps)


def _forget(comp: Component) -> None:
    _TABLE.pop(comp.id, None)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def sample(ingestors: dict[str, str]) -> tuple[pa.Table, dict[str, float]]:
    """A task: each ingestor's metrics (``ingestors``: id to its HTTP URL) with its processes'
    CPU, RSS and open fds, as an Arrow table; and the same of this worker's other components by role."""
    import json
    import urllib.request

    rows = []
    for cid, url in ingestors.items():
        comp = _TABLE.get(cid)
        if comp is None:
            continue
        try:
            with urllib.request.urlopen(f"{url}/metrics.json", timeout=2) as r:
                snap = json.loads(r.read())
        except (OSError, ValueError):
            continue
        cpu, rss, fds = _USAGE.usage([comp.proc.pid])
        rows.append({"id": cid, **metrics_fields(snap), "cpu_percent": cpu, "rss_mb": rss, "open_fds": fds})
    roles: dict[str, list[int]] = {}
    for comp in list(_TABLE.values()):
        if comp.proc.returncode is None:
            roles.setdefault(comp.role, []).append(comp.proc.pid)
    return pa.Table.from_pylist(rows), _USAGE.by_role(roles)


def count_stored(data_dir: str) -> dict[str, Any]:
    """A task: the accounting of an ingestor's data dir, read on its host, as Arrow tables."""
    return to_arrow(read_stored(Path(data_dir)))


class ComponentReaper(WorkerPlugin):
    """Kills the process group of every component when its worker closes (restart, scale-down)."""

    name = "workbench-component-reaper"

    def setup(self, worker: Any) -> None:
        # pyarrow imports pandas when it builds its first table (1.4-2.6 s here): paid now, when
        # the cluster starts, not by the first metric sample of a cell, which then timed out
        pa.Table.from_pylist([{"warm": 0.0}])

    def teardown(self, worker: Any) -> None:
        for comp in list(_TABLE.values()):
            _kill_group(comp.proc.pid)
        _TABLE.clear()
