"""Runs of a job that is no longer in the configuration (removed or renamed while runs of it were queued): no
runner of this configuration can run them, so none claims them (a claimed one would hold its queue's slot for
ever), and a starting runner cancels them, saying why in the run's history, the audit trail and the log."""

from __future__ import annotations

from medjobs_tui.security import audit
from medjobs_tui.store import runs as store_runs
from tests.engine.test_fencing import wait_for
from tests.engine.test_runner import NURSE, history, make_runner


def queue_retired(runner, clock) -> int:
    """A queued run of ``retired_job`` (a supply monitor once, in the clinical queue), no longer configured."""
    return store_runs.insert_run(runner.db, job_name="retired_job", job_type="supply_monitor", queue="clinical",
                                 priority=10, max_attempts=3, trigger="manual", scheduled_at=clock.now(),
                                 created_by="nurse", now=clock.now())


def test_a_run_of_a_job_no_longer_configured_is_never_claimed_and_does_not_block_its_queue(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok", one_queue=True)     # clinical: concurrency 1
    retired = queue_retired(runner, clock)                                  # first in line: highest priority
    current = console.trigger(NURSE, "refill_check")
    runner.drain()
    assert console.run(current).status == "succeeded"
    assert store_runs.get_run(runner.db, retired)["status"] == "queued"
    runner.stop()


def test_a_starting_runner_cancels_the_queued_runs_of_jobs_no_longer_configured_and_says_why(
        tmp_path, clock, caplog):
    runner, console = make_runner(tmp_path, clock, "ok", one_queue=True)
    retired = [queue_retired(runner, clock) for _ in range(2)]
    current = console.trigger(NURSE, "refill_check")
    runner.start()
    try:
        assert wait_for(lambda: console.run(current).status == "succeeded", 30)
    finally:
        runner.stop()
    for run_id in retired:
        assert history(runner, run_id) == ["queued", "cancelled"]
        assert store_runs.run_history(runner.db, run_id)[-1]["note"] == \
            "job retired_job is not in the configuration in force"
    entries = [e for e in audit.entries(runner.db) if e["action"] == "runs.cancel_unconfigured"]
    assert [(e["actor"], e["target"]) for e in entries] == [("runner", "job:retired_job")]
    assert "cancelled 2 queued run(s) of job retired_job" in caplog.text
