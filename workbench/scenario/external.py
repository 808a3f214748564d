"""External targets and load: third-party receivers (rsyslog, syslog-ng, any command) in place
of our ingestor, and syslog-ng's ``loggen`` in place of our generator.

The runner writes the receiver's configuration into the cell's folder, starts it on a free port
on 127.0.0.1, waits until the port accepts connections, sends it the same syslog load (RFC 5424,
octet-counted, no format header, TLS or plain TCP), waits until it has read every connection to
its end, stops it with SIGTERM, waits for its exit, and reads its output files with the same
accounting: each stored line is the raw message, whose structured data
``[log@32473 client_id="..." seq="..."]`` says which client and seq it is.

``loggen`` writes its own messages (``seq: 0000000042, thread: 0001, ...`` in MSG), one seq
sequence per connection; those are counted wherever they land (its receivers' files or our
ingestor's segments), with the client ``loggen-t<thread>``. loggen reports only its total, so
a connection's ``sent`` is the highest seq stored + 1, and whatever its total adds beyond that
(messages lost at the tail) is the client ``loggen``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psutil

from workbench.errors import ComponentFailed
from workbench.scenario.accounting import Stored, combine, output_files, per_client_counts, read_bytes
from workbench.scenario.model import (
    CommandTarget,
    ExternalTarget,
    GeneratorGroup,
    RsyslogTarget,
    SyslogNgTarget,
)
from workbench.scenario.placement.base import GeneratorResult, IngestorHandle, terminate
from workbench.scenario.sampling import ProcessUsage
from workbench.tls import ensure_self_signed

# main_queue: on SIGTERM rsyslog writes out what it has read for up to timeoutShutdown (default 1.5s,
# then it discards the rest); a loaded machine may need longer, and the runner waits for its exit
RSYSLOG_CONFIG = """# written by the workbench runner for one cell
global(workDirectory="{data_dir}" maxMessageSize="64k"{tls_global})
main_queue(queue.timeoutShutdown="20000")
module(load="imtcp" maxSessions="1000"{tls_module})
template(name="raw" type="string" string="%rawmsg%\\n")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="bench")
ruleset(name="bench") {{
  action(type="omfile" file="{data_dir}/rsyslog.log" template="raw" asyncWriting="on" ioBufferSize="1m" flushInterval="1")
}}
"""
RSYSLOG_COMMAND = ["rsyslogd", "-n", "-f", "{config}", "-i", "{data_dir}/rsyslog.pid"]
# syslog(): RFC 6587 octet counting (RFC 5425 over TLS), as rsyslog's imtcp and our ingestor read it;
# flow-control: the source stops reading while the file writer is behind (no drops, like ours);
# a large window, fetch limit, queue and flush batch: with loggen into this config 150k -> 260k
# messages/s here (the defaults would make the comparison unfair to syslog-ng)
SYSLOG_NG_CONFIG = """@version: {version}
# written by the workbench runner for one cell
options {{ threaded(yes); use-dns(no); dns-cache(no); keep-hostname(yes); stats-freq(0); log-msg-size(65536); }};
source s_bench {{ syslog(ip("127.0.0.1") port({port}) transport("{transport}") max-connections(1000)
  log-iw-size(1000000) log-fetch-limit(1000) flags(store-raw-message){tls}); }};
destination d_file {{ file("{data_dir}/syslog-ng.log" template("${{RAWMSG}}\\n") log-fifo-size(2000000)
  flush-lines(10000)); }};
