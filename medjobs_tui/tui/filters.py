"""The `/` filter of a tab: what the user typed, parsed, and applied to a table's rows.

Syntax, words separated by spaces: ``job:backup``, ``status:dead,failed``, ``since:2h`` (or 30m, 7d, a date),
``level:warning`` (Log), ``column:text`` for any other column of the tab (``kind:alert``,
``audience:staff``), and bare words, which must each appear in some cell. Matching ignores case.
On the Queue, job, status, since and the words go to the console (so a run older than the newest 200
is found too); every tab also filters the rows it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Mapping, Sequence

from medjobs_tui.console import DOSE_STATES, NOTIFICATION_STATES, RUN_STATES, RunFilter
from medjobs_tui.console.words import parse_since
from medjobs_tui.tui.tables import Column, Row

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

STATUS_WORDS: Mapping[str, Sequence[str]] = {"runs": RUN_STATES, "notifications": NOTIFICATION_STATES}
"""The `status:` words of a tab by default (Queue, Evidence, Notifications), by what has them."""

TAB_STATUS_WORDS: Mapping[str, Mapping[str, Sequence[str]]] = {
    "doses": {"doses": tuple(s.replace(" ", "_") for s in DOSE_STATES)},
}
"""Tabs whose status column holds other words: the Doses tab's dose statuses (``before import`` is written
``before_import``: a filter word has no space)."""


def status_words(tab: str | None) -> Mapping[str, Sequence[str]]:
    """The `status:` words tab ``tab`` knows, by what has them."""
    return TAB_STATUS_WORDS.get(tab or "", STATUS_WORDS)


class FilterError(ValueError):
    """The filter text cannot be read; the message says which word and what is allowed."""


@dataclass(frozen=True)
class TableFilter:
    """A parsed filter: ``fields`` (column key -> wanted substring), ``words``, and the Queue's ``since``/``statuses``."""

    text: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    words: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    level: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def __bool__(self) -> bool:
        return bool(self.text)

    def run_filter(self) -> RunFilter:
        """The part the console applies to the Queue's runs."""
        job = dict(self.fields).get("job")
        return RunFilter(job=job, statuses=self.statuses, since=self.since,
                         text=" ".join(self.words) or None)

    def keep(self, columns: Sequence[Column], rows: Sequence[Row]) -> list[Row]:
        """The rows that match every field and every word (statuses: the status cell is one of them)."""
        index = {c.key: i for i, c in enumerate(columns)}
        out = []
        for key, cells in rows:
            texts = [_plain(c).lower() for c in cells]
            if self.statuses and "status" in index and texts[index["status"]].replace(" ", "_") not in self.statuses:
                continue
            if any(name in index and value not in texts[index[name]] for name, value in self.fields):
                continue
            if any(not any(word in t for t in texts) for word in self.words):
                continue
            out.append((key, cells))
        return out


def parse(text: str, columns: Sequence[Column], now: datetime, zone: tzinfo | None = None,
          tab: str | None = None) -> TableFilter:
    """Read a filter for tab ``tab`` with ``columns`` (dates in the clinic's ``zone``; `status:` words of that tab,
    ``status_words``). Raises FilterError naming the word that cannot be read."""
    fields, words, statuses, since, level = [], [], (), None, None
    keys = {c.key for c in columns} | {c.label.lower() for c in columns}
    label_to_key = {c.label.lower(): c.key for c in columns}
    for word in text.split():
        name, sep, value = word.partition(":")
        name, value = name.lower(), value.lower()
        if not sep:
            words.append(word.lower())
            continue
        if not value:
            raise FilterError(f"{word!r}: say what {name} should be, e.g. {name}:something")
        if name == "status":
            statuses = tuple(v for v in value.split(",") if v)
            known = status_words(tab)
            unknown = [v for v in statuses if not any(v in words for words in known.values())]
            if unknown and "status" in keys:
                raise FilterError(f"unknown status {', '.join(unknown)}; "
                                  + "; ".join(f"{what}: {', '.join(words)}" for what, words in known.items()))
        elif name == "since":
            try:
                since = parse_since(value, now, zone)
            except ValueError as exc:
                raise FilterError(str(exc)) from None
        elif name == "level":
            if value.upper() not in LEVELS:
                raise FilterError(f"unknown level {value!r}; levels: {', '.join(l.lower() for l in LEVELS)}")
            level = value.upper()
        elif name in keys:
            fields.append((label_to_key.get(name, name), value))
        else:
            known = ", ".join(sorted({c.key for c in columns} | {"since"}))
            raise FilterError(f"{word!r}: this tab has no {name!r} column; filter on {known}, or bare words")
    return TableFilter(text=" ".join(text.split()), fields=tuple(fields), words=tuple(words), statuses=statuses,
                       since=since, level=level)


def _plain(cell: object) -> str:
    return getattr(cell, "plain", str(cell))
