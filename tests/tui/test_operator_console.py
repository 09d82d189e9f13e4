"""Pilot tests of the operator console (issue 8): keys land where meant, every state visible, keys that fit
tab and role, `/` filter, a run's story, the overview, a job's page, bulk actions, progress, the log, export,
small screens and themes, and one way of writing things."""

from __future__ import annotations

import csv
import json
import logging
import threading

import pytest

from textual.widgets import Button, Footer, Input, ProgressBar, TabbedContent

from medjobs_tui.console import Actor, Console
from medjobs_tui.console.logbook import logbook
from medjobs_tui.engine import runlog
from medjobs_tui.engine.runner import Runner
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.notify import outbox
from medjobs_tui.store import connect, transaction
from medjobs_tui.store import runs as store_runs
from medjobs_tui.tui import formatting as fmt
from medjobs_tui.tui.app import MedJobsApp
from medjobs_tui.tui.screens import EvidenceScreen, HelpScreen
from medjobs_tui.tui.screens.job import JobScreen
from medjobs_tui.tui.screens.prompts import ConfirmScreen, PathScreen
from medjobs_tui.tui.screens.run import RunScreen
from medjobs_tui.tui.widgets.overview import OverviewPane
from tests.conftest import PASSWORD, make_user
from tests.tui.conftest import NOW, STORE_KEY
from tests.tui.pilot import burst, cell, first_paint, notices, select, settle, wait_until

SIZE = (120, 40)
REVIEWER = Actor("rita", "reviewer")


def rows(app, tab):
    return [r.key.value for r in app.table(tab).ordered_rows]


# ------------------------------------------------------------------ 1. input lands where it is meant


async def test_2_home_t_in_one_burst_triggers_the_first_job_of_the_jobs_tab(clinic):
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        select(app, "jobs", "analytics_rollup")                   # the jobs cursor left on the last row
        await pilot.press("1")
        await settle(pilot)
        for attempt in range(5):
            await pilot.press("1")
            await burst(pilot, "2", "home", "t")
            await wait_until(pilot, lambda: len(clinic.console.runs()) == attempt + 1, what="the trigger")
            assert [r.job_name for r in clinic.console.runs()] == ["interaction_check"] * (attempt + 1)
            select(app, "jobs", "analytics_rollup")
        assert app.active_tab == "jobs" and app.table("jobs").selected_key == "analytics_rollup"


async def test_2_home_t_typed_right_after_sign_in_waits_for_the_jobs_tab_and_triggers_its_first_job(settings, clock):
    """Keys typed into a tab before its first fetch has filled it wait for its rows, then act as meant."""
    make_user(settings, "nurse.kim", "operator")
    console = Console(settings, clock=clock)
    gate = threading.Event()
    fetched = console.snapshot

    def slow_jobs_fetch(**request):
        if "jobs" in request.get("views", ()):
            gate.wait(10)                                        # the Jobs tab's first fetch is still on its way
        return fetched(**request)

    console.snapshot = slow_jobs_fetch
    app = MedJobsApp(console, None, refresh_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#login-user").value = "nurse.kim"
        app.screen.query_one("#login-password").value = PASSWORD
        app.screen.query_one("#login-password").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.actor is not None, what="sign-in")
        await burst(pilot, "2", "home", "t")                       # at once: no row on the Jobs tab yet
        assert app.active_tab == "jobs" and app.table("jobs").row_count == 0 and console.runs() == []
        gate.set()
        await wait_until(pilot, lambda: len(console.runs()) == 1, what="the trigger")
        assert [(r.job_name, r.trigger) for r in console.runs()] == [("interaction_check", "manual")]
        assert app.table("jobs").selected_key == "interaction_check"


async def test_a_tab_key_typed_into_the_filter_is_text_not_a_tab_switch(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        await pilot.press("slash", "2", "h")
        assert app.active_tab == "queue" and app.query_one("#filter-input", Input).value == "2h"


async def test_end_on_notifications_shows_the_last_row_above_the_preview(seeded_clinic):
    db = connect(seeded_clinic.settings.database_path, STORE_KEY)
    with transaction(db):
        for n in range(60):
            outbox.queue(db, kind="job_failed", key=f"test:{n}", now=NOW, params={"job": "backup", "run_id": n})
    db.close()
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="notifications")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        table = app.table("notifications")
        preview = app.query_one("#notifications-preview")
        for key in ("end", "home", "end"):
            await pilot.press(key)
            await pilot.pause()
            visible = table.scrollable_content_region.height - 1            # rows under the heading
            assert table.scroll_y <= table.cursor_row < table.scroll_y + visible, key
            assert table.region.bottom <= preview.region.y                     # nothing hidden under it
        assert table.cursor_row == table.row_count - 1


