"""The ``registry`` verb: ``python -m workbench registry --port 8081 --data-dir DIR``."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from workbench import contract, eventloop
from workbench.registry.config import DEFAULT_PORT, RegistryConfig


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "registry",
        help="run the schema registry (Confluent Schema Registry REST API, SQLite storage)",
        description="Run the schema registry. Bundled log schemas are seeded as logs-value (AVRO), "
        "logs-proto-value (PROTOBUF) and logs-json-value (JSON). Stops cleanly on SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="HTTP port, 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--data-dir", default="registry-data", help="directory of the SQLite store (default: %(default)s)"
    )
    parser.add_argument("--auth", metavar="USER:PASSWORD", default=None, help="require HTTP basic auth")
    parser.add_argument("--no-seed", action="store_true", help="do not register the bundled schemas")
    contract.add_argument(parser, RegistryConfig)
    parser.set_defaults(func=run, _parser=parser)


def config_from_args(args: argparse.Namespace) -> RegistryConfig:
    return contract.from_args(args, RegistryConfig, "registry", _from_flags)


def _from_flags(args: argparse.Namespace) -> RegistryConfig:
    return RegistryConfig(data_dir=args.data_dir, host=args.host, port=args.port, auth=args.auth,
                          seed=not args.no_seed)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from workbench.registry.service import Registry  # aiohttp and the schema parsers: only to serve

    registry = Registry.from_config(config_from_args(args))
    eventloop.run(registry.serve_until_signal())
    return 0
