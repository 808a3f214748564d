"""Tell the formats apart from their bytes: per line, and per stream from its first bytes.

Rules, first match wins (``docs/protocol.md`` has the table):

* first non-blank byte ``{``: JSON, or journald JSON when the object has journal fields
  (``__REALTIME_TIMESTAMP``, ``__CURSOR``, or ``MESSAGE`` with ``PRIORITY``). A line that opens
  with ``{`` is never raw, even when it is broken JSON: it is then rejected as JSON.
* ``<PRI>``, ``LEN <PRI>`` (RFC 6587 octet counting) or an RFC 3164 ``Mmm dd hh:mm:ss`` stamp:
  syslog.
* ``NAME=value`` with an upper-case journal field name: journald export format.
* anything else: raw.
"""

from __future__ import annotations

import re

from workbench.codecs.timeparse import BSD_STAMP

JOURNAL_JSON_KEYS = (b'"__REALTIME_TIMESTAMP"', b'"__CURSOR"')
# a quoted name followed by a colon is a key, not a value that happens to spell one
_JOURNAL_KEY = re.compile(rb'(?<!\\)"(?:__REALTIME_TIMESTAMP|__CURSOR)"\s*:')
_MESSAGE_KEY = re.compile(rb'(?<!\\)"MESSAGE"\s*:')
_PRIORITY_KEY = re.compile(rb'(?<!\\)"PRIORITY"\s*:')
_SYSLOG = re.compile(rb"<\d{1,3}>|\d{1,10} <\d{1,3}>|" + BSD_STAMP.encode() + rb" ")
_JOURNAL_EXPORT = re.compile(rb"_{0,2}[A-Z0-9][A-Z0-9_]*(=|\n)")


def _is_journal_json(line: bytes) -> bool:
    if not any(k in line for k in (*JOURNAL_JSON_KEYS, b'"PRIORITY"')):  # the common case: plain JSON
        return False
    return _JOURNAL_KEY.search(line) is not None or (
        _MESSAGE_KEY.search(line) is not None and _PRIORITY_KEY.search(line) is not None
    )


def detect_line(line: bytes) -> str:
    """``json``, ``journald``, ``syslog`` or ``raw`` for one text line."""
    head = line.lstrip()
    if head[:1] == b"{":
        return "journald" if _is_journal_json(head) else "json"
    if _SYSLOG.match(head):
        return "syslog"
    if _JOURNAL_EXPORT.match(line):
        return "journald"
    return "raw"


def detect_lines(lines: list[bytes]) -> dict[str, list[int]]:
    """Indexes of the lines of each format."""
    out: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        out.setdefault(detect_line(line), []).append(i)
    return out
