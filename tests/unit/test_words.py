"""One way to write a value (console.words): UTC instants in notes read in clinic time."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from medjobs_tui.console.words import local_instants, role_text

NEW_YORK = ZoneInfo("America/New_York")


def test_a_retry_note_reads_in_clinic_time_with_the_utc_time_beside_it():
    assert (local_instants("retry at 2026-11-29T13:00:05+00:00", NEW_YORK)
            == "retry at 2026-11-29 08:00:05 EST (13:00:05 UTC)")
    assert (local_instants("retry at 2026-07-01T03:30:00+00:00", NEW_YORK)          # summer time, day before
            == "retry at 2026-06-30 23:30:00 EDT (03:30:00 UTC)")
    same_day = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)                  # 07:55 EST, shown beside it
    assert (local_instants("retry at 2026-11-29T13:00:05+00:00", NEW_YORK, same_day)
            == "retry at 08:00:05 EST (13:00:05 UTC)")
    assert local_instants("attempts exhausted", NEW_YORK) == "attempts exhausted"
    assert local_instants(None, NEW_YORK) is None


def test_a_reviewer_is_shown_with_the_review_role():
    assert role_text("reviewer", "technical lead") == "reviewer, technical lead"
    assert role_text("operator") == "operator"
