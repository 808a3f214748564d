"""Shared helpers of the ingestor's integration and end-to-end tests.

Payloads are built with the project's own codecs (``workbench.codecs``) from ``LogEntry``
objects that carry ``client_id`` and ``seq``, so a test can check that every seq of every client
was stored exactly once. Senders close TLS cleanly (close_notify, then read to EOF) as the
design asks of every sender. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import re
import ssl
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import zstandard

from workbench import model, wire
from workbench.codecs import get as get_codec
from workbench.ingestor.config import IngestorConfig
from workbench.ingestor.service import Ingestor
from workbench.tls import client_context

T = TypeVar("T")
HOST = "127.0.0.1"
BASE_TIME = dt.datetime(2025, 6, 30, 21, 59, 23, 123456, tzinfo=dt.UTC)


# --- configuration and running -------------------------------------------------------------


def config(data_dir: Path, **overrides: Any) -> IngestorConfig:
    """An in-process ingestor on free ports, quiet, flushing often (tests wait less)."""
    settings: dict[str, Any] = {
        "data_dir": data_dir,
        "tcp_port": 0,
        "udp_port": 0,
        "http_port": 0,
        "workers": 0,
        "stats_line": False,
        "flush_interval_seconds": 0.1,
        "metrics_interval_seconds": 0.2,
        "drain_seconds": 1.0,
    }
    settings.update(overrides)
    return IngestorConfig(**settings)


def run(coro: Awaitable[T], timeout: float = 120.0) -> T:
    """Run a test coroutine on a fresh event loop, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def totals(ing: Ingestor) -> dict[str, float]:
    return ing.snapshot()["totals"]  # type: ignore[no-any-return]


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_counts(ing: Ingestor, timeout: float = 20.0, **expected: float) -> dict[str, float]:
    """Wait until every named total (``logs=10``, ``rejected=2``) reaches at least its value."""

    def done() -> bool:
        t = totals(ing)
        return all(t[k] >= v for k, v in expected.items())

    try:
        await wait_until(done, timeout, what=f"totals {expected}")
    except AssertionError:
        raise AssertionError(f"totals {totals(ing)} never reached {expected}") from None
    return totals(ing)


# --- payloads ----------------------------------------------------------------------------


def make_entries(
    n: int,
    client: str = "c1",
    *,
    start: int = 0,
    service: str = "checkout",
    host: str = "web-1",
    levels: Sequence[str] = ("INFO", "WARN", "ERROR", "DEBUG"),
) -> list[Any]:
    """``n`` valid entries of one client, ``seq`` from ``start``, distinct messages and stamps."""
    return [
        model.LogEntry(
            timestamp=BASE_TIME + dt.timedelta(milliseconds=i),
            level=levels[i % len(levels)],
            service=service,
            message=f"order {i} of {client} processed in {i % 97} ms",
            host=host,
            user_id=f"u{i % 13}",
            attributes={"region": "eu-west", "i": str(i)},
            client_id=client,
            seq=i,
        )
        for i in range(start, start + n)
    ]


def encode(fmt: str, entries: Sequence[Any], **options: Any) -> bytes:
    """One payload of ``entries`` in ``fmt`` (codec options such as ``octet_counting=False``)."""
    if fmt == "journald" and options.get("json_lines"):
        from workbench.codecs.journald import JournaldCodec

        return JournaldCodec(json_lines=True).encode(entries)
    if fmt == "syslog" and "octet_counting" in options:
        from workbench.codecs.syslog import SyslogCodec

        return SyslogCodec(octet_counting=options["octet_counting"]).encode(entries)
    return get_codec(fmt).encode(entries)


def framed(fmt: str, entries: Sequence[Any], batch: int = 50) -> bytes:
    """Length-prefixed frames (binary formats), ``batch`` entries per frame."""
    return b"".join(wire.frame(encode(fmt, entries[i : i + batch])) for i in range(0, len(entries), batch))


def header(fmt: str, **options: Any) -> bytes:
    return wire.make_header(fmt, **options).encode()


# --- senders -----------------------------------------------------------------------------