# ------------------------------------------------------------------ 2. every state visible


async def test_skipped_ticks_and_cancelled_runs_show_dimmed_and_the_header_says_no_runner(seeded_clinic):
    c = seeded_clinic
    c.console.pause(c.actor, "backup")
    runner = Runner(c.settings, clock=c.clock)
    skipped = str(runner.tick("backup", c.clock.now().replace(second=0, microsecond=0)))
    runner.stop()
    app = MedJobsApp(c.console, c.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        assert cell(app, "queue", skipped, "status") == "skipped"
        assert "dim" in str(app.table("queue").get_cell(skipped, "job").style)
        assert "dim" in str(app.table("queue").get_cell("7", "job").style)          # cancelled
        assert "dim" not in str(app.table("queue").get_cell("6", "job").style)      # succeeded
        assert "NO RUNNER" in app.sub_title and "1 queued" in app.sub_title and "1 dead" in app.sub_title
        app.set_filter("queue", "status:skipped")
        await wait_until(pilot, lambda: rows(app, "queue") == [skipped], what="skipped only")


async def test_the_header_names_this_consoles_runner_and_help_says_what_q_stops(live_clinic):
    c = live_clinic
    app = MedJobsApp(c.console, c.actor, runner=c.runner, refresh_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "runner: this console" in app.sub_title, what="runner in header")
        assert ("q", "Stop the runner and quit (asks first)", "everywhere") in app.help_keys()


async def test_a_reviewers_help_lists_only_what_a_reviewer_may_do(clinic):
    app = MedJobsApp(clinic.console, REVIEWER, refresh_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {key for line, _, _ in app.screen._keys for key in line.split()}
        assert not keys & {"t", "p", "r", "c", "space"}
        assert {"q", "?", "/", "e"} <= keys
        assert ("q", "Quit (this console runs no jobs)", "everywhere") in app.help_keys()


# ------------------------------------------------------------------ 3. keys that fit


def footer_keys(app) -> list[str]:
    return [key.key for key in app.screen.query("FooterKey")]


async def test_the_footer_offers_only_this_tabs_keys(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        assert {"r", "c", "space"} <= set(footer_keys(app)) and "t" not in footer_keys(app)
        await pilot.press("2")
        await pilot.pause()
        assert "t" in footer_keys(app) and not {"r", "c", "space"} & set(footer_keys(app))
        await pilot.press("3")
        await pilot.pause()
        assert not {"t", "p", "r", "c", "enter"} & set(footer_keys(app))


async def test_a_reviewer_is_offered_no_action_keys_nor_palette_actions(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, REVIEWER, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        assert not {"r", "c", "space"} & set(footer_keys(app))
        await pilot.press("2")
        await pilot.pause()
        assert not {"t", "p"} & set(footer_keys(app)) and "enter" in footer_keys(app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not any(t.startswith(("Trigger", "Pause")) for t in titles)
        assert "Open job backup" in titles


# ------------------------------------------------------------------ 4. find anything


async def test_slash_filters_the_queue_shows_the_filter_in_the_title_and_escape_clears_it(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"status:dead", "enter")
        await wait_until(pilot, lambda: rows(app, "queue") == ["5"], what="dead runs only")
        assert "status:dead" in str(app.query_one(TabbedContent).get_tab("queue").label)
        assert app.focused is app.table("queue")
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(rows(app, "queue")) == 8, what="every run again")
        assert str(app.query_one(TabbedContent).get_tab("queue").label) == "Queue"


async def test_filters_by_job_words_and_time_and_a_bad_filter_says_why(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        app.set_filter("queue", "job:supply_monitor")
        await wait_until(pilot, lambda: rows(app, "queue") == ["6", "2"], what="one job")
        app.set_filter("queue", "since:2026-11-29T08:10")                  # clinic time
        await wait_until(pilot, lambda: rows(app, "queue") == ["8", "7", "6"], what="since")
        app.set_filter("queue", "E-TEST")
        await wait_until(pilot, lambda: rows(app, "queue") == ["5"], what="words")
        assert app.set_filter("queue", "colour:blue") is False
        await pilot.pause()
        assert any("no 'colour' column" in n for n in notices(app)), notices(app)
        await pilot.press("3")
        await first_paint(pilot)
        app.set_filter("metrics", "job:backup")
        await wait_until(pilot, lambda: rows(app, "metrics") == ["backup"], what="metrics of one job")


# ------------------------------------------------------------------ 5. a run's story


async def test_enter_on_a_run_tells_its_story_and_v_opens_its_evidence(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        select(app, "queue", "5")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.loaded, what="story")
        screen = app.screen
        history = screen.query_one("#run-history")
        assert history.row_count == 10
        assert [history.get_row_at(i)[2].plain for i in (0, 9)] == ["queued", "dead"]
        assert history.get_row_at(0)[3].plain == "tester"                        # who created it
        attempts = screen.query_one("#run-attempts")
        assert attempts.row_count == 3 and attempts.get_row_at(2)[4].plain == "handler error (ref E-TEST)"
        assert "r" in footer_keys(app) and "c" not in footer_keys(app)         # a dead run: retry, not cancel
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, EvidenceScreen), what="evidence")
        assert "priority: normal" in app.screen.text
        await pilot.press("escape", "escape")
        assert app.screen is app.screen_stack[0]


# ------------------------------------------------------------------ 6. an overview first


async def test_the_overview_is_the_first_tab_and_its_counts_lead_to_their_lists(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        assert app.active_tab == "overview"
        overview = app.latest.overview
        assert sum(overview.failed) == 3 and overview.dead_runs == 1
        assert str(app.query_one("#goto-dead", Button).label) == "1 dead run (d)"
        chart = app.query_one("#chart-failed")
        assert list(chart.data) == overview.failed
        seeded_clinic.console.trigger(seeded_clinic.actor, "backup")          # live: the queue grows
        await wait_until(pilot, lambda: app.latest.overview and app.latest.overview.queues[1].queued == 2,
                         what="live overview")
        assert app.query_one(OverviewPane) is app.focused
        await pilot.press("d")
        await wait_until(pilot, lambda: app.active_tab == "queue" and rows(app, "queue") == ["5"], what="dead runs")
        await pilot.press("0")
        assert str(app.query_one("#goto-alerts", Button).label) == "1 open alert (a)"     # the dead run's
        await pilot.click("#goto-alerts")
        await wait_until(pilot, lambda: app.active_tab == "alerts" and rows(app, "alerts"), what="the Alerts tab")
        assert [cell(app, "alerts", k, "kind") for k in rows(app, "alerts")] == ["dead run"]


# ------------------------------------------------------------------ 7. a job's page


async def test_enter_on_a_job_opens_its_page_where_t_triggers_and_R_retries_every_dead_run(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="jobs")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        select(app, "jobs", "refill_check")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.loaded, what="job page")
        page = app.screen.data
        assert len(page.next_fires) == 5 and len(page.days) == 7
        assert list(app.screen.query_one("#job-durations").data) == [0, 0, 0, 0, 0, 0, 0.75]
        assert fmt.local_datetime(page.next_fires[0], app.zone) == "2026-11-30 07:00:00 EST"
        assert app.screen.query_one("#job-runs").row_count == 1
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert app.screen.question == "Retry every dead run of refill_check?"
        await pilot.press("y")
        await wait_until(pilot, lambda: store_runs.get_run(seeded_clinic.console.db, 5)["status"] == "queued",
                         what="retried")
        await pilot.press("t")
        await wait_until(pilot, lambda: any("of refill_check" in n for n in notices(app)), what="trigger")
        assert [r.job_name for r in seeded_clinic.console.runs(limit=1)][0] == "refill_check"


# ------------------------------------------------------------------ 8. act on many


async def test_space_marks_runs_and_r_retries_them_all_after_confirmation(seeded_clinic):
    c = seeded_clinic
    c.console.trigger(c.actor, "analytics_rollup")            # run 9, queued
    app = MedJobsApp(c.console, c.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        select(app, "queue", "9")
        await pilot.press("space", "space")                     # marks 9 and 8, the cursor moving down
        assert app.marked == {"9", "8"} and cell(app, "queue", "9", "run").startswith("●")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert app.screen.question == "Cancel 2 runs?" and "8, 9" in app.screen.detail
        await pilot.press("y")
        await wait_until(pilot, lambda: cell(app, "queue", "9", "status") == "cancelled"
                         and cell(app, "queue", "8", "status") == "cancelled", what="both cancelled")
        assert app.marked == set()
        audit = c.console.db.execute("SELECT target FROM audit_log WHERE action = 'run.cancel'").fetchall()
        assert sorted(t for (t,) in audit) == ["run:8", "run:9"]                # each audited


async def test_a_marks_every_run_shown_after_a_filter(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        app.set_filter("queue", "job:supply_monitor")
        await wait_until(pilot, lambda: rows(app, "queue") == ["6", "2"], what="filtered")
        await pilot.press("a", "r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert app.screen.question == "Retry 2 runs?"
        await pilot.press("y")
        await wait_until(pilot, lambda: any("0 runs queued" in n for n in notices(app)), what="result")
        assert any("2 left as they were" in n for n in notices(app))      # succeeded runs are not retried


# ------------------------------------------------------------------ 9. progress


async def test_a_running_run_shows_a_bar_and_the_time_left_in_the_queue_and_its_screen(seeded_clinic):
    c = seeded_clinic
    c.console.cancel(c.actor, 8)
    run_id = c.console.trigger(c.actor, "supply_monitor")
    store_runs.claim_next(c.console.db, {"clinical": 2, "maintenance": 1}, c.clock.now())
    ctx = JobContext(db=c.console.db, settings=c.settings, job_name="supply_monitor",
                     job=c.settings.jobs["supply_monitor"], now=c.clock.now(), run_id=run_id)
    ctx.progress(10, 40)
    c.clock.advance(20)                                          # 10 of 40 in 20 s: a minute left
    app = MedJobsApp(c.console, c.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        assert cell(app, "queue", str(run_id), "duration") == "██░░░░ 25% ~1 min"
        select(app, "queue", str(run_id))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.loaded, what="story")
        bar = app.screen.query_one(ProgressBar)
        assert (bar.progress, bar.total) == (10, 40)
        assert "10 of 40 done · about 1 min left" in str(app.screen.query_one("#run-eta").render())


# ------------------------------------------------------------------ 10. logs and export


async def test_the_log_tab_shows_runner_lines_live_and_v_raises_the_level(clinic):
    logbook()                                                    # installed, as the dashboard does
    source = logging.getLogger("medjobs_tui.engine.runner")
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.05, tab="log")
    async with app.run_test(size=SIZE) as pilot:
        source.info("run 41 of backup attempt 1 succeeded in 0.50 s: now succeeded")
        source.warning("run 42 of backup attempt 1 failed in 0.50 s: now queued")
        await wait_until(pilot, lambda: any("run 42" in app.table("log").get_row(k)[-1].plain
                                            for k in rows(app, "log")), what="live log line")
        messages = lambda: [app.table("log").get_row(k)[-1].plain for k in rows(app, "log")]  # noqa: E731
        assert any("run 41" in m for m in messages())
        await pilot.press("v")
        await wait_until(pilot, lambda: not any("run 41" in m for m in messages()), what="warnings only")
        assert any("run 42" in m for m in messages())
        assert "WARNING" in str(app.query_one(TabbedContent).get_tab("log").label)


async def test_the_log_tab_shows_a_headless_runners_lines_from_the_clinics_log_file(clinic):
    """A reviewer's console runs no runner: the Log view shows what `medjobs run` wrote to the log file."""
    path = runlog.log_path(clinic.settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("2026-11-29T12:50:00.000+00:00\tWARNING\tclinic-pc:4242\tmedjobs_tui.engine.runner\t"
                    "run 42 of backup attempt 1 failed in 0.50 s: now queued\n")
    app = MedJobsApp(clinic.console, REVIEWER, refresh_interval=3600, tab="log")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        [key] = [k for k in rows(app, "log") if k.startswith("f")]
        assert [cell.plain if hasattr(cell, "plain") else cell for cell in app.table("log").get_row(key)] == [
            "07:50:00", "WARNING", "pid 4242 engine.runner", "run 42 of backup attempt 1 failed in 0.50 s: now queued"]


async def test_e_exports_the_filtered_table_to_the_file_named(seeded_clinic, tmp_path):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        app.set_filter("queue", "status:dead,cancelled")
        await wait_until(pilot, lambda: rows(app, "queue") == ["7", "5"], what="filtered")
        for name in ("runs.csv", "runs.json"):
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(app.screen, PathScreen), what="file prompt")
            field = app.screen.query_one(Input)
            assert field.value.endswith(".csv") and "medjobs-queue-" in field.value
            field.value = str(tmp_path / name)
            await pilot.press("enter")
            await wait_until(pilot, lambda: (tmp_path / name).exists(), what=name)
        table = list(csv.DictReader((tmp_path / "runs.csv").open()))
        assert [(r["run"], r["status"]) for r in table] == [("7", "cancelled"), ("5", "dead")]
        assert [r["status"] for r in json.loads((tmp_path / "runs.json").read_text())] == ["cancelled", "dead"]
        assert any("Exported 2 rows of queue" in n for n in notices(app))


# ------------------------------------------------------------------ 11. small screens and themes


async def sign_in_as(pilot, name: str) -> None:
    """Sign in on the sign-in screen as a person does, and wait for the Overview's first paint."""
    app = pilot.app
    app.screen.query_one("#login-user").value = name
    app.screen.query_one("#login-password").value = PASSWORD
    app.screen.query_one("#login-password").focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.actor is not None, what="sign-in")
    await first_paint(pilot)
    await pilot.pause()


def header_text(app) -> str:
    return app.query_one("HeaderTitle").render().plain


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_after_sign_in_the_overview_counts_show_whole_and_the_header_names_the_review_role(
        settings, clock, size):
    """Labels that change after the first layout get their width ("0 staff" was all of "0 staff alerts, 24 h
    (a)"); the header says who is signed in with their review role, at 80 columns too (the clinic's name goes
    first, then the word "reviewer" before the review role, then the runner's reason, never the user)."""
    make_user(settings, "tess.lead", "reviewer", review_role="technical lead")
    app = MedJobsApp(Console(settings, clock=clock), None, refresh_interval=3600)
    async with app.run_test(size=size) as pilot:
        await sign_in_as(pilot, "tess.lead")
        for button in app.query(OverviewPane).first().query(Button):
            label = button.label.plain
            assert label.endswith(("(d)", "(a)")) and button.content_size.width >= len(label), label
            assert button.region.right <= size[0]
        assert "tess.lead (reviewer, technical lead)" in app.sub_title
        header = header_text(app)
        if size[0] >= 120:
            assert "Riverside Family Clinic — NO RUNNER" in header and "tess.lead (reviewer, technical lead)" in header
        else:
            assert "NO RUNNER (runs wait) · tess.lead (technical lead)" in header and "…" not in header
        queues = app.query_one("#overview-queues")
        fires = app.query_one("#overview-fires")
        assert queues.region.right <= fires.region.x                  # side by side, not over each other
        for static in (queues, fires):
            assert "…" not in "".join(s.text for s in static.render_lines(static.region.reset_offset))


async def test_at_80x24_the_queue_keeps_its_key_columns_and_the_footer_quit_and_help(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=(80, 24)) as pilot:
        await first_paint(pilot)
        table = app.table("queue")
        keys = [c.key.value for c in table.ordered_columns]
        assert keys == ["run", "job", "status", "attempt", "duration", "error"]
        assert sum(c.get_render_width(table) for c in table.ordered_columns) <= table.scrollable_content_region.width
        assert cell(app, "queue", "5", "duration") == "0.75 s"
        footer = app.query_one(Footer)
        shown = [k.key for k in app.screen.query("FooterKey") if k.region.right <= footer.region.right - 12]
        assert "q" in shown and "question_mark" in shown
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert "priority" in [c.key.value for c in table.ordered_columns]


async def test_the_chosen_theme_is_remembered_for_the_next_start(clinic, own_ui_settings):
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        app.theme = "nord"
        await pilot.pause()
    assert json.loads(own_ui_settings.read_text())["theme"] == "nord"
    again = MedJobsApp(clinic.console, clinic.actor, refresh_interval=3600)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "nord"


# ------------------------------------------------------------------ 12. consistent words


async def test_metrics_write_percentages_as_the_cli_does(seeded_clinic):
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600, tab="metrics")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        assert cell(app, "metrics", "backup", "success") == "100.0 %"
        assert cell(app, "metrics", "refill_check", "error") == "100.0 %"
