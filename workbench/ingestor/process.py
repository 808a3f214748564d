"""What every ingestor process sets up, the parent and each worker alike: logging, the TLS
context, and (in a worker) its settings.

A worker does not import the settings model: the parent validated the configuration (pydantic,
``IngestorConfig``) and sends it as JSON; ``worker_settings`` gives the worker the same
attributes without validating again. Importing pydantic took about 0.5 s of a worker's 0.7 s
start and 5 MB of its memory (``python -X importtime``, issue 18: lean workers).
"""

from __future__ import annotations

import logging
import ssl
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from workbench.tls import ensure_self_signed, server_context

if TYPE_CHECKING:
    from workbench.ingestor.config import IngestorConfig

# the settings that are paths (sent as strings)
PATH_SETTINGS = ("data_dir", "cert", "key", "client_ca")


def setup_logging(level: int = logging.INFO) -> None:
    if not logging.getLogger("workbench").handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
        )
        logging.getLogger("workbench").addHandler(handler)
        logging.getLogger("workbench").setLevel(level)


def ssl_context_for(config: IngestorConfig) -> ssl.SSLContext | None:
    if not config.tls:
        return None
    cert, key = config.cert, config.key
    if cert is None or key is None:
        cert, key, _ = ensure_self_signed(config.data_dir / "tls")
    return server_context(cert, key, config.client_ca)


def worker_settings(dumped: dict[str, Any]) -> IngestorConfig:
    """The parent's ``IngestorConfig.model_dump(mode="json")`` back as an object with the same
    attributes (paths as ``Path``), for a worker: validated once, in the parent."""
    values = {k: Path(v) if k in PATH_SETTINGS and v is not None else v for k, v in dumped.items()}
    return SimpleNamespace(**values)  # type: ignore[return-value]
