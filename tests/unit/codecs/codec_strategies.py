"""Hypothesis strategies of valid log entries, and the helpers the codec tests share.

``entries()`` draws entries anywhere inside ``schemas/log_entry.schema.json``: any Unicode text
(emoji, CJK, control characters, NUL), empty and full attribute maps, the maximum message and
attribute sizes, ``seq`` up to 2**63-1, microsecond UTC timestamps from year 1 to 9999. A codec
whose format cannot carry some of that narrows one argument and says why in its test.

This folder has no ``__init__.py`` (a package named ``codecs`` would shadow the standard
library), so test modules import this one by its bare name, from pytest's rootdir-relative path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from workbench import model
from workbench.schemas import json_schema

_PROPS = json_schema()["properties"]
MAX_MESSAGE = _PROPS["message"]["maxLength"]
MAX_SHORT = _PROPS["service"]["maxLength"]
MAX_ATTRIBUTES = _PROPS["attributes"]["maxProperties"]
MAX_ATTRIBUTE_VALUE = _PROPS["attributes"]["additionalProperties"]["maxLength"]
MAX_SEQ = _PROPS["seq"]["maximum"]

UTC = dt.UTC
EPOCH = model.EPOCH
MIN_TS = dt.datetime(1, 1, 1, tzinfo=UTC)
MAX_TS = dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)

# hypothesis profile of every codec property test: moderate, no deadline (CI machines vary)
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SAMPLE_TEXT = "ascii, café, 日本語のログ, 😀🚀, tab\there, nul\x00, bell\x07, ‮rtl, ZWJ 👩‍💻"

# any code point UTF-8 can carry (no lone surrogates), control characters included
ANY_CHAR = st.characters(codec="utf-8")
ANY_TEXT = st.text(ANY_CHAR, max_size=40)
# printable US-ASCII without space: what syslog header fields may hold
PRINTABLE_ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


def big_text(size: int, alphabet: str = SAMPLE_TEXT) -> str:
    """``size`` characters cycling through ``alphabet`` (built once, not drawn: drawing 64 K chars is slow)."""
    reps = size // len(alphabet) + 1
    return (alphabet * reps)[:size]


def full_attributes(key_prefix: str = "k", alphabet: str = SAMPLE_TEXT) -> dict[str, str]:
    """The largest attribute map the schema admits: 128 keys, each value 8192 characters."""
    value = big_text(MAX_ATTRIBUTE_VALUE, alphabet)
    return {f"{key_prefix}{i}": value for i in range(MAX_ATTRIBUTES)}


_BIG_MESSAGE = big_text(MAX_MESSAGE)
_FULL_ATTRIBUTES = full_attributes()


def timestamps(
    min_value: dt.datetime = MIN_TS, max_value: dt.datetime = MAX_TS
) -> st.SearchStrategy[dt.datetime]:
    return st.datetimes(
        min_value=min_value.replace(tzinfo=None),
        max_value=max_value.replace(tzinfo=None),
        timezones=st.just(UTC),
    )


def _or(strategy: st.SearchStrategy[Any] | None, default: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return default if strategy is None else strategy


def entries(
    *,
    text: st.SearchStrategy[str] = ANY_TEXT,
    service: st.SearchStrategy[str] | None = None,
    host: st.SearchStrategy[str] | None = None,
    message: st.SearchStrategy[str] | None = None,
    attr_key: st.SearchStrategy[str] | None = None,
    attr_value: st.SearchStrategy[str] | None = None,
    big_message: str | None = None,
    big_attributes: dict[str, str] | None = None,
    ts: st.SearchStrategy[dt.datetime] | None = None,
) -> st.SearchStrategy[Any]:
    """Valid ``LogEntry`` objects; each argument narrows one field for a format that cannot carry it all.

    The largest message and attribute map come in about one entry of twenty each (and shrink away
    towards the small cases). Strategies are built once here, not per draw: that is most of the
    cost of drawing.
    """
    text_or_none = st.none() | text
    big = _BIG_MESSAGE if big_message is None else big_message
    full = _FULL_ATTRIBUTES if big_attributes is None else big_attributes
    small_attrs = st.dictionaries(_or(attr_key, text), _or(attr_value, text), min_size=1, max_size=6)
    attrs = st.integers(0, 19).flatmap(
        lambda k: st.just({}) if k < 3 else st.just(full) if k == 19 else small_attrs
    )
    small_messages = _or(message, text)
    messages = st.integers(0, 19).flatmap(lambda k: st.just(big) if k == 19 else small_messages)
    record = st.fixed_dictionaries(
        {
            "timestamp": _or(ts, timestamps()),
            "level": st.sampled_from(model.LEVELS),
            "service": _or(service, st.text(ANY_CHAR, min_size=1, max_size=20) | st.just("x" * MAX_SHORT)),
            "message": messages,
            "host": _or(host, text),
            "user_id": text_or_none,
            "session_id": text_or_none,
            "trace_id": text_or_none | st.just("4bf92f3577b34da6a3ce929d0e0e4736"),
            "client_id": text_or_none,
            "seq": st.none() | st.integers(0, MAX_SEQ) | st.just(MAX_SEQ),
            "attributes": attrs,
        }
    )
    return record.map(model.to_entry)


def batches(entry: st.SearchStrategy[Any] | None = None, max_size: int = 5) -> st.SearchStrategy[list[Any]]:
    return st.lists(_or(entry, entries()), min_size=1, max_size=max_size)


def make_entry(**overrides: Any) -> Any:
    """A plain valid entry for hand-written cases."""
    record: dict[str, Any] = {
        "timestamp": dt.datetime(2025, 6, 30, 21, 59, 23, 123_000, tzinfo=UTC),
        "level": "ERROR",
        "service": "payment-api",
        "message": "charge failed",
        "host": "web-1",
        "user_id": "42",
        "attributes": {"region": "eu-west-1"},
        "seq": 7,
    }
    record.update(overrides)
    return model.to_entry(record)


def sample_batch() -> list[Any]:
    """A few varied entries: every level, optional fields set and unset, unicode, empty attributes."""
    out = []
    for i, level in enumerate(model.LEVELS):
        out.append(
            make_entry(
                level=level,
                seq=i,
                message=f"event {i}: {SAMPLE_TEXT if i % 2 else 'plain'}",
                attributes={} if i % 3 == 0 else {"i": str(i), "city": "東京"},
                user_id=None if i % 2 else f"user-{i}",
                trace_id="4bf92f3577b34da6a3ce929d0e0e4736" if i == 3 else None,
            )
        )
    return out


def reasons(decoded: Any) -> list[str]:
    return [e.reason for e in decoded.errors]