log {{ source(s_bench); destination(d_file); flags(flow-control); }};
"""
SYSLOG_NG_TLS = ' tls(key-file("{key}") cert-file("{cert}") peer-verify(optional-untrusted))'
_CLIENT_SEQ = re.compile(rb'client_id="([^"]*)"[^\]]*?seq="(\d+)"')
_LOGGEN_SEQ = re.compile(rb"seq: (\d+), thread: (\d+)")
_LOGGEN_TOTAL = re.compile(r"average rate = ([\d.]+) msg/sec, count=(\d+), time=([\d.]+)")
# a receiver's end of a connection it has not read to EOF and closed: waiting to be accepted or
# open (ESTABLISHED), or closed by the sender with data perhaps still unread (CLOSE_WAIT)
_UNREAD_STATES = frozenset({psutil.CONN_SYN_RECV, psutil.CONN_ESTABLISHED, psutil.CONN_CLOSE_WAIT})
READ_TIMEOUT_SECONDS = 30.0  # for a receiver to read what the senders' closed connections hold
EXIT_TIMEOUT_SECONDS = 30.0  # after SIGTERM, then SIGKILL (above rsyslog's queue.timeoutShutdown)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class SyslogNg:
    """Where syslog-ng and loggen are: unpacked into ``peers/`` by ``make peers``, or installed."""

    daemon: Path
    loggen: Path
    module_path: Path | None
    env: dict[str, str]
    config_version: str

    @classmethod
    def find(cls) -> SyslogNg:
        peers = Path(os.environ.get("WORKBENCH_PEERS_DIR") or Path(__file__).resolve().parents[2] / "peers")
        root = peers / "syslog-ng" / "usr"
        if (root / "sbin" / "syslog-ng").is_file():
            lib = root / "lib" / "syslog-ng"
            modules = sorted(p for p in lib.glob("[0-9]*") if p.is_dir())
            env = {**os.environ, "LD_LIBRARY_PATH": f"{lib}:{os.environ.get('LD_LIBRARY_PATH', '')}".rstrip(":"),
                   "SYSLOGNG_PREFIX": str(root)}  # fmt: skip
            found = cls(
                root / "sbin" / "syslog-ng",
                root / "bin" / "loggen",
                modules[-1] if modules else None,
                env,
                "",
            )
        elif (daemon := shutil.which("syslog-ng")) and (loggen := shutil.which("loggen")):
            found = cls(Path(daemon), Path(loggen), None, dict(os.environ), "")
        else:
            raise ComponentFailed(
                "syslog-ng is not installed: `make peers` unpacks it (and loggen) into peers/"
            )
        try:
            out = subprocess.run([found.daemon, "--version"], capture_output=True, text=True, env=found.env,
                                 timeout=10, check=True).stdout  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            raise ComponentFailed(f"{found.daemon} --version failed: {exc}") from None
        m = re.search(r"Config version: (\d+\.\d+)", out)
        return cls(found.daemon, found.loggen, found.module_path, found.env, m.group(1) if m else "3.35")


def render(target: ExternalTarget, cell_dir: Path) -> tuple[list[str], str, dict[str, str]]:
    """The command, the config text and the substitutions of a target for one cell. Paths are
    absolute: rsyslogd changes to ``/`` before it writes its pid file."""
    cell_dir = cell_dir.resolve()
    data_dir = cell_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    subs = {"port": str(_free_port()), "data_dir": str(data_dir), "config": str(cell_dir / "target.conf"),
            "cert": "", "key": ""}  # fmt: skip
    if target.tls:
        cert, key, _ = ensure_self_signed(cell_dir / "tls")
        subs.update(cert=str(cert), key=str(key))
    if isinstance(target, RsyslogTarget):
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
    elif isinstance(target, SyslogNgTarget):
        sng = SyslogNg.find()
        tls = SYSLOG_NG_TLS.format(**subs) if target.tls else ""
        config = SYSLOG_NG_CONFIG.format(version=sng.config_version, transport="tls" if target.tls else "tcp",
                                         tls=tls, **subs)  # fmt: skip
        command = [str(sng.daemon), "-F", "-f", "{config}", "-R", "{data_dir}/syslog-ng.persist",
                   "-p", "{data_dir}/syslog-ng.pid", "-c", "{data_dir}/syslog-ng.ctl"]  # fmt: skip
        if sng.module_path:
            command += ["--module-path", str(sng.module_path)]
    else:
        assert isinstance(target, CommandTarget)
        config = (target.config or "").format(**subs)
        command = list(target.command)
    return [part.format(**subs) for part in command], config, subs


class ExternalReceiver:
    """A third-party receiver of a cell's load, in the shape of ``targets.Targets``: started on
    a free port with its config written into the cell's folder, sampled by counting its output
    lines, stopped with SIGTERM once it has read its connections, its files read with our accounting."""

    header = False  # third parties read syslog without our format header

    def __init__(self, handle: IngestorHandle, proc: asyncio.subprocess.Process,
                 components: Callable[[], dict[str, list[int]]]) -> None:  # fmt: skip
        self.handles = [handle]
        self.proc = proc
        self.components = components

    @classmethod
    async def start(cls, target: ExternalTarget, cell_dir: Path, log_dir: Path, name: str,
                    components: Callable[[], dict[str, list[int]]]) -> ExternalReceiver:  # fmt: skip
        command, config, subs = render(target, cell_dir)
        Path(subs["config"]).write_text(config, encoding="utf-8")
        log_dir.mkdir(parents=True, exist_ok=True)
        env = SyslogNg.find().env if target.type == "syslog-ng" else None
        with open(log_dir / f"{name}.log", "ab") as log:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *command, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL, env=env
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
            await terminate(proc, 30.0)
            raise ComponentFailed(f"target {target.type} did not listen on port {port} within 10s")
        handle = IngestorHandle(port, None, "", subs["cert"] or None, [proc.pid], data_dir=Path(subs["data_dir"]),
                                output=target.output)  # fmt: skip
        return cls(handle, proc, components)

    def probe(self) -> ExternalProbe:
        return ExternalProbe(self.components)

    async def stop(self) -> None:
        """Once it has read every connection to its end, SIGTERM, and its exit: rsyslog stops reading
        its sockets on SIGTERM (what the kernel still holds for it is lost, the last batches of a
        loaded machine), then writes out what it has read and closes its files."""
        port = self.handles[0].tcp_port
        await wait_connections_read(port, READ_TIMEOUT_SECONDS)
        await terminate(self.proc, EXIT_TIMEOUT_SECONDS)
        if self.proc.returncode == -signal.SIGKILL:
            raise ComponentFailed(
                f"target on port {port} did not exit within {EXIT_TIMEOUT_SECONDS:.0f}s of SIGTERM and was "
                "killed: its output may lack what it had not written yet"
            )

    async def abandon(self) -> None:
        """A failed cell: the receiver is stopped at once (nothing will be counted), so that no
        rsyslogd or syslog-ng outlives the run."""
        await terminate(self.proc, EXIT_TIMEOUT_SECONDS)

    async def read_stored(self) -> Stored:
        h = self.handles[0]
        assert h.data_dir is not None and h.output is not None
        part = await asyncio.get_running_loop().run_in_executor(None, read_external, h.data_dir, h.output)
        return combine([part], [h.host])

    def mb_per_sec(self, measured: float, stored: Stored, seconds: float) -> float:
        """A receiver's files hold what it received, one line per message: their bytes over the time."""
        return stored.uncompressed_bytes / seconds / 1e6 if seconds else measured


