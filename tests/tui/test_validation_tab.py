"""Pilot tests of the Validation tab: each job's status as the console evaluates it, and a broken record shows."""

from __future__ import annotations

from medjobs_tui.store import runs as store_runs
from medjobs_tui.tui.app import MedJobsApp
from medjobs_tui.tui.tables import TABS

from tests.tui.pilot import cell, settle

SIZE = (120, 40)


async def test_the_validation_tab_shows_each_jobs_status_and_an_altered_record_makes_its_job_failing(seeded_clinic):
    c = seeded_clinic
    key = str([s.id for s in TABS].index("validation") + 1)
    app = MedJobsApp(c.console, c.actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(key)
        assert app.active_tab == "validation"
        await settle(pilot)
        expected = {v.job_name: v for v in c.console.validation()}
        assert [r.value for r in app.table("validation").rows] == list(c.settings.jobs)
        for name, v in expected.items():
            assert cell(app, "validation", name, "status") == v.status
            assert cell(app, "validation", name, "evidence") == f"{v.evidence_ok}/{v.runs_checked}"
        # break one succeeded run's evidence record: its job turns failing, with the reason on screen
        run = next(r for r in store_runs.recent_runs(c.console.db) if r["status"] == "succeeded" and r["evidence_path"])
        path = c.settings.evidence_dir / run["evidence_path"]
        path.write_text(path.read_text() + "# edited\n")
        await settle(pilot, 2)
        assert cell(app, "validation", run["job_name"], "status") == "failing"
        assert "record missing or altered" in cell(app, "validation", run["job_name"], "reasons")