def tls_context(ing: Ingestor, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    assert ing.cert_path is not None, "the ingestor runs without TLS"
    return client_context(Path(ing.cert_path), cert=cert, key=key)


async def open_conn(
    ing: Ingestor, ctx: ssl.SSLContext | bool | None = True
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the ingestion port: TLS with the ingestor's own cert unless told otherwise."""
    if ctx is True:
        ctx = tls_context(ing)
    elif ctx is False:
        ctx = None
    return await asyncio.wait_for(
        asyncio.open_connection(HOST, ing.tcp_port, ssl=ctx, server_hostname=HOST if ctx else None), 10
    )


async def close_cleanly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Half-close (plain TCP) or close_notify (TLS), then read what the receiver still sends, to EOF."""
    await writer.drain()
    rest = b""
    if writer.can_write_eof():
        writer.write_eof()
        rest = await asyncio.wait_for(reader.read(), 20)
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await asyncio.wait_for(writer.wait_closed(), 10)
    return rest


async def send_tcp(
    ing: Ingestor, data: bytes, *, ctx: ssl.SSLContext | bool | None = True, chunk: int = 64 << 10
) -> bytes:
    """Send ``data`` on one connection in chunks and close cleanly; returns what was read back."""
    reader, writer = await open_conn(ing, ctx)
    for i in range(0, len(data), chunk):
        writer.write(data[i : i + chunk])
        await writer.drain()
    return await close_cleanly(reader, writer)


def send_udp(port: int, datagrams: Iterable[bytes], pace_every: int = 50) -> int:
    """Send datagrams to the UDP port (pausing a little every ``pace_every``); returns how many."""
    import socket

    count = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, (HOST, port))
            count += 1
            if count % pace_every == 0:
                time.sleep(0.002)
    return count


# --- reading back what was stored ---------------------------------------------------------


def segment_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.glob("log_*") if p.name.endswith((".jsonl", ".jsonl.zst")))


def read_segment(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    if path.name.endswith(".zst"):
        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def read_stored(data_dir: Path) -> list[dict[str, Any]]:
    """Every stored line of the data dir (open ``.jsonl`` segments and finished ``.jsonl.zst``)."""
    out: list[dict[str, Any]] = []
    for path in segment_files(data_dir):
        out.extend(read_segment(path))
    return out


def read_rejected(data_dir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((data_dir / "rejected").glob("rejected_*.jsonl")):
        out.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return out


def seqs_by_client(stored: Iterable[dict[str, Any]]) -> dict[str, Counter[int]]:
    out: dict[str, Counter[int]] = {}
    for rec in stored:
        out.setdefault(rec.get("client_id") or "", Counter())[rec.get("seq")] += 1
    return out


def assert_exactly_once(stored: Sequence[dict[str, Any]], expected: dict[str, int]) -> None:
    """Every seq ``0..n-1`` of each client stored exactly once, and nothing else."""
    got = seqs_by_client(stored)
    assert set(got) == set(expected), f"clients stored {sorted(got)} != sent {sorted(expected)}"
    for client, n in expected.items():
        counts = got[client]
        missing = sorted(set(range(n)) - set(counts))
        dupes = sorted(s for s, c in counts.items() if c > 1)
        extra = sorted(set(counts) - set(range(n)), key=str)
        assert not missing and not dupes and not extra, (
            f"client {client}: {len(missing)} missing (first {missing[:10]}), "
            f"{len(dupes)} duplicated (first {dupes[:10]}), unexpected {extra[:10]}"
        )


def assert_entry_fields(rec: dict[str, Any], fmt: str, transport: str = "tls") -> None:
    """A stored line of ``make_entries`` data: its fields and the stored extras."""
    i = rec["seq"]
    client = rec["client_id"]
    assert rec["message"] == f"order {i} of {client} processed in {i % 97} ms"
    assert rec["service"] == "checkout"
    assert rec["host"] == "web-1"
    assert rec["user_id"] == f"u{i % 13}"
    assert rec["attributes"]["region"] == "eu-west" and rec["attributes"]["i"] == str(i)
    assert rec["timestamp"] == model.utc_from_micros(
        model.micros_from_utc(BASE_TIME) + i * 1000
    ).isoformat().replace("+00:00", "Z")
    assert rec["format"] == fmt
    assert rec["transport"] == transport
    assert re.fullmatch(r"127\.0\.0\.1:\d+", rec["peer"])
    assert rec["received_at"].endswith("Z")


def zstd_cli_lines(path: Path) -> int:
    """Lines of a ``.zst`` file as the ``zstd`` tool decompresses it (it checks the checksum)."""
    out = subprocess.run(["zstd", "-dc", "-q", str(path)], capture_output=True, check=True, timeout=60)
    return out.stdout.count(b"\n")


# --- metrics ------------------------------------------------------------------------------

_SAMPLE = re.compile(
    r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\\\"n])*\",?)*)\})?"
    r" (?P<value>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|NaN|[-+]?Inf))"
    r"(?: -?\d+)?"
)
_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\n]|\\[\\\"n])*)\"")


def parse_prometheus(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """A strict parser of the Prometheus text format 0.0.4: ``{name: {labels: value}}``.

    Rejects a line that is not a comment or a sample, a sample whose family has no ``# TYPE``
    before it, a family typed twice, a duplicate series, and a missing final newline.
    """
    assert text.endswith("\n"), "exposition must end with a newline"
    types: dict[str, str] = {}
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                assert parts[2] not in types, f"line {n}: TYPE of {parts[2]} given twice"
                assert len(parts) == 4 and parts[3] in (
                    "counter",
                    "gauge",
                    "histogram",
                    "summary",
                    "untyped",
                ), f"line {n}: bad TYPE line {line!r}"
                types[parts[2]] = parts[3]
            elif len(parts) >= 3 and parts[1] == "HELP":
                pass
            continue
        m = _SAMPLE.fullmatch(line)
        assert m, f"line {n}: not a Prometheus sample: {line!r}"
        name = m.group("name")
        assert name in types, f"line {n}: sample of {name} before (or without) its # TYPE line"
        labels = tuple(sorted(_LABEL.findall(m.group("labels") or "")))
        series = out.setdefault(name, {})
        assert labels not in series, f"line {n}: duplicate series {name}{dict(labels)}"
        series[labels] = float(m.group("value"))
    return out


def metric_total(
    parsed: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str
) -> float:
    """Sum of a family's series whose labels include ``labels``."""
    return sum(v for key, v in parsed.get(name, {}).items() if all((k, labels[k]) in key for k in labels))


async def http_get(url: str, timeout: float = 10.0) -> tuple[int, str, str]:
    """(status, content type, body) of a GET."""
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as r,
    ):
        return r.status, r.headers.get("Content-Type", ""), await r.text()
