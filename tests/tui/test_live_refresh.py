"""The live refresh: one fetch at a time, tables updated by row key, errors shown and survived."""

from __future__ import annotations

import itertools
import threading
import time

from rich.text import Text
from textual.app import App, ComposeResult

from medjobs_tui.console import Actor, ConsoleError, RunFilter
from medjobs_tui.tui.app import REFETCH_AFTER_S, MedJobsApp
from medjobs_tui.tui.screens import HelpScreen
from medjobs_tui.tui.tables import Column
from medjobs_tui.tui.widgets import LiveTable
from medjobs_tui.tui.widgets.overview import OverviewPane
from tests.tui.pilot import cell, first_paint, notices, select, settle, wait_until

SIZE = (120, 40)


class TableApp(App):
    """A bare app holding one LiveTable."""

    def compose(self) -> ComposeResult:
        yield LiveTable([Column("id", "id"), Column("status", "status")])


async def test_sync_updates_by_key_and_keeps_the_cursor_on_its_row():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(LiveTable)
        table.sync([("2", ("2", "queued")), ("1", ("1", "succeeded"))])
        table.move_cursor(row=1)                             # on run 1
        first_cell_object = table.get_cell("1", "status")
        table.sync([("3", ("3", "queued")), ("2", ("2", "running")), ("1", ("1", "succeeded"))])
        await pilot.pause()
        assert [r.key.value for r in table.ordered_rows] == ["3", "2", "1"]     # newest on top
        assert table.selected_key == "1"                                        # cursor followed its row
        assert table.get_cell("1", "status") is first_cell_object              # unchanged cell untouched
        assert table.get_cell("2", "status") == Text("running")
        table.sync([("3", ("3", "queued")), ("1", ("1", "succeeded"))])         # run 2 gone
        assert [r.key.value for r in table.ordered_rows] == ["3", "1"]
        assert table.selected_key == "1"


async def test_a_string_cell_is_shown_literally_not_as_markup():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(LiveTable)
        table.sync([("1", ("1", "[bold]not markup[/bold]"))])
        assert table.get_cell("1", "status").plain == "[bold]not markup[/bold]"


async def test_fetches_never_overlap_however_often_a_refresh_is_asked_for(clinic):
    inside, most, lock = [0], [0], threading.Lock()
    real = clinic.console.snapshot

    def slow_snapshot(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.03)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    clinic.console.snapshot = slow_snapshot
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.01, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(20):
            app.refresh_now()
            await pilot.pause(0.005)
        await settle(pilot, 3)
    assert most[0] == 1


async def test_a_failing_refresh_is_shown_once_and_the_next_one_recovers(clinic):
    real = clinic.console.snapshot
    failures = [2]

    def flaky_snapshot(*args, **kwargs):
        if failures[0]:
            failures[0] -= 1
            raise ConsoleError("store is busy")
        return real(*args, **kwargs)

    clinic.console.snapshot = flaky_snapshot
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.05, tab="queue")
    told: list[str] = []                    # every notice given (a toast expires after seconds: on a loaded
    real_notify = app.notify                # machine it can be gone before the test reads the screen)
    app.notify = lambda message, *a, **kw: (told.append(str(message)), real_notify(message, *a, **kw))[1]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_until(pilot, lambda: app.latest is not None, what="a refresh after the failures")
        assert told.count("store is busy") == 1               # two failures, one notice
        assert app.is_running


async def test_no_repaint_while_a_modal_is_open_then_the_latest_is_painted(clinic):
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.05, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        run_id = str(clinic.console.trigger(clinic.actor, "backup"))
        await settle(pilot, 2)
        assert run_id not in [r.value for r in app.table("queue").rows]    # fetched, not painted
        await pilot.press("escape")
        await pilot.pause()
        assert cell(app, "queue", run_id, "status") == "queued"


