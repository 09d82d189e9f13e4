"""Pilot tests of the fresh-user fixes: what a tester found confusing or unsafe in the dashboard, pressed as a
person does and read off the screen."""

from __future__ import annotations

import csv
import json

import pytest
from textual.widgets import Input, Static

from medjobs_tui.console import Actor, PermissionDenied
from medjobs_tui.notify.alerts import raise_alert
from medjobs_tui.store import connect

from medjobs_tui.tui.app import MedJobsApp
from medjobs_tui.tui.login import LockScreen
from medjobs_tui.tui.screens.prompts import ConfirmScreen, PathScreen, QuitScreen
from medjobs_tui.tui.screens.run import RunScreen
from tests.conftest import PASSWORD, STORE_KEY, make_user
from tests.tui.pilot import burst, cell, first_paint, key_names, notices, select, type_in, wait_until

SIZE = (120, 40)


async def test_a_bad_filter_keeps_the_box_open_with_the_error_and_later_keys_are_text(seeded_clinic):
    c = seeded_clinic
    app = MedJobsApp(c.console, c.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        await pilot.press("slash", *"colour:blue", "enter")
        field = app.query_one("#filter-input", Input)
        assert field.display and app.focused is field
        assert "no 'colour' column" in str(app.query_one("#filter-error", Static).render())
        await pilot.press("backspace", "t")          # a hotkey letter now is text in the box, not a trigger
        assert field.value == "colour:blut" and app.active_tab == "queue"
        field.value = ""
        await pilot.press(*"status:dead", "enter")
        await wait_until(pilot, lambda: not field.display, what="the box closed on a good filter")
        assert str(app.query_one("#filter-error", Static).render()) == ""


async def test_keys_typed_in_a_burst_right_after_slash_land_in_the_filter_box_not_on_hotkeys(seeded_clinic):
    c = seeded_clinic
    app = MedJobsApp(c.console, c.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        runs = len(c.console.runs(50))
        await burst(pilot, "slash", *key_names("colour:blue"))       # c (cancel) and l (Log) are hotkeys
        await pilot.pause()
        assert app.query_one("#filter-input", Input).value == "colour:blue"
        assert app.active_tab == "queue" and not app._modal_open() and len(c.console.runs(50)) == runs


async def test_the_jobs_tab_keeps_the_last_real_runs_status_after_a_manual_run_is_cancelled(seeded_clinic):
    c = seeded_clinic
    app = MedJobsApp(c.console, c.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        await pilot.press("2")
        await first_paint(pilot)
        select(app, "jobs", "supply_monitor")
        await pilot.press("t")                                   # a manual run, queued ...
        await wait_until(pilot, lambda: any("Queued run" in n for n in notices(app)), what="the trigger")
        run = max(r.id for r in c.console.runs(50))
        await pilot.press("1")
        await first_paint(pilot)
        select(app, "queue", str(run))
        await pilot.press("c")                                   # ... and cancelled
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: c.console.run(run).status == "cancelled", what="the cancel")
        await pilot.press("2")
        await wait_until(pilot, lambda: cell(app, "jobs", "supply_monitor", "last") == "succeeded",
                         what="the last real run's status")
        assert cell(app, "jobs", "analytics_rollup", "last") == "—"             # its only run was cancelled


async def test_an_interaction_alert_says_contraindicated_or_major_as_its_severity_is(seeded_clinic):
    c = seeded_clinic
    db = connect(c.settings.database_path, STORE_KEY)
    try:
        contra = raise_alert(db, kind="interaction_major", scope="orders 3+4 (P-00002)", severity="critical",
                             now=c.clock.now(), notify=False, ref="interaction alert 1",
                             summary="contraindicated interaction (onc-1) between orders 3 and 4")
        major = raise_alert(db, kind="interaction_major", scope="orders 5+6 (P-00003)", severity="high",
                            now=c.clock.now(), notify=False, ref="interaction alert 2",
                            summary="major interaction (onc-2) between orders 5 and 6")
    finally:
        db.close()
    words = {a.id: a.kind_words for a in c.console.alerts(c.actor, "all")}
    assert words[contra.alert_id] == "contraindicated interaction" and words[major.alert_id] == "major interaction"
    app = MedJobsApp(c.console, c.actor, refresh_interval=3600, tab="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        assert cell(app, "alerts", str(contra.alert_id), "kind").startswith("contraindicated")


@pytest.mark.parametrize(("role", "tab", "says"), [
    ("auditor", "doses", "Your role (auditor) may not see patients' doses"),
    ("reviewer", "backups", "Your role (reviewer) may not list backups"),
])
async def test_a_tab_the_role_may_not_fill_says_so_plainly(clinic, role, tab, says):
    app = MedJobsApp(clinic.console, Actor("someone", role), refresh_interval=3600, tab=tab)
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        assert app.table(tab).row_count == 0
        hint = str(app.query_one(f"#{tab}-empty", Static).render())
        assert hint.startswith(says) and "or your role may" not in hint
        assert app.query_one(f"#{tab}-empty", Static).region.height > 0               # shown on screen


async def test_an_operator_with_no_doses_today_reads_no_word_about_roles(clinic):
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=3600, tab="doses")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        assert "role" not in str(app.query_one("#doses-empty", Static).render())


async def test_e_asks_before_replacing_a_file_and_writes_formula_cells_as_text(seeded_clinic, tmp_path):
    c = seeded_clinic
    db = connect(c.settings.database_path, STORE_KEY)
    db.execute("UPDATE runs SET error = '=HYPERLINK(\"http://x\",\"see\")' WHERE id = 5")
    db.close()
    target = tmp_path / "runs.csv"
    target.write_text("keep me\n")
    app = MedJobsApp(c.console, c.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        app.set_filter("queue", "status:dead")
        await wait_until(pilot, lambda: app.table("queue").row_count == 1, what="the dead run")

        async def export_to(path) -> None:
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(app.screen, PathScreen), what="the file prompt")
            app.screen.query_one(Input).value = str(path)
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="replace?")

        await export_to(target)
        assert str(target) in str(app.screen.query_one(".dialog-title").render())
        await pilot.press("n")
        await wait_until(pilot, lambda: any("kept as it was" in n for n in notices(app)), what="kept")
        assert target.read_text() == "keep me\n"
        await export_to(target)
        await pilot.press("y")
        await wait_until(pilot, lambda: target.read_text() != "keep me\n", what="the file replaced")
    rows = list(csv.DictReader(target.open(newline="")))
    assert [(r["run"], r["error"]) for r in rows] == [("5", "'=HYPERLINK(\"http://x\",\"see\")")]


def quit_entries(settings) -> list[tuple]:
    db = connect(settings.database_path, STORE_KEY)
    try:
        return [tuple(r) for r in db.execute(
            "SELECT actor, role, action, outcome, detail FROM audit_log WHERE action = 'session.quit' ORDER BY id")]
    finally:
        db.close()


async def test_on_the_lock_screen_ctrl_q_says_unlock_first_and_quitting_after_the_unlock_is_audited(seeded_clinic):
    c = seeded_clinic
    actor = make_user(c.settings, "nurse.kim", "operator", clock=c.clock)
    app = MedJobsApp(c.console, actor, refresh_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        app.lock_now("user")
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen) and app.screen.query("#lock-intro"),
                         what="the lock screen")
        intro = str(app.screen.query_one("#lock-intro").render())
        idle = c.settings.security.idle_timeout
        assert f"Locked after {int(idle // 60)} min without input." in intro        # 600 s: 10 min
        assert "runner" not in intro                           # this console runs no jobs: nothing keeps running
        await type_in(pilot, "half")                           # a password half typed ...
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, LockScreen)
        assert str(app.screen.query_one("#lock-error").render()) == "Unlock first: type your password, then q quits."
        assert app.screen.query_one("#lock-password").value == "half"            # ... kept
        assert "ctrl+q quits" not in app.export_screenshot()
        assert quit_entries(c.settings) == []
        app.screen.query_one("#lock-password").value = PASSWORD
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.locked, what="the unlock")
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, what="the exit")
    assert [e[:4] for e in quit_entries(c.settings)] == [("nurse.kim", "operator", "session.quit", "ok")]
    assert json.loads(quit_entries(c.settings)[0][4]) == {"runner": "none"}


