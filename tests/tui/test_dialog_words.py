"""Words of the dashboard's dialogs that a reviewer found wrong: the lock screen's idle time (``1.44e+03 min`` at
the largest idle timeout config allows) and the late-dose hint's ``--at``, read in the patient's time zone."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from medjobs_tui.tui.commands import dose_question
from medjobs_tui.tui.login import idle_words


@pytest.mark.parametrize("seconds, words", [(20, "20 s"), (119.4, "119 s"), (119.6, "2 min"), (125, "2 min 5 s"), (600, "10 min"),
                                            (5400, "1 h 30 min"), (86400, "24 h")])
def test_an_idle_time_reads_in_plain_numbers(seconds, words):
    assert idle_words(seconds) == words


def test_the_late_dose_hint_says_its_at_time_is_the_patients_and_names_their_zone():
    clinic, patient = ZoneInfo("America/New_York"), ZoneInfo("America/Los_Angeles")
    due = datetime(2026, 11, 29, 16, 0, tzinfo=timezone.utc)                 # 08:00 PST, 11:00 EST
    text = dose_question(f"61@{due.isoformat()}", clinic, datetime(2026, 11, 29, 23, 0, tzinfo=timezone.utc),
                         "P-00012", "Metformin 500 mg", f"{due.astimezone(patient):%H:%M %Z}")
    question, hint = text.split("\n\n", 1)
    assert question == "P-00012, Metformin 500 mg, order 61, due 08:00 PST (Sun 29 Nov 11:00 EST)"
    assert hint == ("Due 7 h 00 min ago. If it was taken earlier, record when instead: medjobs dose taken 61 "
                    "2026-11-29T11:00-05:00 --at 'YYYY-MM-DD HH:MM' (the patient's local time, PST)")