async def test_an_auditor_is_not_offered_t_and_the_console_still_refuses_the_trigger(clinic):
    auditor = Actor("ada", "auditor")
    app = MedJobsApp(clinic.console, auditor, refresh_interval=0.05, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        select(app, "jobs", "backup")
        assert app.check_action("trigger", ()) is False                   # not in the footer
        await pilot.press("t")                                             # pressed anyway: nothing happens
        await pilot.pause()
        app.trigger_job("backup")                                          # asked anyway (palette of old)
        await wait_until(pilot, lambda: any("may not" in n for n in notices(app)), what="denial")
        assert clinic.console.runs() == []


async def test_the_command_palette_offers_trigger_and_pause_for_each_job(clinic):
    app = MedJobsApp(clinic.console, clinic.actor, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for name in clinic.settings.jobs:
            assert f"Trigger {name}" in titles and f"Pause or resume {name}" in titles
        assert "Show Metrics" in titles
        app.trigger_job("backup")
        await wait_until(pilot, lambda: "Queued run 1 of backup" in notices(app), what="trigger notice")


async def test_a_snapshot_arriving_while_the_app_closes_is_dropped_quietly(clinic):
    from textual.widgets import TabbedContent

    from medjobs_tui.tui.messages import SnapshotReady

    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        await app.query_one(TabbedContent).remove()          # as at shutdown: the tables are gone
        app._snapshot_ready(SnapshotReady(app.latest))       # a late fetch lands: no NoMatches


class WideTableApp(App):
    """A bare app holding one LiveTable whose last column fills the width."""

    def compose(self) -> ComposeResult:
        yield LiveTable([Column("job", "job"), Column("status", "status"), Column("error", "error", 10, fill=True)])


async def test_columns_fit_their_cells_as_soon_as_rows_are_synced_before_any_repaint():
    app = WideTableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(LiveTable)
        table.sync([("1", ("medication_reminder", "succeeded", "x" * 200))])
        job, status, error = table.ordered_columns               # measured in sync, not later on idle
        assert (job.width, status.width) == (len("medication_reminder"), len("succeeded"))
        assert job.get_render_width(table) + status.get_render_width(table) + error.get_render_width(table) \
            == table.scrollable_content_region.width               # the error column takes the rest, no more
        await pilot.resize_terminal(100, 10)
        await pilot.pause()
        assert error.width == 100 - 2 - (19 + 2) - (9 + 2) - 2     # scrollbar gutter, padded columns
        assert table.virtual_size.width <= table.scrollable_content_region.width


async def test_a_burst_of_toasts_shows_each_text_once_and_at_most_three_at_a_time(clinic):
    from medjobs_tui.tui.app import MAX_TOASTS

    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=3600, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(5):
            app.toast("Run 3 is queued")
            await pilot.pause()
        assert notices(app) == ["Run 3 is queued"]
        for n in range(6):
            app.toast(f"notice {n}")
            await pilot.pause()
        assert notices(app) == ["notice 3", "notice 4", "notice 5"] and MAX_TOASTS == 3
        assert all(n.timeout == 4 for n in app._notifications)
        app.toast("[b]not markup[/b]")
        await pilot.pause()
        assert "[b]not markup[/b]" in notices(app)


def flapping_refreshes(clinic):
    """An app whose every other snapshot fails with "store is busy": (snapshot calls so far, the app, the texts
    of every toast it raised, however long each stayed up)."""
    real = clinic.console.snapshot
    calls = [0]

    def flapping_snapshot(*args, **kwargs):
        calls[0] += 1
        if calls[0] % 2:
            raise ConsoleError("store is busy")
        return real(*args, **kwargs)

    clinic.console.snapshot = flapping_snapshot
    versions = itertools.count()
    clinic.console.change_token = lambda: (0, next(versions), None)    # a store that changes all the time
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.02, tab="queue")
    shown: list[str] = []
    notify = app.notify
    app.notify = lambda text, *a, **kw: (shown.append(str(text)), notify(text, *a, **kw))[1]
    return calls, app, shown


async def test_a_refresh_error_that_comes_and_goes_is_shown_once(clinic):
    calls, app, shown = flapping_refreshes(clinic)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 3)                                   # three failures in between
        assert calls[0] >= 6
        assert shown.count("store is busy") == 1


