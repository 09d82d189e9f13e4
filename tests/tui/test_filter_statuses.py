"""The table filter's ``status:`` word knows every run state and every notification status: ``status:inbox_only``
on the Notifications tab (a patient's reminder that reached only the in-app inbox) was refused as unknown, as were
``unconfirmed`` and ``expired``."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from medjobs_tui.console import NOTIFICATION_STATES, RUN_STATES
from medjobs_tui.tui import filters
from medjobs_tui.tui.tables import TABS

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
COLUMNS = next(t for t in TABS if t.id == "notifications").columns


@pytest.mark.parametrize("status", [*NOTIFICATION_STATES, *RUN_STATES])
def test_every_status_a_row_can_have_is_a_filter_word(status):
    filters.parse(f"status:{status}", COLUMNS, NOW)


def test_an_unknown_status_is_refused_naming_it():
    with pytest.raises(filters.FilterError, match="unknown status bogus; runs: queued.*; notifications: pending.*inbox_only"):
        filters.parse("status:bogus", COLUMNS, NOW)


DOSE_COLUMNS = next(t for t in TABS if t.id == "doses").columns


@pytest.mark.parametrize("status", ["due", "overdue", "reminded", "taken", "missed", "skipped", "refused",
                                    "before_import"])
def test_every_status_the_doses_tab_shows_is_a_filter_word_there(status):
    filters.parse(f"status:{status}", DOSE_COLUMNS, NOW, tab="doses")


def test_an_unknown_dose_status_is_refused_naming_the_doses_statuses():
    with pytest.raises(filters.FilterError, match="unknown status dead; doses: due, overdue, reminded, taken, missed"):
        filters.parse("status:dead", DOSE_COLUMNS, NOW, tab="doses")


def test_before_import_matches_the_row_that_says_before_import():
    from rich.text import Text

    rows = [("a", ("07:00", Text("before import"))), ("b", ("08:00", Text("due")))]
    columns = (DOSE_COLUMNS[0], next(c for c in DOSE_COLUMNS if c.key == "status"))
    assert [k for k, _ in filters.parse("status:before_import", columns, NOW, tab="doses").keep(columns, rows)] == ["a"]
