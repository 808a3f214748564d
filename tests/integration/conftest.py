"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.docker_engine import busybox_image, engine, unavailable


@pytest.fixture(scope="module")
def busybox() -> Iterator[str]:
    """A Docker engine for the module (started when none runs) and the tag of a busybox image,
    for the tests that drive Docker's logging drivers; skip or fail as ``unavailable`` says."""
    with engine() as why:
        if why is not None:
            unavailable(f"no Docker engine: {why}")
        yield busybox_image()