async def test_a_refresh_error_is_not_shown_again_within_a_minute_after_its_toast_went(clinic):
    calls, app, shown = flapping_refreshes(clinic)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 1)
        assert shown.count("store is busy") == 1
        app.clear_notifications()                                # the toast's 4 s are over
        await settle(pilot, 2)                                   # two more failures in between
        assert calls[0] >= 6
        assert shown.count("store is busy") == 1


async def test_an_idle_dashboard_reads_nothing_while_the_store_is_unchanged_and_reads_a_change_at_once(clinic):
    """Idle CPU with a big store: a refresh asks SQLite whether anything was committed (data_version) and
    fetches only then (or when the snapshot is REFETCH_AFTER_S old by the console's clock, or on F5)."""
    real = clinic.console.snapshot
    calls = [0]

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    clinic.console.snapshot = counted
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.02, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        fetched = calls[0]
        await settle(pilot, 5)
        assert calls[0] == fetched and app.unchanged_count >= 5             # five refreshes, no fetch
        run_id = str(clinic.console.trigger(clinic.actor, "backup"))        # committed by another connection
        await wait_until(pilot, lambda: run_id in [r.value for r in app.table("queue").rows], what="the new run")
        fetched = calls[0]
        await pilot.press("f5")
        await wait_until(pilot, lambda: calls[0] > fetched, what="F5 reads the store")
        fetched = calls[0]
        clinic.clock.advance(REFETCH_AFTER_S)                                # the last hour moved on
        await wait_until(pilot, lambda: calls[0] > fetched, what="a fetch of an old snapshot")


async def test_a_row_given_the_same_cells_again_is_left_unread_and_a_new_one_is_compared_and_measured():
    """sync skips a row whose cells are the very tuple it was last given (the Queue's builder hands back the
    same tuple for an unchanged run): its cell objects stay; new tuples are compared as before, and the
    column widths still follow the rows that remain."""
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(LiveTable)
        long_row = ("1", (Text("1"), Text("timed_out_and_retried")))
        short_row = ("2", (Text("2"), Text("queued")))
        table.sync([short_row, long_row])
        kept = table.get_cell("2", "status")
        compared, updated = [], []
        real_get_row, real_update = table.get_row, table.update_cell
        table.get_row = lambda key: (compared.append(key), real_get_row(key))[1]
        table.update_cell = lambda *args, **kwargs: (updated.append(args), real_update(*args, **kwargs))
        table.sync([short_row, long_row])                                   # same tuples: nothing read again
        assert table.get_cell("2", "status") is kept and compared == [] and updated == []
        assert table.ordered_columns[1].width == len("timed_out_and_retried")
        table.sync([short_row])                                              # the wide row gone: column narrows
        await pilot.pause()
        assert table.ordered_columns[1].width == len("status")
        compared.clear()
        table.sync([("2", (Text("2"), Text("running")))])                   # a new tuple: compared, updated
        assert table.get_cell("2", "status").plain == "running" and (compared, len(updated)) == (["2"], 1)
        compared.clear()
        table.sync([("2", (Text("2"), Text("running")))])                   # new but equal: compared, untouched
        assert (compared, len(updated)) == (["2"], 1)