async def test_q_asks_before_stopping_the_runner_then_is_audited_with_the_actor(live_clinic):
    c = live_clinic
    app = MedJobsApp(c.console, c.actor, runner=c.runner, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: c.runner.scheduler is not None and c.runner.scheduler.running,
                         what="runner start")
        await pilot.press("q")                              # a slip of the finger must not stop the clinic's jobs
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the quit question")
        assert "reminders" in str(app.screen.query_one("#confirm-detail").render())
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, QuitScreen)
        assert c.runner.scheduler.running and quit_entries(c.settings) == []
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the quit question again")
        await pilot.press("q")                              # a second q answers it
        await wait_until(pilot, lambda: not app.is_running, what="exit")
    assert not c.runner.scheduler.running
    assert c.runner._dispatcher is not None and not c.runner._dispatcher.is_alive()
    entries = quit_entries(c.settings)
    assert [e[:4] for e in entries] == [("tester", "operator", "session.quit", "ok")]
    assert json.loads(entries[0][4]) == {"runner": "stopped"}


def on_screen(table) -> list[str]:
    """The keys of the columns a table shows whole within its width (no horizontal scrolling)."""
    shown, used = [], 0
    for column in table.ordered_columns:
        used += column.get_render_width(table)
        if used > table.scrollable_content_region.width:
            break
        shown.append(column.key.value)
    return shown


