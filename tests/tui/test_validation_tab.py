"""Pilot tests of the Validation tab: each job's status as the console evaluates it, and a broken record shows."""

from __future__ import annotations

from medjobs_tui.store import runs as store_runs
from medjobs_tui.tui.app import REFETCH_AFTER_S, MedJobsApp
from medjobs_tui.tui.tables import TABS

from tests.tui.pilot import cell, notices, settle, wait_until

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
        c.clock.advance(REFETCH_AFTER_S)             # an idle dashboard re-reads the files once its snapshot is old
        await settle(pilot, 2)
        assert cell(app, "validation", run["job_name"], "status") == "failing"
        assert "record missing or altered" in cell(app, "validation", run["job_name"], "reasons")


async def test_s_on_the_validation_tab_runs_the_selftest_in_a_worker_and_shows_its_result(clinic, monkeypatch):
    """The key starts the self-test in a thread worker: while it runs the line under the table says so and the
    dashboard still answers keys; its result then shows there. The exercise itself (seconds, worker processes)
    is tests/engine/test_selftest.py's: here it waits on a gate, then records a passing result."""
    import threading

    from medjobs_tui.console import selftest as st
    from medjobs_tui.tui import validation_tab

    gate, started = threading.Event(), threading.Event()

    def exercise(console, actor, **_):
        started.set()
        assert gate.wait(10)
        now = console.clock.now()
        checks = [st.SelfTestCheck("job:backup", "tests", True, "ok"),
                  st.SelfTestCheck("timing:backup", "performance", True, "0.2 s of 300 s"),
                  st.SelfTestCheck("audit:chain", "security", True, "ok")]
        return st.record_result(console, actor, started=now, finished=now, duration_s=4.2, checks=checks,
                                durations={}, passed=True, performance_ok=True, security_ok=True)

    monkeypatch.setattr(st, "run_selftest", exercise)
    key = str([s.id for s in TABS].index("validation") + 1)
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        line = app.query_one(f"#{validation_tab.SELFTEST_ID}")
        assert "No self-test recorded yet" in str(line.render())
        await pilot.press("s")
        await wait_until(pilot, started.is_set, what="the self-test to start")
        assert "Self-test running" in str(line.render())
        await pilot.press("2")                        # the dashboard answers keys meanwhile
        assert app.active_tab == "jobs"
        await pilot.press(key)
        gate.set()
        await wait_until(pilot, lambda: "Self-test 1 PASSED" in str(line.render()), what="the result")
        assert "3/3 checks" in str(line.render())
        assert any("Self-test 1 passed" in n for n in notices(app))
        await settle(pilot, 2)                        # later refreshes keep showing the latest self-test
        assert "Self-test 1 PASSED" in str(line.render())


async def test_the_selftest_key_is_not_offered_to_an_auditor(clinic):
    from medjobs_tui.console import Actor

    app = MedJobsApp(clinic.console, Actor("aud", "auditor"), refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(str([s.id for s in TABS].index("validation") + 1))
        await settle(pilot)
        assert app.check_action("selftest", ()) is False
        assert clinic.console.latest_selftest() is None
