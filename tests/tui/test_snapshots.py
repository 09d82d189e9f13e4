"""SVG snapshots of the dashboard at 120x40 with the fixed clock and a deterministic run history.

Durations come from a fixed executor (seed_runs), never from real runs, so the pictures are stable.
Regenerate after an intended change with ``pytest tests/tui --snapshot-update`` and look at them.
"""

from __future__ import annotations

from medjobs_tui.tui.app import MedJobsApp
from medjobs_tui.tui.screens import DetailScreen, EvidenceScreen
from tests.tui.pilot import ready_for_snapshot, select, wait_until

SIZE = (120, 40)


def dashboard(clinic) -> MedJobsApp:
    """The app over the seeded clinic; one refresh at mount, none during the picture."""
    return MedJobsApp(clinic.console, clinic.actor, refresh_interval=3600)


def test_queue_tab(snap_compare, seeded_clinic):
    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, run_before=ready_for_snapshot)


def test_jobs_tab(snap_compare, seeded_clinic):
    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, press=["2"], run_before=ready_for_snapshot)


def test_jobs_tab_at_80x24(snap_compare, seeded_clinic):
    assert snap_compare(dashboard(seeded_clinic), terminal_size=(80, 24), press=["2"], run_before=ready_for_snapshot)


def test_metrics_tab(snap_compare, seeded_clinic):
    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, press=["3"], run_before=ready_for_snapshot)


def test_evidence_record_of_the_dead_run(snap_compare, seeded_clinic):
    async def open_record(pilot):
        await ready_for_snapshot(pilot)
        await pilot.press("4")
        select(pilot.app, "evidence", "5")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EvidenceScreen), what="evidence modal")

    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, run_before=open_record)


def test_help_screen(snap_compare, seeded_clinic):
    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, press=["question_mark"],
                        run_before=ready_for_snapshot)


def test_notifications_tab(snap_compare, seeded_clinic):
    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, press=["5", "down"],
                        run_before=ready_for_snapshot)


def test_run_detail_of_the_dead_run(snap_compare, seeded_clinic):
    async def open_run(pilot):
        await ready_for_snapshot(pilot)
        select(pilot.app, "queue", "5")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), what="run dialog")

    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, run_before=open_run)


def test_empty_queue(snap_compare, clinic):
    assert snap_compare(dashboard(clinic), terminal_size=SIZE, run_before=ready_for_snapshot)


def test_doses_tab(snap_compare, seeded_clinic):
    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, press=["6"], run_before=ready_for_snapshot)