async def test_at_80x24_a_tampered_backup_reads_not_intact_on_screen(clinic):
    from tests.conftest import flip_a_byte
    from tests.tui.test_backups_tab import make_backup

    backup = make_backup(clinic)
    app = MedJobsApp(clinic.console, Actor("ada", "admin"), refresh_interval=0.1, tab="backups")
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table("backups")
        await wait_until(pilot, lambda: table.row_count == 1, what="the backup listed")
        flip_a_byte(backup)
        key = str(next(iter(table.rows)).value)
        await wait_until(pilot, lambda: cell(app, "backups", key, "now") == "NOT intact", what="the change seen")
        assert on_screen(table)[:4] == ["made", "now", "verified", "rows"]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_audit_tab_shows_the_outcome_and_the_selected_entrys_detail(clinic, size):
    c = clinic
    c.console.trigger(c.actor, "backup")                               # an entry with a detail (its run id)
    with pytest.raises(PermissionDenied):
        c.console.trigger(Actor("rita.reviewer.of.records", "reviewer"), "analytics_rollup")  # a refusal, long names
    app = MedJobsApp(c.console, Actor("ada", "admin"), refresh_interval=3600, tab="queue")
    async with app.run_test(size=size) as pilot:
        await first_paint(pilot)
        app.action_show_tab("audit")                              # the Audit tab is added at sign-in
        table = app.table("audit")
        await wait_until(pilot, lambda: table.row_count >= 2, what="the entries")
        assert "outcome" in on_screen(table)
        denied = next(e for e in app.latest_audit if e.outcome == "denied")
        ok = next(e for e in app.latest_audit if e.action == "job.trigger" and e.outcome == "ok")
        assert cell(app, "audit", str(denied.id), "outcome") == "denied"
        select(app, "audit", str(ok.id))
        await pilot.pause()
        shown = str(app.query_one("#audit-preview").render())
        assert f"Entry {ok.id}" in shown and "run_id" in shown and "job.trigger" in shown
        assert app.query_one("#audit-preview").region.height > 0


async def test_at_80x24_the_signing_dialog_scrolls_to_the_comment_and_its_hint(clinic):
    from tests.tui.test_signoff_tab import LEAD, add_reviewers, open_tab
    from medjobs_tui.tui.signoff_tab import SIGNOFF_TAB, SignScreen

    add_reviewers(clinic.console)
    app = MedJobsApp(clinic.console, LEAD, refresh_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot, app)
        select(app, SIGNOFF_TAB, "technical_review.code_review")
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, SignScreen), what="the signing dialog")
        dialog = app.screen.query_one("#sign-dialog")
        assert dialog.region.bottom <= 24
        await type_in(pilot, "tess.lead")
        await pilot.press("enter")
        await type_in(pilot, PASSWORD)
        await pilot.press("enter", "enter")                      # the meaning chosen; on to the comment
        comment = app.screen.query_one("#sign-comment", Input)
        await wait_until(pilot, lambda: app.screen.focused is comment, what="the comment focused")
        await pilot.pause()
        assert dialog.region.contains_region(comment.region)     # scrolled into view, not below the screen
        dialog.scroll_end(animate=False)
        await pilot.pause()
        hint = app.screen.query_one(".dialog-hint")
        assert dialog.region.contains_region(hint.region)


async def test_at_80_columns_a_runs_story_shows_the_notes_its_table_cuts_in_full(seeded_clinic):
    c = seeded_clinic
    app = MedJobsApp(c.console, c.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=(80, 24)) as pilot:
        await first_paint(pilot)
        app.open_run(5)                                          # the dead run: retried with backoff notes
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.loaded >= 1,
                         what="the run's story")
        story = app.screen.data
        from medjobs_tui.console import words

        longest = max((words.local_instants(h.note, app.zone, h.at) or "" for h in story.history), key=len)
        shown = str(app.screen.query_one("#run-in-full").render())
        assert len(longest) > 30 and " ".join(longest.split())[:60] in " ".join(shown.split())
