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
