"""Load generator: realistic log patterns, pre-encoded payload pools, senders (TCP/TLS, UDP, file),
and the blackhole receiver that measures it. See ``docs/generator.md``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.generator.blackhole import Blackhole, BlackholeConfig
    from workbench.generator.config import BurstConfig, GeneratorConfig
    from workbench.generator.generator import Generator
    from workbench.generator.stats import Summary
else:
    from workbench._lazy import exports

    __getattr__ = exports(
        __name__,
        {
            "Blackhole": "workbench.generator.blackhole",
            "BlackholeConfig": "workbench.generator.blackhole",
            "BurstConfig": "workbench.generator.config",
            "GeneratorConfig": "workbench.generator.config",
            "Generator": "workbench.generator.generator",
            "Summary": "workbench.generator.stats",
        },
    )

__all__ = ["Blackhole", "BlackholeConfig", "BurstConfig", "Generator", "GeneratorConfig", "Summary"]
