"""Pilot tests of the dashboard: keys drive the console, and the tables show what the store holds."""

from __future__ import annotations

import threading
from datetime import date

from medjobs_tui.store import runs as store_runs
from medjobs_tui.tui.app import MedJobsApp
from medjobs_tui.tui.screens import DetailScreen, EvidenceScreen, HelpScreen
from medjobs_tui.tui.screens.prompts import ConfirmScreen, QuitScreen
from medjobs_tui.tui.screens.run import RunScreen

from tests.tui.pilot import cell, first_paint, notices, select, settle, wait_until

SIZE = (120, 40)
NOW_DAY = date(2026, 11, 29)   # the fixed clock's clinic-local day (07:55 New York)


async def test_triggering_backup_from_the_jobs_tab_shows_its_run_succeeded_in_the_queue(live_clinic):
    c = live_clinic
    app = MedJobsApp(c.console, c.actor, runner=c.runner, refresh_interval=0.1, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        assert app.active_tab == "jobs"
        select(app, "jobs", "backup")
        await pilot.press("t")
        await wait_until(pilot, lambda: any("of backup" in n for n in notices(app)), what="trigger notice")
        run_id = next(n for n in notices(app) if "of backup" in n).split()[2]
        await pilot.press("1")
        await wait_until(pilot, lambda: run_id in [r.value for r in app.table("queue").rows]
                         and cell(app, "queue", run_id, "status") == "succeeded", timeout=30, what="backup run")
        assert cell(app, "queue", run_id, "job") == "backup"
        assert cell(app, "queue", run_id, "attempt") == "1/3"
        assert cell(app, "queue", run_id, "trigger") == "manual"


async def test_p_pauses_the_selected_job_and_p_again_resumes_it(clinic):
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        select(app, "jobs", "refill_check")
        assert cell(app, "jobs", "refill_check", "paused") == "no"
        await pilot.press("p")
        await wait_until(pilot, lambda: cell(app, "jobs", "refill_check", "paused") == "yes", what="paused")
        assert cell(app, "jobs", "refill_check", "next") == "—"
        assert "Paused refill_check" in notices(app)
        await pilot.press("p")
        await wait_until(pilot, lambda: cell(app, "jobs", "refill_check", "paused") == "no", what="resumed")
        assert "Resumed refill_check" in notices(app)
        assert app.table("jobs").selected_key == "refill_check"   # the cursor stayed on its row


async def test_r_on_a_run_that_is_not_dead_shows_the_console_error_and_changes_nothing(clinic):
    run_id = clinic.console.trigger(clinic.actor, "backup")       # no runner: it stays queued
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        select(app, "queue", str(run_id))
        await pilot.press("r")
        expected = (f"run {run_id} is queued; only a dead run, or a failed run waiting for its retry, "
                    "can be retried")
        await wait_until(pilot, lambda: expected in notices(app), what="error notice")
        assert next(n for n in app._notifications if str(n.message) == expected).severity == "error"
        await settle(pilot)
        assert cell(app, "queue", str(run_id), "status") == "queued"
        assert store_runs.get_run(clinic.console.db, run_id)["attempt"] == 1


async def test_c_cancels_a_queued_run(clinic):
    run_id = clinic.console.trigger(clinic.actor, "backup")
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        select(app, "queue", str(run_id))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert app.screen.question == f"Cancel run {run_id}?"
        assert store_runs.get_run(clinic.console.db, run_id)["status"] == "queued"    # nothing yet
        await pilot.press("y")
        await wait_until(pilot, lambda: cell(app, "queue", str(run_id), "status") == "cancelled", what="cancel")
        assert f"Cancelled run {run_id}" in notices(app)


async def test_c_answered_no_cancels_nothing(clinic):
    run_id = clinic.console.trigger(clinic.actor, "backup")
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        select(app, "queue", str(run_id))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("n")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert store_runs.get_run(clinic.console.db, run_id)["status"] == "queued"


async def test_question_mark_opens_help_listing_the_keys_and_escape_closes_it(clinic):
    app = MedJobsApp(clinic.console, clinic.actor, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = [key for line, _, _ in app.screen._keys for key in line.split()]
        for key in ("t", "p", "r", "c", "?", "f1", "q", "enter", "ctrl+p", "home", "end"):
            assert key in keys, key
        await pilot.press("escape")
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_keys_of_other_tabs_are_not_offered(clinic):
    app = MedJobsApp(clinic.console, clinic.actor, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.check_action("retry", ()) is True and app.check_action("trigger", ()) is False
        await pilot.press("2")
        assert app.check_action("trigger", ()) is True and app.check_action("cancel", ()) is False
        assert app.check_action("quit", ()) is True


async def test_r_on_a_dead_run_queues_one_more_attempt(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=0.1, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert cell(app, "queue", "5", "status") == "dead"
        select(app, "queue", "5")
        await pilot.press("r")
        await wait_until(pilot, lambda: cell(app, "queue", "5", "status") == "queued", what="retried run")
        assert cell(app, "queue", "5", "attempt") == "4/4"
        assert "Run 5 queued for one more attempt" in notices(app)


async def test_q_during_a_refresh_waits_for_it_before_the_runner_closes_the_store(live_clinic):
    c = live_clinic
    events: list[str] = []
    real_snapshot, real_stop = c.console.snapshot, c.runner.stop

    held = threading.Event()          # the fetch stays in progress until the test lets it go (after q)

    def slow_snapshot(*args, **kwargs):
        events.append("fetch start")
        held.wait(10)
        try:
            return real_snapshot(*args, **kwargs)
        finally:
            events.append("fetch end")

    def stop(*args, **kwargs):
        events.append("runner stop")
        return real_stop(*args, **kwargs)

    c.console.snapshot, c.runner.stop = slow_snapshot, stop
    app = MedJobsApp(c.console, c.actor, runner=c.runner, refresh_interval=0.01, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "fetch start" in events, what="a fetch in progress")
        await pilot.press("q")                      # asks first: the runner runs the clinic's jobs
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the quit question")
        threading.Timer(0.2, held.set).start()    # the fetch ends 0.2 s after the answer
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running, what="exit")
    assert events[-2:] == ["fetch end", "runner stop"]      # the store closed only after the fetch


async def test_enter_on_a_notification_shows_its_whole_message_in_clinic_time(seeded_clinic):
    note = next(n for n in seeded_clinic.console.notifications(actor=seeded_clinic.actor)
                if n.kind == "reminder_missed")
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await first_paint(pilot)
        assert [c.label.plain for c in app.table("notifications").ordered_columns] == [
            "time", "kind", "audience", "patient", "status", "message"]
        select(app, "notifications", str(note.id))
        await pilot.pause()
        assert app.query_one("#notifications-preview").render().plain == note.message   # whole, under the table
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen), what="notification dialog")
        fields = {label: getattr(value, "plain", value) for label, value in app.screen.fields}
        assert fields["message"] == note.message
        assert fields["patient"] == note.patient and fields["kind"] == "reminder_missed"
        assert fields["time"] == "2026-11-29 07:55:00 EST"               # 12:55 UTC, in the clinic's zone
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


async def test_a_dead_run_shows_its_masked_error_in_the_queue_and_enter_shows_attempts(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        assert [c.key.value for c in app.table("queue").ordered_columns][-1] == "error"
        assert cell(app, "queue", "5", "error") == "handler error (ref E-TEST)"
        assert cell(app, "queue", "6", "error") == "—"
        select(app, "queue", "5")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.loaded, what="run screen")
        story = app.screen.data
        assert story.run.status == "dead" and story.run.attempt == 3 and story.run.max_attempts == 3
        assert story.run.error == "handler error (ref E-TEST)"
        assert app.check_action("retry", ()) is False                   # the queue's keys wait under the screen


async def test_the_jobs_tab_at_80_columns_shows_job_paused_last_status_and_next_run_first(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await first_paint(pilot)
        table = app.table("jobs")
        columns = table.ordered_columns
        assert [c.key.value for c in columns] == ["job", "paused", "last", "next", "priority", "schedule", "queue"]
        assert sum(c.get_render_width(table) for c in columns[:5]) <= table.scrollable_content_region.width
        assert cell(app, "jobs", "refill_check", "job") == "refill_check"          # no "(refill_check)" type


async def test_home_and_end_move_the_cursor_to_the_first_and_last_row(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        table = app.table("queue")
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1 and table.selected_key == "1"
        await pilot.press("home")
        assert table.cursor_row == 0 and table.selected_key == "8"


async def test_an_empty_queue_says_how_to_trigger_a_job_until_a_run_arrives(clinic):
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.05, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        hint = app.query_one("#queue-empty")
        assert hint.display and hint.region.height > 0 and "press 2" in hint.render().plain
        clinic.console.trigger(clinic.actor, "backup")
        await wait_until(pilot, lambda: app.table("queue").row_count == 1, what="the run")
        await pilot.pause()
        assert hint.region.height == 0


async def test_the_evidence_header_gives_local_time_and_validity_and_a_changed_record_is_flagged(seeded_clinic):
    record = next(e for e in seeded_clinic.console.evidence() if e.run_id == 5)
    path = seeded_clinic.settings.evidence_dir / record.path
    path.write_text(path.read_text(encoding="utf-8") + "# edited afterwards\n", encoding="utf-8")
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await first_paint(pilot)
        assert cell(app, "evidence", "5", "valid") == "✗" and cell(app, "evidence", "6", "valid") == "✓"
        select(app, "evidence", "5")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EvidenceScreen), what="evidence dialog")
        header = app.screen.header.plain
        assert header.startswith("run 5 · refill_check · dead · finished 2026-11-29 08:15:00 EST · ✗ INVALID")
        assert app.screen.warnings and app.screen.warnings[0].startswith("WARNING")      # the console's banner
        assert app.screen.text == path.read_text(encoding="utf-8")                      # the record, as on disk
        await pilot.press("escape")
        select(app, "evidence", "6")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EvidenceScreen), what="evidence dialog")
        assert app.screen.header.plain.endswith("· ✓ SHA-256 matches") and not app.screen.warnings


