"""Dose confirmation rule: a person's confirmation wins over the system's entries. Expected values written
by hand from the rule in clinical/confirmation.py (the day a dose counts on: tests/jobs/test_dose_confirmation.py)."""

from __future__ import annotations

import pytest

from medjobs_tui.clinical.confirmation import entry_stands


@pytest.mark.parametrize("current, incoming, stands", [
    (None, "reminder_missed", True),        # first entry of a dose
    (None, "taken", True),
    ("reminder_missed", "taken", True),     # the case: a late "taken" is no longer dropped
    ("reminder_missed", "refused", True),
    ("missed", "skipped", True),
    ("skipped", "taken", True),             # a correction by staff
    ("taken", "refused", True),
    ("taken", "reminder_missed", False),    # the system never overrides a person
    ("refused", "missed", False),
    ("reminder_missed", "missed", False),   # the first system entry is the one staff were told about
])
def test_which_entry_stands(current, incoming, stands):
    assert entry_stands(current, incoming) is stands


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown dose status 'given'"):
        entry_stands(None, "given")



from datetime import datetime, timedelta, timezone  # noqa: E402

from medjobs_tui.clinical.confirmation import EARLY_WINDOW, confirmation_refused  # noqa: E402

DUE = datetime(2026, 11, 29, 20, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("current, incoming, occurred, early, refused", [
    (None, "taken", DUE, False, None),
    (None, "taken", DUE - timedelta(hours=2), False, None),                 # the window's first minute
    (None, "taken", DUE - timedelta(hours=2, seconds=1), False, "at most 2 h before it is due"),
    (None, "taken", DUE - timedelta(hours=7), True, None),                  # stated early
    (None, "skipped", DUE - timedelta(hours=7), False, None),               # held ahead of time
    ("taken", "taken", DUE, False, "already recorded taken"),               # a second press
    ("skipped", "skipped", DUE, False, "already recorded skipped"),
    ("skipped", "taken", DUE, False, None),                                 # a correction
    ("reminder_missed", "taken", DUE + timedelta(hours=3), False, None),
])
def test_when_a_confirmation_is_refused(current, incoming, occurred, early, refused):
    got = confirmation_refused(current, incoming, DUE, occurred, early=early)
    assert got == refused if refused is None else refused in got


def test_the_early_window_is_ismps_two_hours():
    assert EARLY_WINDOW == timedelta(hours=2)
