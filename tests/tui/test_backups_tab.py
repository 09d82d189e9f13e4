"""The Backups tab (key b): each backup kept, made when (clinic time and UTC), its size, verified and row
counts when made, and whether its file is still intact now. A flipped byte in a backup file reads
``NOT intact`` and ``changed since it was made`` on screen, in words and not only in red (issue 5 item 9)."""

from __future__ import annotations

from pathlib import Path

from medjobs_tui.console import Actor
from medjobs_tui.jobs import get_handler
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.tui.app import MedJobsApp
from tests.conftest import flip_a_byte
from tests.tui.pilot import cell, ready_for_snapshot, wait_until

SIZE = (120, 40)
ADMIN, REVIEWER = Actor("ada", "admin"), Actor("rita", "reviewer")


def make_backup(clinic) -> Path:
    """One backup of the clinic's store now (by its clock), as the backup job makes it."""
    s = clinic.settings
    summary = get_handler("backup")(JobContext(db=clinic.console.db, settings=s, job_name="backup",
                                               job=s.jobs["backup"], now=clinic.clock.now(), run_id=None))
    return s.backups_dir / summary["file"]


def two_backups(clinic) -> tuple[Path, Path]:
    """A backup at 07:55 clinic time and one a day later (the retention rule keeps the newest of each day)."""
    first = make_backup(clinic)
    clinic.clock.advance(86400)
    return first, make_backup(clinic)


def backups_app(clinic, actor=ADMIN, refresh_interval=0.1) -> MedJobsApp:
    return MedJobsApp(clinic.console, actor, refresh_interval=refresh_interval, tab="backups")


async def test_a_flipped_byte_in_a_backup_file_reads_changed_on_screen(clinic):
    first, second = two_backups(clinic)
    app = backups_app(clinic)
    async with app.run_test(size=SIZE) as pilot:
        table = app.table("backups")
        await wait_until(pilot, lambda: table.row_count == 2, what="two backups listed")
        keys = [str(k.value) for k in table.rows]
        assert [cell(app, "backups", k, "now") for k in keys] == ["intact", "intact"]
        assert [cell(app, "backups", k, "file") for k in keys] == [second.name, first.name]
        assert cell(app, "backups", keys[1], "made") == "11-29 07:55"          # clinic time (New York)
        assert cell(app, "backups", keys[1], "utc") == "11-29 12:55Z"
        assert cell(app, "backups", keys[1], "verified") == "yes"
        assert cell(app, "backups", keys[1], "rows") == "match"
        flip_a_byte(first)
        await wait_until(pilot, lambda: cell(app, "backups", keys[1], "now") == "NOT intact",
                         what="the changed file noticed")
        assert cell(app, "backups", keys[1], "problem").startswith("changed since it was made")
        assert cell(app, "backups", keys[0], "now") == "intact"
        second.unlink()
        await wait_until(pilot, lambda: cell(app, "backups", keys[0], "now") == "NOT intact",
                         what="the missing file noticed")
        assert cell(app, "backups", keys[0], "problem").startswith("missing")


async def test_a_role_that_may_not_list_backups_sees_none(clinic):
    two_backups(clinic)
    app = backups_app(clinic, REVIEWER)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.refresh_count >= 1, what="the first refresh")
        await pilot.pause()
        assert app.table("backups").row_count == 0
        assert app.latest.backups is None


async def test_b_shows_the_backups_tab(clinic):
    two_backups(clinic)
    app = MedJobsApp(clinic.console, ADMIN, refresh_interval=0.1, tab="queue")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await wait_until(pilot, lambda: app.table("backups").row_count == 2, what="the Backups tab")
        assert app.active_tab == "backups"


def test_backups_tab(snap_compare, clinic):
    """One backup intact, the older one changed after it was made."""
    first, _ = two_backups(clinic)
    flip_a_byte(first)
    clinic.clock.advance(300)
    assert snap_compare(backups_app(clinic, refresh_interval=3600), terminal_size=SIZE,
                        run_before=ready_for_snapshot)