async def test_doses_tab_shows_todays_doses_as_the_doses_command_does(clinic):
    """Key 6 shows today's (2026-11-29, New York) dose instants: the rows `medjobs doses` lists, same order,
    same statuses; a BID dose of 08:00 EST is 13:00 UTC; after the reminder job its status is 'reminded'."""
    from medjobs_tui.jobs import get_handler
    from medjobs_tui.jobs.base import JobContext
    from medjobs_tui.store import connect
    from tests.conftest import STORE_KEY

    expected = clinic.console.doses(clinic.actor, NOW_DAY)
    assert expected, "the demo clinic schedules doses today"
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("6")
        assert app.active_tab == "doses"
        await settle(pilot)
        table = app.table("doses")
        assert [r.value for r in table.rows] == [f"{d.order}@{d.at.isoformat()}" for d in expected]
        first_bid = next(d for d in expected if d.local.strftime("%H:%M") == "08:00")
        key = f"{first_bid.order}@{first_bid.at.isoformat()}"
        assert (cell(app, "doses", key, "local"), cell(app, "doses", key, "utc")) == ("08:00 EST", "13:00Z")
        assert cell(app, "doses", key, "status") == "due"
        # the reminder job (07:55, 15-minute window) reminds the 08:00 doses: the tab says so
        db = connect(clinic.settings.database_path, STORE_KEY)
        job = clinic.settings.jobs["medication_reminder"]
        get_handler(job.job_type)(JobContext(db=db, settings=clinic.settings, job_name="medication_reminder",
                                             job=job, now=clinic.clock.now()))
        db.close()
        await wait_until(pilot, lambda: cell(app, "doses", key, "status") == "reminded", what="reminded status")


async def test_doses_tab_is_empty_for_a_role_that_may_not_see_patients_doses(clinic):
    from medjobs_tui.console import Actor

    auditor = Actor("audrey", "auditor")
    app = MedJobsApp(clinic.console, auditor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        assert app.table("doses").row_count == 0
    assert app.latest.doses is None
