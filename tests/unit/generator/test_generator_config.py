"""Flags of ``generate``: the original client's names and defaults, the new ones, and their errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from workbench.errors import ConfigError
from workbench.generator import cli
from workbench.generator.config import (
    BurstConfig,
    GeneratorConfig,
    parse_burst,
    parse_level_mix,
    parse_seconds,
)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    return parser.parse_args(["generate", *argv])


def test_original_flags_keep_their_defaults() -> None:
    args = _parse()
    assert (args.batch, args.interval, args.address, args.tcp_port, args.udp_port) == (
        100, 1000, "127.0.0.1", 3001, 3002,
    )  # fmt: skip
    assert args.udp is False and args.format == "json"
    cfg = cli.config_from_args(args)
    assert cfg.transport == "tcp" and cfg.tls and not cfg.ack
    assert cfg.batch_size == 100 and cfg.interval_ms == 1000 and cfg.per_client_rate() == 100.0


def test_flags_map_to_config() -> None:
    cfg = cli.config_from_args(_parse(
        "--udp", "--format", "syslog", "--rate", "5000", "--clients", "4", "--count", "10",
        "--duration", "2m", "--burst", "5x,2s,10s", "--seed", "7", "--level-mix", "ERROR=50,INFO=50",
    ))  # fmt: skip
    assert cfg.transport == "udp" and cfg.format == "syslog" and cfg.port == 3002
    assert cfg.per_client_rate() == 1250.0
    assert cfg.per_client_counts() == [3, 3, 2, 2]
    assert cfg.duration_seconds == 120.0 and cfg.seed == 7
    assert cfg.burst == BurstConfig(factor=5, length_seconds=2, period_seconds=10)
    assert cfg.level_mix == {"ERROR": 50.0, "INFO": 50.0}


def test_output_file_and_tls_flags(tmp_path: Path) -> None:
    cfg = cli.config_from_args(_parse("--output", str(tmp_path / "x.csv"), "--file-format", "csv"))
    assert cfg.transport == "file" and cfg.file_format == "csv"
    cfg = cli.config_from_args(_parse("--no-tls", "--ack", "--format", "proto"))
    assert not cfg.tls and cfg.ack


@pytest.mark.parametrize(
    "argv, message",
    [
        (("--udp", "--format", "proto"), "UDP carries"),
        (("--udp", "--ack"), "ack mode needs TCP"),
        (("--ca", "x.pem", "--insecure"), "either a CA file or insecure"),
        (("--burst", "5,2s,10s"), "FACTORx"),
        (("--burst", "5x,20s,10s"), "must not exceed"),
        (("--level-mix", "LOUD=5"), "unknown levels"),
        (("--clients", "0"), "clients"),
        (("--duration", "soon"), "not a duration"),
    ],
)
def test_bad_flags_are_one_line_config_errors(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cli.config_from_args(_parse(*argv))


def test_config_is_frozen_and_forbids_unknown_fields() -> None:
    with pytest.raises(ValueError, match="interval"):
        GeneratorConfig(intervall_ms=5)  # type: ignore[call-arg]
    cfg = GeneratorConfig()
    with pytest.raises(ValueError):
        cfg.batch_size = 5  # type: ignore[misc]


def test_small_parsers() -> None:
    assert parse_seconds("500ms") == 0.5 and parse_seconds("1.5m") == 90 and parse_seconds("3") == 3
    burst = parse_burst("3x, 1s, 4s")
    assert burst.factor_at(0.5) == 3 and burst.factor_at(1.5) == 1 and burst.factor_at(4.2) == 3
    assert parse_level_mix("error=5%,warn=10") == {"ERROR": 5.0, "WARN": 10.0}
    with pytest.raises(ConfigError):
        parse_level_mix("ERROR")
