"""The promotion rules every HTTP-family and stream protocol shares (``shippers.mapping``)."""

from __future__ import annotations

from workbench.codecs.base import INVALID
from workbench.shippers.mapping import promote, validated


def _one(seq: str) -> tuple[list[int | None], list[str]]:
    record = {
        "timestamp": "2026-12-03T12:00:00Z",
        "level": "INFO",
        "service": "s",
        "message": "m",
        "host": "h",
    }
    pairs = {"seq": seq}
    promote(record, pairs)
    out = validated([record], [0], lambda i: b"", [])
    return [e.seq for e in out.entries], [e.reason for e in out.errors]


def test_a_seq_of_digits_is_promoted_and_one_past_int64_is_rejected_not_raised() -> None:
    assert _one("0042") == ([42], [])
    assert _one("9223372036854775807") == ([9223372036854775807], [])
    assert _one("9223372036854775808") == ([], [INVALID])
    assert _one("9" * 5000) == ([], [INVALID])  # int() refuses 4,300+ digits: this raised before
