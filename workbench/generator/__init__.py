"""Load generator: realistic log patterns, pre-encoded payload pools, senders (TCP/TLS, UDP, file),
and the blackhole receiver that measures it. See ``docs/generator.md``."""

from workbench.generator.blackhole import Blackhole, BlackholeConfig
from workbench.generator.config import BurstConfig, GeneratorConfig
from workbench.generator.generator import Generator
from workbench.generator.stats import Summary

__all__ = ["Blackhole", "BlackholeConfig", "BurstConfig", "Generator", "GeneratorConfig", "Summary"]
