"""External targets: a third-party receiver (rsyslog, or any command) in place of our ingestor.

The runner writes the receiver's configuration into the cell's folder, starts it on a free port
on 127.0.0.1, waits until the port accepts connections, sends it the same syslog load (RFC 5424,
octet-counted, no format header, TLS or plain TCP), stops it with SIGTERM, and reads its output
files with the same accounting: each stored line is the raw message, whose structured data
``[log@32473 client_id="..." seq="..."]`` says which client and seq it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from workbench.scenario.accounting import Stored, per_client_counts
from workbench.scenario.model import TargetSettings
from workbench.scenario.placement import ComponentFailed, terminate
from workbench.tls import ensure_self_signed

RSYSLOG_CONFIG = """# written by the workbench runner for one cell
global(workDirectory="{data_dir}" maxMessageSize="64k"{tls_global})
module(load="imtcp" maxSessions="1000"{tls_module})
template(name="raw" type="string" string="%rawmsg%\\n")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="bench")
ruleset(name="bench") {{
  action(type="omfile" file="{data_dir}/rsyslog.log" template="raw" asyncWriting="on" ioBufferSize="1m" flushInterval="1")
}}
"""
RSYSLOG_COMMAND = ["rsyslogd", "-n", "-f", "{config}", "-i", "{data_dir}/rsyslog.pid"]
_CLIENT_SEQ = re.compile(rb'client_id="([^"]*)"[^\]]*?seq="(\d+)"')


@dataclass
class ExternalHandle:
    tcp_port: int
    cert_path: str | None
    data_dir: Path
    output: str
    proc: asyncio.subprocess.Process
    pids: list[int] = field(default_factory=list)
    udp_port: int | None = None
    http_url: str = ""
    final: dict[str, float] = field(default_factory=dict)
    address: str = "127.0.0.1"
    host: str = field(default_factory=socket.gethostname)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render(target: TargetSettings, cell_dir: Path) -> tuple[list[str], str, dict[str, str]]:
    """The command, the config text and the substitutions of a target for one cell."""
    data_dir = cell_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    subs = {"port": str(_free_port()), "data_dir": str(data_dir), "config": str(cell_dir / "target.conf"),
            "cert": "", "key": ""}  # fmt: skip
    if target.tls:
        cert, key, _ = ensure_self_signed(cell_dir / "tls")
        subs.update(cert=str(cert), key=str(key))
    if target.type == "rsyslog":
        tls_global = (f' defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="{subs["cert"]}"'
                      f' defaultNetstreamDriverCertFile="{subs["cert"]}" defaultNetstreamDriverKeyFile="{subs["key"]}"'
                      if target.tls else "")  # fmt: skip
        tls_module = (
            ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"'
            if target.tls
            else ""
        )
        config = RSYSLOG_CONFIG.format(tls_global=tls_global, tls_module=tls_module, **subs)
        command = RSYSLOG_COMMAND
    else:
        config = (target.config or "").format(**subs)
        command = list(target.command or [])
    return [part.format(**subs) for part in command], config, subs


async def start_external(target: TargetSettings, cell_dir: Path, log_dir: Path, name: str) -> ExternalHandle:
    command, config, subs = render(target, cell_dir)
    Path(subs["config"]).write_text(config, encoding="utf-8")
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.log", "ab") as log:
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL
            )
        except FileNotFoundError:
            raise ComponentFailed(
                f"target {target.type}: {command[0]} is not installed (make peers installs it)"
            ) from None
    port = int(subs["port"])
    for _ in range(200):  # readiness: the port accepts a connection (not a sleep)
        if proc.returncode is not None:
            raise ComponentFailed(
                f"target {target.type} exited with code {proc.returncode}; see {log_dir / name}.log"
            )
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            break
        except OSError:
            await asyncio.sleep(0.05)
    else:
        await stop_external_proc(proc)
        raise ComponentFailed(f"target {target.type} did not listen on port {port} within 10s")
    return ExternalHandle(port, subs["cert"] or None, Path(subs["data_dir"]), target.output, proc, [proc.pid])


async def stop_external_proc(proc: asyncio.subprocess.Process, timeout: float = 30.0) -> None:
    await terminate(proc, timeout)


def count_lines(data_dir: Path, pattern: str) -> int:
    return sum(p.read_bytes().count(b"\n") for p in data_dir.glob(pattern) if p.is_file())


def read_external(data_dir: Path, pattern: str) -> Stored:
    """Client and seq of every stored line (from the syslog structured data), as our accounting wants."""
    clients: list[str] = []
    seqs: list[int] = []
    raw = 0
    for path in sorted(data_dir.glob(pattern)):
        data = path.read_bytes()
        raw += len(data)
        for client, seq in _CLIENT_SEQ.findall(data):
            clients.append(client.decode())
            seqs.append(int(seq))
    df = pl.DataFrame({"client_id": clients, "seq": seqs}, schema={"client_id": pl.Utf8, "seq": pl.Int64})
    per_client = per_client_counts(df)
    nan = float("nan")
    return Stored(per_client, df.height, {"p50": nan, "p90": nan, "p99": nan, "max": nan}, raw, raw)
