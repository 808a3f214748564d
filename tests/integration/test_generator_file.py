"""``--output FILE``: each file format read back; ``--seed`` gives the same bytes."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
from pathlib import Path

import msgspec

from workbench import model
from workbench.codecs.raw import RawCodec
from workbench.generator import Generator, GeneratorConfig

START = dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC)


def _write(path: Path, file_format: str, seed: int = 7, **more: object) -> GeneratorConfig:
    cfg = GeneratorConfig(transport="file", output_file=path, file_format=file_format, count=1000, clients=2,  # type: ignore[arg-type]
                          batch_size=64, interval_ms=0, seed=seed, client_prefix="run", start_time=START,
                          pool_logs=2000, stats_interval_seconds=0, **more)  # fmt: skip
    asyncio.run(Generator(cfg).run())
    return cfg


def _check(entries: list) -> None:
    by_client: dict[str, list[int]] = {}
    for e in entries:
        by_client.setdefault(e.client_id, []).append(e.seq)
    assert {k: sorted(v) for k, v in by_client.items()} == {
        "run-0": list(range(500)),
        "run-1": list(range(500)),
    }
    assert {e.timestamp for e in entries} == {START}


def test_json_file(tmp_path: Path) -> None:
    _write(tmp_path / "out.jsonl", "json")
    _check(msgspec.json.Decoder(model.LogEntry).decode_lines((tmp_path / "out.jsonl").read_bytes()))


def test_text_file(tmp_path: Path) -> None:
    _write(tmp_path / "out.log", "text")
    decoded = RawCodec().decode((tmp_path / "out.log").read_bytes())
    assert not decoded.errors
    _check(decoded.entries)


def test_csv_file(tmp_path: Path) -> None:
    _write(tmp_path / "out.csv", "csv")
    with (tmp_path / "out.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(model.FIELDS)
    records = [
        {
            **{k: v for k, v in r.items() if v != ""},
            "seq": int(r["seq"]),
            "attributes": json.loads(r["attributes"]),
        }
        for r in rows
    ]
    _check(model.to_entries(records))


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        _write(tmp_path / f"{name}.jsonl", "json", seed=seed)
    a, b, c = ((tmp_path / f"{n}.jsonl").read_bytes() for n in "abc")
    assert a == b and a != c and len(a) > 100_000
