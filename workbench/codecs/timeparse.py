"""Timestamps of the text formats, parsed to UTC datetimes and formatted back.

Offsets are converted to UTC; text with no offset is taken as UTC (documented in
``docs/protocol.md``). BSD syslog stamps carry no year: the year is the receiver's, or the year
before when that would put the stamp more than a day in the future (December logs read in
January).
"""

from __future__ import annotations

import datetime as dt
import re

from workbench.model import UTC

MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
BSD_STAMP = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-3]\d \d\d:\d\d:\d\d"
ISO_STAMP = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|z|[+-]\d\d:?\d\d)?"


def parse_iso(text: str) -> dt.datetime | None:
    """RFC 3339 / ISO 8601 to an aware UTC datetime; None when it is not one."""
    try:
        ts = dt.datetime.fromisoformat(text)
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: before year 1 or after 9999 once in UTC
        return None


def parse_bsd(text: str, now: dt.datetime) -> dt.datetime | None:
    """``Mmm dd hh:mm:ss`` (RFC 3164) to UTC, the year inferred from ``now``."""
    try:
        month = MONTHS[text[:3]]
        day = int(text[4:6])
        hh, mm, ss = int(text[7:9]), int(text[10:12]), int(text[13:15])
        ts = dt.datetime(now.year, month, day, hh, mm, ss, tzinfo=UTC)
    except (KeyError, ValueError):
        return None
    if ts - now > dt.timedelta(days=1):
        ts = ts.replace(year=now.year - 1)
    return ts


def format_iso(ts: dt.datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z``: ``2025-06-30T21:59:23.123456Z``."""
    if ts.utcoffset():
        ts = ts.astimezone(UTC)
    return (
        f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}"
        f".{ts.microsecond:06d}Z"
    )


_APACHE = re.compile(r"\w{3} (\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})")


def parse_apache(text: str) -> dt.datetime | None:
    """``Sun Dec 04 04:47:44 2005`` (Apache error log) to UTC."""
    m = _APACHE.fullmatch(text)
    if not m or m.group(1) not in MONTHS:
        return None
    mon, day, hh, mm, ss, year = m.groups()
    try:
        return dt.datetime(int(year), MONTHS[mon], int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    except ValueError:
        return None
