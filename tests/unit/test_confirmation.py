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

