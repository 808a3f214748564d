"""The registries of formats (``workbench.formats``) and of listeners (``ingestor.listeners``):
each entry is complete and agrees with what its class says, so adding one is the two edits
``docs/architecture.md`` shows."""

from __future__ import annotations

import importlib
from typing import get_args

import pytest

from workbench import formats, wire
from workbench.codecs import get
from workbench.codecs.base import CodecBase
from workbench.generator.config import GeneratorConfig
from workbench.ingestor import listeners
from workbench.ingestor.config import IngestorConfig
from workbench.scenario.model import GeneratorGroup


def test_the_format_literal_and_the_specs_name_the_same_formats() -> None:
    assert list(get_args(formats.Format)) == list(formats.SPECS) == list(formats.FORMATS)
    assert all(spec.name == name for name, spec in formats.SPECS.items())


@pytest.mark.parametrize("name", formats.FORMATS)
def test_each_spec_names_a_codec_that_agrees_with_it(name: str) -> None:
    spec = formats.SPECS[name]
    cls = formats.codec_class(name)
    assert issubclass(cls, CodecBase)
    assert cls.name == name and cls.binary == spec.binary
    assert spec.framing in formats.FRAMINGS
    assert (spec.framing == "length") == spec.binary  # binary formats are length-framed, text ones never
    assert spec.detect, "say how detection tells it from the others"
    codec = get(name)
    assert type(codec) is cls
    # a transcoder is declared exactly where the class has its own ``stored``
    assert (cls.stored is not CodecBase.stored) == spec.transcoder


def test_the_registry_feeds_wire_the_generator_and_the_scenario() -> None:
    assert {n: s.framing for n, s in formats.SPECS.items()} == wire.DEFAULT_FRAMING
    assert set(formats.BINARY_FORMATS) == {"proto", "avro"}
    assert set(formats.UDP_FORMATS) == {"json", "raw", "syslog"}
    for name in formats.FORMATS:  # every format is a valid generator and scenario setting
        assert GeneratorConfig(format=name).format == name
        assert GeneratorGroup(format=name).format == name
    with pytest.raises(ValueError, match="UDP carries json, raw, syslog lines, not proto"):
        GeneratorConfig(format="proto", transport="udp")
    for name in formats.BINARY_FORMATS:
        with pytest.raises(wire.FramingError, match=f"format {name} needs framing=length"):
            wire.parse_header(f"LOGWB/1 format={name} framing=lines\n".encode())


@pytest.mark.parametrize("kind", list(listeners.LISTENERS))
def test_each_listener_entry_loads_a_class_of_the_listener_shape(kind: str) -> None:
    spec = listeners.LISTENERS[kind]
    module, _, name = spec.cls.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert cls.kind == kind
    for method in ("start", "stop_accepting", "busy", "close", "housekeeping"):
        assert callable(getattr(cls, method, None)), method
    assert spec.port in IngestorConfig.model_fields


def test_every_scenario_ingestor_setting_is_the_ingestor_setting_of_that_name() -> None:
    """A new scenario ingestor setting is one line in IngestorSettings: the runner hands it over by
    name (``targets.ingestor_config``), so a name IngestorConfig does not know would fail here."""
    from workbench.scenario.model import IngestorSettings
    from workbench.scenario.targets import RENAMED, RUNNER_SETTINGS

    for name, field in IngestorSettings.model_fields.items():
        if name in RUNNER_SETTINGS:
            continue
        target = IngestorConfig.model_fields[RENAMED.get(name, name)]
        assert field.annotation == target.annotation or name == "rotate", name
