"""Realistic records: the level mix, reproducibility, and flows that hang together."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import msgspec
import pytest

from workbench import model
from workbench.generator.patterns import LogFactory, ReplaySource


def test_level_mix_within_tolerance_over_100k_logs() -> None:
    factory = LogFactory(seed=1234)
    levels = Counter(factory.next()["level"] for _ in range(100_000))
    share = {lvl: n / 100_000 for lvl, n in levels.items()}
    assert share["ERROR"] == pytest.approx(0.05, abs=0.005)
    assert share["WARN"] == pytest.approx(0.10, abs=0.006)
    assert share["INFO"] + share["DEBUG"] == pytest.approx(0.85, abs=0.007)
    assert set(share) == {"ERROR", "WARN", "INFO", "DEBUG"}


def test_custom_mix() -> None:
    factory = LogFactory(seed=5, level_mix={"ERROR": 1, "INFO": 1})
    levels = Counter(factory.next()["level"] for _ in range(20_000))
    assert levels["ERROR"] / 20_000 == pytest.approx(0.5, abs=0.02) and set(levels) == {"ERROR", "INFO"}


def test_same_seed_same_records_other_seed_others() -> None:
    a = msgspec.json.encode([r for f in [LogFactory(seed=42)] for r in (f.next() for _ in range(2000))])
    b = msgspec.json.encode([r for f in [LogFactory(seed=42)] for r in (f.next() for _ in range(2000))])
    c = msgspec.json.encode([r for f in [LogFactory(seed=43)] for r in (f.next() for _ in range(2000))])
    assert a == b and a != c


def test_records_are_valid_and_varied() -> None:
    factory = LogFactory(seed=9)
    records = [factory.next() for _ in range(5000)]
    entries = model.to_entries(records)
    assert len({e.service for e in entries}) >= 6
    assert len({e.message for e in entries}) > 2000  # templates with variable parts
    assert all(e.user_id and e.session_id and e.trace_id for e in entries)
    stamps = [e.timestamp for e in entries]
    assert stamps == sorted(stamps)


def test_sessions_flow_login_act_pay_logout() -> None:
    factory = LogFactory(seed=3, concurrent_sessions=4)
    by_session: dict[str, list[dict]] = defaultdict(list)
    for _ in range(20_000):
        rec = factory.next()
        by_session[rec["session_id"]].append(rec)
    complete = 0
    for recs in by_session.values():
        assert len({r["user_id"] for r in recs}) == 1  # one user per session token
        msgs = [r["message"] for r in recs if r["level"] == "INFO"]
        if msgs and "logged out" in msgs[-1]:
            complete += 1
            assert "logged in" in msgs[0]
            order = next(i for i, m in enumerate(msgs) if m.startswith("order "))
            assert all("logged out" not in m for m in msgs[:order])
            paid = [r for r in recs if r["service"] == "payment" and r["level"] in ("INFO", "ERROR")]
            assert len(paid) <= 1  # it pays once, or fails once, then logs out
            if paid and paid[0]["level"] == "ERROR":
                assert "failed" in paid[0]["message"]
    assert complete > 100


def test_replay_of_a_real_syslog_file(loghub_dir: Path) -> None:
    src = ReplaySource(loghub_dir / "Linux_2k.log")
    recs = [src.next() for _ in range(2100)]  # cycles past the end
    assert recs[0]["host"] == "combo" and recs[0]["service"].startswith("sshd")
    assert recs[2000]["message"] == recs[0]["message"]
    model.to_entries(recs)


def test_replay_of_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    from workbench.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot read"):
        ReplaySource(tmp_path / "nope.log")
