"""SVG snapshots of the dashboard at 120x40 with the fixed clock and a deterministic run history.

Durations come from a fixed executor (seed_runs), never from real runs, so the pictures are stable.
Regenerate after an intended change with ``pytest tests/tui --snapshot-update`` and look at them.
"""

from __future__ import annotations

from medjobs_tui.tui.app import MedJobsApp
from medjobs_tui.console.logbook import logbook
from medjobs_tui.tui.screens import EvidenceScreen
from medjobs_tui.tui.screens.job import JobScreen
from medjobs_tui.tui.screens.prompts import ConfirmScreen
from medjobs_tui.tui.screens.run import RunScreen
from tests.tui.pilot import fixed_log, ready_for_snapshot, select, wait_until

SIZE = (120, 40)


def dashboard(clinic) -> MedJobsApp:
    """The app over the seeded clinic; one refresh at mount, none during the picture."""
    return MedJobsApp(clinic.console, clinic.actor, refresh_interval=3600, tab="queue")


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


def test_run_story_of_the_dead_run(snap_compare, seeded_clinic):
    async def open_run(pilot):
        await ready_for_snapshot(pilot)
        select(pilot.app, "queue", "5")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.loaded,
                         what="run screen")
        await pilot.pause()

    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, run_before=open_run)


def test_overview(snap_compare, seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600)
    assert snap_compare(app, terminal_size=SIZE, run_before=ready_for_snapshot)


def test_job_page_of_refill_check(snap_compare, seeded_clinic):
    async def open_job(pilot):
        await ready_for_snapshot(pilot)
        await pilot.press("2")
        await wait_until(pilot, lambda: pilot.app.table("jobs").row_count > 0, what="jobs")
        select(pilot.app, "jobs", "refill_check")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, JobScreen) and pilot.app.screen.loaded,
                         what="job page")
        await pilot.pause()

    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, run_before=open_job)


def test_queue_tab_at_80x24(snap_compare, seeded_clinic):
    assert snap_compare(dashboard(seeded_clinic), terminal_size=(80, 24), run_before=ready_for_snapshot)


def test_queue_filtered_to_dead_runs_with_a_marked_run(snap_compare, seeded_clinic):
    async def filtered(pilot):
        await ready_for_snapshot(pilot)
        pilot.app.set_filter("queue", "status:dead,cancelled")
        await wait_until(pilot, lambda: pilot.app.table("queue").row_count == 2, what="filtered queue")
        await pilot.press("space")
        await pilot.pause()

    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, run_before=filtered)


def test_bulk_retry_confirmation(snap_compare, seeded_clinic):
    async def confirm(pilot):
        await ready_for_snapshot(pilot)
        await pilot.press("a", "r")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="confirmation")

    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, run_before=confirm)


def test_log_tab(snap_compare, seeded_clinic):
    async def log_tab(pilot):
        await ready_for_snapshot(pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: "log" in pilot.app.latest.views, what="log view")
        await pilot.pause()

    book = logbook()
    app = dashboard(seeded_clinic)
    with fixed_log(book):
        assert snap_compare(app, terminal_size=SIZE, run_before=log_tab)


def test_empty_queue(snap_compare, clinic):
    assert snap_compare(dashboard(clinic), terminal_size=SIZE, run_before=ready_for_snapshot)


def test_doses_tab(snap_compare, seeded_clinic):
    assert snap_compare(dashboard(seeded_clinic), terminal_size=SIZE, press=["6"], run_before=ready_for_snapshot)
