"""Settings, tag files and the metrics text: names and errors users see."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from workbench.collector.cli import parse_address
from workbench.collector.config import CollectorConfig, load_tag_rules, parse_tag_flag
from workbench.collector.metrics import CollectorMetrics
from workbench.errors import ConfigError


def test_config_is_strict_and_frozen() -> None:
    with pytest.raises(ValidationError, match="extra"):
        CollectorConfig(inputs=("a",), flush_interval=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="regular expression"):
        CollectorConfig(inputs=("a",), include_regex="(")
    c = CollectorConfig(inputs=("a",))
    with pytest.raises(ValidationError):
        c.inputs = ("b",)  # type: ignore[misc]
    assert str(c.resolved_output) == "collected_logs/collected.jsonl"


def test_tags_file(tmp_path: Path) -> None:
    f = tmp_path / "tags.yaml"
    f.write_text("- {tag: auth, pattern: '(?i)login'}\n- tag: payment\n  pattern: charge\n  field: message\n")
    rules = load_tag_rules(f)
    assert [(r.tag, r.field) for r in rules] == [("auth", None), ("payment", "message")]
    f.write_text("rules:\n  - {tag: api, pattern: x, field: attributes.route}\n")
    assert load_tag_rules(f)[0].field == "attributes.route"
    f.write_text("- {tag: bad, pattern: '('}\n")
    with pytest.raises(ConfigError, match="rule 1"):
        load_tag_rules(f)
    f.write_text("- {tag: x, pattern: y, field: nosuch}\n")
    with pytest.raises(ConfigError, match="field"):
        load_tag_rules(f)
    assert parse_tag_flag("auth=login|password").pattern == "login|password"
    with pytest.raises(ConfigError, match="NAME=REGEX"):
        parse_tag_flag("nothing")


def test_forward_address() -> None:
    assert parse_address("127.0.0.1:3001") == ("127.0.0.1", 3001)
    assert parse_address("[::1]:3001") == ("::1", 3001)
    with pytest.raises(ConfigError):
        parse_address("localhost")


def test_prometheus_names() -> None:
    m = CollectorMetrics()
    m.add_file("lines", "/var/log/a.log", 3)
    m.add("entries", 2, "INFO")
    m.add("tags", 1, "auth")
    m.add("parse_errors", 1, "malformed")
    text = m.prometheus()
    for line in ('collector_lines_total{file="/var/log/a.log"} 3', 'collector_entries_total{level="INFO"} 2',
                 'collector_tags_total{tag="auth"} 1', 'collector_parse_errors_total{reason="malformed"} 1',
                 "collector_filtered_total 0", "collector_up 1"):  # fmt: skip
        assert line in text.splitlines()
