"""Settings of the schema registry: one frozen pydantic model (what ``registry --config-json`` takes)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PORT = 8081


class RegistryConfig(BaseModel):
    """Every setting of the registry (what ``registry --config-json`` takes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("registry-data")
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="0 picks a free port")
    auth: str | None = Field(None, description="USER:PASSWORD: require HTTP basic auth")
    seed: bool = Field(True, description="register the bundled log schemas when absent")