class ExternalProbe:
    """A third-party receiver has no /metrics.json: its output lines counted, its process sampled."""

    def __init__(self, components: Callable[[], dict[str, list[int]]]) -> None:
        self.components = components
        self.processes = ProcessUsage()
        self._last: tuple[float, float] | None = None  # (time, lines) of the previous sample

    async def sample(
        self, ings: Sequence[IngestorHandle]
    ) -> tuple[list[dict[str, float] | None], dict[str, float]]:
        ing = ings[0]
        assert ing.data_dir is not None and ing.output is not None
        cpu, rss, fds = self.processes.usage(ing.pids)
        others = self.processes.by_role(self.components())
        total = float(
            await asyncio.get_running_loop().run_in_executor(None, count_lines, ing.data_dir, ing.output)
        )
        now = time.monotonic()
        last_t, last_n = self._last or (now, 0.0)
        self._last = (now, total)
        rate = (total - last_n) / (now - last_t) if now > last_t else 0.0
        row = {"logs_total": total, "bytes_total": 0.0, "rejected_total": 0.0, "dropped_total": 0.0,
               "logs_per_sec": rate, "mb_per_sec": 0.0, "latency_us": 0.0, "queue_length": 0.0,
               "connections": 0.0, "cpu_percent": cpu, "rss_mb": rss, "open_fds": fds}  # fmt: skip
        return [row], others

    async def close(self) -> None:
        return None


def unread_connections(port: int) -> int:
    """How many connections to ``port`` its receiver has not yet read to EOF and closed (the
    kernel's sockets of every process: one accepted by no one yet counts too; IPv6 too, for a
    command that listens on ``::``)."""
    return sum(
        1
        for c in psutil.net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status in _UNREAD_STATES
    )


