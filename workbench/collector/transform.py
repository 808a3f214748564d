"""Filtering and tagging of records.

``RecordFilter`` keeps a record when ``include`` matches its raw text (``--filter``) and
``exclude`` does not (``--exclude``); a multi-line record is matched as a whole. ``Tagger``
adds the tags of every rule that matches to the entry as the attribute ``tags`` (comma-joined,
in rule order, each once); a rule without ``field`` matches the raw record text, one with a
field matches that field of the entry (``attributes.NAME`` for an attribute).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from workbench.collector.config import TagRule

TAGS_ATTRIBUTE = "tags"


class RecordFilter:
    def __init__(self, include: str | None, exclude: str | None) -> None:
        self.include = re.compile(include.encode()) if include else None
        self.exclude = re.compile(exclude.encode()) if exclude else None
        self.active = self.include is not None or self.exclude is not None

    def keep(self, record: bytes) -> bool:
        if self.include is not None and self.include.search(record) is None:
            return False
        return self.exclude is None or self.exclude.search(record) is None

    def apply(self, records: list[bytes]) -> list[bytes]:
        inc, exc = self.include, self.exclude
        if inc is not None:
            records = [r for r in records if inc.search(r) is not None]
        if exc is not None:
            records = [r for r in records if exc.search(r) is None]
        return records


def _getter(field: str) -> Any:
    if field.startswith("attributes."):
        name = field[len("attributes.") :]
        return lambda e: e.attributes.get(name)
    return lambda e: getattr(e, field)


class Tagger:
    def __init__(self, rules: Sequence[TagRule]) -> None:
        self.raw_rules = [(r.tag, re.compile(r.pattern.encode())) for r in rules if r.field is None]
        self.field_rules = [(r.tag, _getter(r.field), re.compile(r.pattern)) for r in rules if r.field]
        self.order = {r.tag: i for i, r in reversed(list(enumerate(rules)))}
        self.active = bool(rules)
        self.needs_raw = bool(self.raw_rules)

    def apply(self, entries: Sequence[Any], raws: Sequence[bytes] | None) -> Counter[str]:
        """Tag entries in place (``raws`` parallel to them when a rule needs the raw text)."""
        counts: Counter[str] = Counter()
        for i, e in enumerate(entries):
            tags: list[str] = []
            if raws is not None:
                raw = raws[i]
                tags += [tag for tag, pat in self.raw_rules if pat.search(raw) is not None]
            for tag, get, pat in self.field_rules:
                value = get(e)
                if value is not None and pat.search(str(value)) is not None:
                    tags.append(tag)
            if tags:
                unique = sorted(set(tags), key=self.order.__getitem__)
                existing = e.attributes.get(TAGS_ATTRIBUTE)
                if existing:
                    unique = [t for t in existing.split(",") if t] + [
                        t for t in unique if t not in existing.split(",")
                    ]
                e.attributes[TAGS_ATTRIBUTE] = ",".join(unique)
                counts.update(unique)
        return counts