def test_the_queue_builder_reuses_an_unchanged_runs_cells_and_rebuilds_a_changed_or_running_one(seeded_clinic):
    from dataclasses import replace

    from medjobs_tui.tui.tables import run_rows

    runs = seeded_clinic.console.find_runs()
    now, zone = seeded_clinic.clock.now(), seeded_clinic.settings.zone
    first = dict(run_rows(runs, now, zone))
    again = dict(run_rows(seeded_clinic.console.find_runs(), now, zone))     # equal rows read anew from the store
    assert all(again[key] is first[key] for key in first)
    dead = next(r for r in runs if r.status == "dead")
    retried = dict(run_rows([replace(dead, status="queued")], now, zone))[str(dead.id)]
    assert retried is not first[str(dead.id)] and retried[2].plain == "queued"
    running = replace(dead, status="running", started_at=now, progress_done=1, progress_total=4, progress_at=now)
    later = now.replace(second=(now.second + 30) % 60)
    a, b = (dict(run_rows([running], at, zone))[str(dead.id)] for at in (now, later))
    assert a is not b and "25%" in a[4].plain                               # time left moves with the clock


async def test_the_overview_leaves_a_part_whose_figures_did_not_change(clinic):
    """A refresh that brings the same figures sets no new renderable (no layout pass); a changed count does."""
    from dataclasses import replace

    from textual.widgets import Static

    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(pilot)
        pane = app.query_one(OverviewPane)
        parts = ("#overview-queues", "#overview-fires", "#overview-runners", "#label-succeeded")
        before = {p: pane.query_one(p, Static).content for p in parts}
        overview = clinic.console.overview()
        pane.paint(overview, app.zone, False)
        assert all(pane.query_one(p, Static).content is before[p] for p in parts)
        busier = replace(overview, queues=[replace(overview.queues[0], queued=overview.queues[0].queued + 5),
                                           *overview.queues[1:]])
        pane.paint(busier, app.zone, False)
        assert pane.query_one("#overview-queues", Static).content is not before["#overview-queues"]
        assert pane.query_one("#overview-fires", Static).content is before["#overview-fires"]
        await pilot.pause()
        text = "".join(s.text for s in pane.query_one("#overview-queues", Static).render_lines(
            pane.query_one("#overview-queues", Static).region.reset_offset))
        assert str(overview.queues[0].queued + 5) in text


async def test_an_idle_metrics_tab_rereads_evidence_only_when_its_snapshot_is_old_and_then_shows_a_changed_file(
        seeded_clinic):
    """The Metrics (as the Jobs and Validation) tab checks every finished run's evidence file: an idle refresh of
    an unchanged store reads nothing, and once the snapshot is REFETCH_AFTER_S old a file changed on disk outside
    MedJobs is shown INVALID."""
    from tests.conftest import flip_a_byte

    real = seeded_clinic.console.snapshot
    calls = [0]

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    seeded_clinic.console.snapshot = counted
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=0.02, tab="metrics")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert cell(app, "metrics", "supply_monitor", "validation") == "valid"
        fetched = calls[0]
        await settle(pilot, 5)
        assert calls[0] == fetched and app.unchanged_count >= 5             # five idle refreshes, no fetch
        run = next(r for r in seeded_clinic.console.find_runs(RunFilter(job="supply_monitor")) if r.status == "succeeded")
        path = seeded_clinic.settings.evidence_dir / seeded_clinic.console.run_story(run.id).evidence_path
        flip_a_byte(path, at=10)
        seeded_clinic.clock.advance(REFETCH_AFTER_S)
        await wait_until(pilot, lambda: cell(app, "metrics", "supply_monitor", "validation") == "INVALID 1",
                         what="the changed evidence file shown")


async def test_a_snapshot_that_arrives_before_the_overviews_parts_are_mounted_is_painted_by_the_next_one(clinic,
                                                                                                        monkeypatch):
    from textual.css.query import NoMatches

    real_paint, calls = OverviewPane.paint, []

    def paint(self, *args, **kwargs):          # the first paint finds its parts not mounted yet (as under load)
        calls.append(1)
        if len(calls) == 1:
            raise NoMatches("No nodes match '#chart-succeeded'")
        return real_paint(self, *args, **kwargs)

    monkeypatch.setattr(OverviewPane, "paint", paint)
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(calls) >= 2, what="a second paint")
        assert app.is_running