async def wait_connections_read(port: int, timeout_seconds: float) -> None:
    """Wait until the receiver on ``port`` has read and closed every connection the senders have
    closed (the generators have returned: each closed its connections), at most ``timeout_seconds``
    (a sender that still holds one open, a receiver that reads no more: the accounting shows the
    loss). Without the right to list sockets (macOS without root) there is nothing to wait on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    with contextlib.suppress(psutil.AccessDenied):
        while await loop.run_in_executor(None, unread_connections, port) and loop.time() < deadline:
            await asyncio.sleep(0.05)


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


async def run_loggen(
    group: GeneratorGroup, port: int, tls: bool, seconds: float, log_path: Path
) -> GeneratorResult:
    """syslog-ng's loggen: ``group.clients`` connections of RFC 5424 octet-counted messages for
    ``seconds`` (whole seconds, at least 1) at ``group.rate`` for the group (unpaced when unset)."""
    sng = SyslogNg.find()
    rate = max(1, int((group.rate or 100_000_000) / group.clients))
    args = [str(sng.loggen), *(["--use-ssl"] if tls else ["--inet", "--stream"]), "--syslog-proto",
            "--active-connections", str(group.clients), "--interval", str(max(1, math.ceil(seconds))),
            "--rate", str(rate), "--size", str(group.message_size), "127.0.0.1", str(port)]  # fmt: skip
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
        env=sng.env,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds + 60)
    except TimeoutError:
        await terminate(proc, 5)
        raise ComponentFailed(f"loggen did not finish within {seconds + 60:.0f}s; see {log_path}") from None
    finally:
        if proc.returncode is None:
            await terminate(proc, 5)
    log_path.write_bytes(" ".join(args).encode() + b"\n" + (out or b""))
    m = _LOGGEN_TOTAL.search((out or b"").decode("utf-8", "replace"))
    if proc.returncode != 0 or m is None:
        raise ComponentFailed(
            f"loggen exited with code {proc.returncode} without its summary; see {log_path}"
        )
    summary = {"tool": "loggen", "sent_total": int(m.group(2)), "duration_seconds": float(m.group(3)),
               "clients": []}  # fmt: skip
    return GeneratorResult(summary, [proc.pid])


def read_loggen(paths: Iterable[Path]) -> Stored:
    """loggen's messages in output files (raw lines or our JSONL segments, any compression)."""
    clients: list[str] = []
    seqs: list[int] = []
    for path in paths:
        for seq, thread in _LOGGEN_SEQ.findall(read_bytes(path)):
            clients.append(f"loggen-t{thread.decode()}")
            seqs.append(int(seq))
    df = pl.DataFrame({"client_id": clients, "seq": seqs}, schema={"client_id": pl.Utf8, "seq": pl.Int64})
    nan = float("nan")
    return Stored(per_client_counts(df), df.height, dict.fromkeys(("p50", "p90", "p99", "max"), nan), 0, 0)


def loggen_files(data_dir: Path, external_pattern: str | None) -> list[Path]:
    """Where loggen's messages landed: a receiver's output files, or our ingestor's segments."""
    if external_pattern is not None:
        return sorted(p for p in data_dir.glob(external_pattern) if p.is_file())
    return output_files(data_dir)


def loggen_sent(total: int, stored: Stored) -> dict[str, dict[str, int]]:
    """Per connection, ``sent`` as far as the files show it; the rest of loggen's total as ``loggen``."""
    sent: dict[str, dict[str, int]] = {}
    for row in stored.per_client.iter_rows(named=True):
        sent[row["client_id"]] = {"sent": int(row["max_seq"]) + 1, "first_seq": 0}
    rest = total - sum(v["sent"] for v in sent.values())
    if rest > 0 or not sent:
        sent["loggen"] = {"sent": max(0, rest), "first_seq": 0}
    return sent


def merge_stored(a: Stored, b: Stored) -> Stored:
    """Two readings of one cell's files (our generator's clients and loggen's) as one."""
    return Stored(pl.concat([a.per_client, b.per_client], how="diagonal_relaxed").sort("client_id"),
                  a.lines + b.lines, a.latency_us, a.uncompressed_bytes, a.disk_bytes)  # fmt: skip
