"""The engine's life of a run: priority order, retries with backoff, hard timeouts, pause, dedupe, recovery, evidence."""

from __future__ import annotations

import logging

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from medjobs_tui.clock import iso
from medjobs_tui.config import load_settings
from medjobs_tui.console import Actor, Console, ConsoleError, PermissionDenied
from medjobs_tui.engine.pool import WorkerPool
from medjobs_tui.engine.runner import LEASE_SECONDS, Runner
from medjobs_tui.security.audit import verify_chain
from medjobs_tui.store import connect
from medjobs_tui.store import runs as store_runs
from medjobs_tui.store import validation as store_validation
from tests.conftest import STORE_KEY, TEST_KEYS, write_config

JOB_TYPES = ["medication_reminder", "refill_check", "interaction_check", "supply_monitor",
             "analytics_rollup", "backup"]
NURSE = Actor("nurse.kim", "operator")


def make_runner(tmp_path: Path, clock, handler: str, *, retry=None, timeout=None, one_queue=False):
    """A runner of the tmp clinic whose every job runs ``tests.engine.handlers:<handler>``."""
    from tests.conftest import REPO
    import yaml

    jobs = yaml.safe_load((REPO / "config.yaml").read_text())["jobs"]
    for job in jobs.values():
        if retry is not None:
            job["retry_policy"] = retry
        if timeout is not None:
            job["timeout"] = timeout
        if one_queue:
            job["queue"] = "clinical"
    overrides = {"jobs": jobs}
    if one_queue:
        overrides["runner"] = {"poll_interval": 1.0, "queues": {"clinical": {"concurrency": 1},
                                                               "maintenance": {"concurrency": 1}}}
    settings = load_settings(write_config(tmp_path, **overrides))
    executor = WorkerPool(settings, {t: f"tests.engine.handlers:{handler}" for t in JOB_TYPES})
    runner = Runner(settings, clock=clock, executor=executor)
    return runner, Console(settings, runner=runner)


def history(runner, run_id):
    return [h["to_status"] for h in store_runs.run_history(runner.db, run_id)]


def test_runs_are_claimed_highest_priority_first_then_oldest(tmp_path, clock):
    order_file = tmp_path / "order.txt"
    runner, console = make_runner(tmp_path, clock, "record_order", one_queue=True)
    # queued in the opposite order of priority; two normal jobs, refill_check older than backup
    for name in ["analytics_rollup", "refill_check"]:
        console.trigger(NURSE, name)
    clock.advance(1)
    for name in ["backup", "medication_reminder", "interaction_check"]:
        console.trigger(NURSE, name)
    runner.drain()
    runner.stop()
    assert order_file.read_text().split() == [
        "interaction_check", "medication_reminder", "refill_check", "backup", "analytics_rollup"]


def test_queue_concurrency_limit_is_respected_by_claims(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    for name in ["medication_reminder", "refill_check", "interaction_check", "backup", "analytics_rollup"]:
        console.trigger(NURSE, name)
    claimed = []
    while (run := store_runs.claim_next(runner.db, runner.capacity, clock.now())) is not None:
        claimed.append((run["job_name"], run["queue"]))
    runner.stop()
    # clinical allows 2 at once, maintenance 1: the third clinical run waits
    assert [q for _, q in claimed].count("clinical") == 2
    assert [q for _, q in claimed].count("maintenance") == 1


def test_failed_run_is_retried_until_attempts_are_exhausted_then_dead(tmp_path, clock, caplog):
    runner, console = make_runner(tmp_path, clock, "fail", retry={"max_attempts": 3, "delay": 0})
    run_id = console.trigger(NURSE, "refill_check")
    with caplog.at_level(logging.INFO, logger="medjobs_tui.engine"):
        runner.drain()
    # the runner's log says it at the level it deserves: a retry is a warning, a dead run an error
    levels = [(r.levelname, r.getMessage().rsplit(": now ", 1)[1]) for r in caplog.records
              if r.getMessage().startswith(f"run {run_id} of refill_check attempt")]
    assert levels == [("WARNING", "queued"), ("WARNING", "queued"), ("ERROR", "dead")]
    run = console.run(run_id)
    assert (run.status, run.attempt) == ("dead", 3)
    assert history(runner, run_id) == ["queued", "running", "failed", "queued", "running", "failed", "queued",
                                       "running", "failed", "dead"]
    m = {m.job_name: m for m in console.metrics()}["refill_check"]
    assert (m.attempts, m.retry_count, m.error_rate, m.success_rate) == (3, 2, 1.0, 0.0)
    # the handler's exception text carried a name: it is masked everywhere a user can see
    assert "Jane" not in (run.error or "") and "RuntimeError" in run.error
    assert "Jane" not in console.read_evidence(NURSE, run_id)
    # a dead run raises a staff alert once
    assert [n.kind for n in console.notifications()] == ["job_failed"]
    runner.stop()


def test_retry_waits_for_backoff_delay_on_the_injected_clock(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "fail_until_third",
                                  retry={"max_attempts": 3, "delay": 300, "backoff": "exponential"})
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    run = console.run(run_id)
    assert (run.status, run.attempt) == ("queued", 2)
    assert run.available_at == clock.now() + timedelta(seconds=300)
    clock.advance(299)
    runner.drain()
    assert console.run(run_id).attempt == 2  # not yet due
    clock.advance(1)
    runner.drain()
    run = console.run(run_id)
    assert (run.status, run.attempt) == ("queued", 3)
    assert run.available_at == clock.now() + timedelta(seconds=600)  # exponential: 2 x delay
    clock.advance(600)
    runner.drain()
    assert console.run(run_id).status == "succeeded"
    assert console.run_summary(run_id) == {"attempt": 3}
    runner.stop()


def test_hanging_handler_is_killed_at_its_timeout(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "hang", retry={"max_attempts": 1, "delay": 0}, timeout=0.5)
    run_id = console.trigger(NURSE, "supply_monitor")
    runner.drain(timeout=20)
    run = console.run(run_id)
    assert run.status == "dead"
    assert history(runner, run_id)[-2:] == ["timed_out", "dead"]
    assert 0.5 <= run.duration_s < 5
    m = {m.job_name: m for m in console.metrics()}["supply_monitor"]
    assert m.timeout_count == 1
    runner.stop()


def test_paused_job_tick_is_recorded_as_skipped_and_resumed_job_queues_again(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    console.pause(NURSE, "medication_reminder")
    fire = clock.now().replace(minute=45)
    skipped = runner.tick("medication_reminder", fire)
    assert store_runs.get_run(runner.db, skipped)["status"] == "skipped"
    assert {j.name: j.paused for j in console.jobs()}["medication_reminder"] is True
    runner.drain()
    assert store_runs.get_run(runner.db, skipped)["status"] == "skipped"  # never executed
    console.resume(NURSE, "medication_reminder")
    clock.advance(900)
    queued = runner.tick("medication_reminder", fire + timedelta(minutes=15))
    runner.drain()
    assert console.run(queued).status == "succeeded"
    runner.stop()


def test_the_same_schedule_tick_is_queued_once(tmp_path, clock):
    runner, _ = make_runner(tmp_path, clock, "ok")
    fire = clock.now().replace(hour=7, minute=45)
    first = runner.tick("backup", fire)
    again = runner.tick("backup", fire)
    assert first is not None and again is None
    runner.stop()


def test_run_left_running_by_a_dead_runner_is_recovered_as_interrupted_and_requeued(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    assert store_runs.claim_next(runner.db, runner.capacity, clock.now())["id"] == run_id
    runner.stop()  # the runner "dies" with the run still marked running

    runner2, console2 = make_runner(tmp_path, clock, "ok")
    assert runner2.recover() == [run_id]
    assert history(runner2, run_id)[-2:] == ["interrupted", "queued"]
    runner2.drain()
    run = console2.run(run_id)
    assert (run.status, run.attempt, run.max_attempts) == ("succeeded", 2, 4)  # the interruption cost no retry
    runner2.stop()


def test_a_run_held_by_another_live_runner_is_not_recovered_until_its_lease_expires(tmp_path, clock):
    window_a, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    assert store_runs.claim_next(window_a.db, window_a.capacity, clock.now(), worker=window_a.id)["id"] == run_id
    window_a._ensure_live()
    window_b, _ = make_runner(tmp_path, clock, "ok")   # a second window on the same clinic
    assert window_b.recover() == []
    assert console.run(run_id).status == "running"
    # window A dies without a word: its heartbeat stops; once the lease has expired, B recovers the run
    window_a._stopping.set()
    window_a._heartbeat.join()
    clock.advance(LEASE_SECONDS + 1)
    assert window_b.recover() == [run_id]
    assert console.run(run_id).status == "queued"
    window_b.stop()


def test_stopping_the_runner_mid_attempt_requeues_the_run_now_without_spending_a_retry(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "hang", retry={"max_attempts": 2, "delay": 900}, timeout=60)
    run_id = console.trigger(NURSE, "backup")
    assert runner.dispatch() == [run_id]
    deadline = time.monotonic() + 10
    while not runner.executor.attempts_running() and time.monotonic() < deadline:  # a worker has started it
        time.sleep(0.01)
    runner.stop()
    run = console.run(run_id)
    assert (run.status, run.attempt, run.max_attempts) == ("queued", 2, 3)
    assert run.available_at == clock.now()
    assert history(runner, run_id)[-2:] == ["interrupted", "queued"]


def test_every_run_leaves_evidence_whose_hash_is_checked(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    [ev] = console.evidence()
    assert ev.run_id == run_id and ev.valid
    assert ev.path == f"jobs/backup/2026/11/29/{run_id}.yaml"
    assert {m.job_name: m for m in console.metrics()}["backup"].validation_status == "valid"
    path = runner.settings.evidence_dir / ev.path
    path.write_text(path.read_text().replace("succeeded", "failed"))
    assert not console.evidence()[0].valid
    assert {m.job_name: m for m in console.metrics()}["backup"].validation_status == "invalid: 1"
    runner.stop()


def test_each_attempt_leaves_the_record_of_the_run_as_recorded_and_no_temporary_file(tmp_path, clock):
    """The record is written under a temporary name before the outcome's transaction and renamed into place
    inside it: after a failed attempt (re-queued) and a dead one, the record in place is the run as stored."""
    import yaml

    runner, console = make_runner(tmp_path, clock, "fail", retry={"max_attempts": 2, "delay": 0})
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    run = store_runs.get_run(runner.db, run_id)
    doc = yaml.safe_load((runner.settings.evidence_dir / run["evidence_path"]).read_text())
    assert run["status"] == doc["run"]["status"] == "dead"
    assert [(a["attempt"], a["outcome"]) for a in doc["attempts"]] == [(1, "failed"), (2, "failed")]
    assert doc["run"]["finished_at"] == run["finished_at"] and doc["run"]["duration_s"] == run["duration_s"]
    assert console.evidence()[0].valid
    assert [link["run_id"] for link in store_validation.chain_links(runner.db)] == [run_id, run_id]  # one per attempt
    assert list(runner.settings.evidence_dir.rglob("*.tmp")) == []
    runner.stop()


def test_a_staged_record_that_does_not_fit_the_recorded_outcome_is_written_again_in_the_transaction(
        tmp_path, clock, monkeypatch):
    """The worker stages the record it expects; the transaction places it only if it is exactly the run's
    record as recorded. Here the worker's guess is wrong (it says dead): the record is written afresh."""
    import yaml

    from medjobs_tui.engine import evidence

    runner, console = make_runner(tmp_path, clock, "ok")
    execute = runner.executor.execute
    staged_files = []

    def wrong_guess(run, now, timeout_s):
        outcome = execute(run, now, timeout_s)
        staged = outcome.staged
        assert staged is not None and Path(staged.tmp).exists()          # the worker staged one
        staged.record["run"]["status"] = "dead"
        Path(staged.tmp).write_text(evidence.dump_yaml(staged.record))
        staged.sha256 = evidence.file_sha256(Path(staged.tmp))
        staged_files.append(staged.tmp)
        return outcome

    monkeypatch.setattr(runner.executor, "execute", wrong_guess)
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    run = store_runs.get_run(runner.db, run_id)
    doc = yaml.safe_load((runner.settings.evidence_dir / run["evidence_path"]).read_text())
    assert run["status"] == doc["run"]["status"] == "succeeded"
    assert console.evidence()[0].valid and staged_files
    assert list(runner.settings.evidence_dir.rglob("*.tmp")) == []     # the wrong one was removed
    runner.stop()


def test_operator_actions_are_audited_and_roles_are_enforced(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    console.trigger(NURSE, "backup")
    with pytest.raises(PermissionDenied):
        console.trigger(Actor("audrey", "auditor"), "backup")
    with pytest.raises(ConsoleError, match="only a dead run, or a failed run waiting for its retry"):
        console.retry(NURSE, 1)
    db = connect(runner.settings.database_path, STORE_KEY)
    rows = db.execute("SELECT actor, action, outcome FROM audit_log ORDER BY id").fetchall()
    assert rows == [("nurse.kim", "job.trigger", "ok"), ("audrey", "job.trigger", "denied")]
    assert verify_chain(db, TEST_KEYS.audit) == (True, None)
    with pytest.raises(Exception, match="append-only"):
        db.execute("UPDATE audit_log SET actor = 'someone else' WHERE id = 1")
    runner.stop()


def test_retry_of_a_failed_run_waiting_for_backoff_runs_it_now(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "fail_until_third", retry={"max_attempts": 3, "delay": 900})
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    assert console.run(run_id).available_at > clock.now()
    console.retry(NURSE, run_id)
    assert console.run(run_id).available_at == clock.now()
    runner.drain()
    run = console.run(run_id)
    assert (run.status, run.attempt, run.max_attempts) == ("queued", 3, 3)  # failed again, budget unchanged
    runner.stop()


def test_retry_of_a_dead_run_gives_it_one_more_attempt(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "fail", retry={"max_attempts": 1, "delay": 0})
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    assert console.run(run_id).status == "dead"
    console.retry(NURSE, run_id)
    run = console.run(run_id)
    assert (run.status, run.attempt, run.max_attempts) == ("queued", 2, 2)
    runner.drain()
    assert console.run(run_id).status == "dead"
    runner.stop()


def test_started_runner_stops_cleanly(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    runner.start()
    assert runner.scheduler.running
    assert {j.name for j in console.jobs() if j.next_run_at is not None} == set(runner.settings.jobs)
    runner.stop()
    assert not runner.scheduler.running
    assert os.path.exists(runner.settings.database_path)


def test_two_runners_on_one_store_queue_each_interval_tick_once(tmp_path, clock):
    from medjobs_tui.config import Schedule
    from medjobs_tui.engine.ticks import make_trigger

    runner_a, console = make_runner(tmp_path, clock, "ok")
    runner_b, _ = make_runner(tmp_path, clock, "ok")
    job = runner_a.settings.jobs["backup"].model_copy(update={"schedule": Schedule(type="interval", value=4)})
    runner_a.settings.jobs["backup"] = runner_b.settings.jobs["backup"] = job
    trigger = make_trigger(job, runner_a.settings)
    fire = trigger.get_next_fire_time(None, clock.now())
    clock.set(fire + timedelta(milliseconds=20))
    first = runner_a.tick("backup", fire)
    clock.advance(1.5)                                   # the other window's scheduler fires a little later
    assert runner_b.tick("backup", fire) is None         # same tick: not queued twice
    clock.advance(3)                                     # the next tick, 4 s after the first
    runner_a.drain()
    assert runner_b.tick("backup", trigger.get_next_fire_time(fire, fire)) is not None
    assert store_runs.get_run(runner_a.db, first)["scheduled_at"] == iso(fire)
    runner_a.stop()
    runner_b.stop()


def test_trigger_and_wait_runs_only_the_triggered_run(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    other = console.trigger(NURSE, "supply_monitor")
    mine = console.trigger(NURSE, "backup")
    runner.drain(only={mine})
    assert console.run(mine).status == "succeeded"
    assert console.run(other).status == "queued"
    runner.stop()


def test_a_live_runner_recovers_the_runs_of_a_runner_that_died_while_it_ran(tmp_path, clock, monkeypatch):
    import medjobs_tui.engine.runner as runner_mod

    monkeypatch.setattr(runner_mod, "RECOVERY_EVERY_S", 0.0)
    dead, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    assert store_runs.claim_next(dead.db, dead.capacity, clock.now(), worker=dead.id)["id"] == run_id
    dead._ensure_live()
    live, _ = make_runner(tmp_path, clock, "ok")
    live.start()
    assert console.run(run_id).status == "running"     # held by a live runner: left alone
    dead._stopping.set()                                # the first runner dies: no more heartbeats
    dead._heartbeat.join()
    clock.advance(runner_mod.LEASE_SECONDS + 1)
    deadline = time.monotonic() + 10
    while console.run(run_id).status != "succeeded" and time.monotonic() < deadline:
        live.wake()
        time.sleep(0.05)
    live.stop()
    assert console.run(run_id).status == "succeeded"
    assert "interrupted" in history(live, run_id)


def test_a_run_whose_evidence_cannot_be_written_shows_as_invalid_not_valid(tmp_path, clock, caplog):
    runner, console = make_runner(tmp_path, clock, "ok")
    runner.settings.evidence_dir.mkdir(parents=True, exist_ok=True)
    runner.settings.evidence_dir.rmdir()
    runner.settings.evidence_dir.write_text("not a folder")   # someone replaced the folder by a file
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    run = store_runs.get_run(runner.db, run_id)
    assert run["status"] == "succeeded" and run["evidence_path"] is None
    assert {m.job_name: m for m in console.metrics()}["backup"].validation_status == "invalid: 1"
    assert f"evidence of run {run_id} could not be written" in caplog.text
    runner.stop()


def test_a_permanent_error_goes_straight_to_dead_without_spending_retries(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "bad_data", retry={"max_attempts": 5, "delay": 60})
    run_id = console.trigger(NURSE, "refill_check")
    runner.drain(timeout=30)
    run = console.run(run_id)
    assert (run.status, run.attempt, run.max_attempts) == ("dead", 1, 5)
    assert history(runner, run_id) == ["queued", "running", "failed", "dead"]
    assert store_runs.run_history(runner.db, run_id)[-1]["note"] == "permanent error: not retried"
    assert "PermanentError" in run.error and "Jane" not in run.error
    assert [n.kind for n in console.notifications()] == ["job_failed"]     # a dead run alerts as ever
    runner.stop()


def test_a_jittered_backoff_is_drawn_from_the_whole_window(tmp_path, clock, monkeypatch):
    import random

    import medjobs_tui.engine.retry as retry_mod

    monkeypatch.setattr(retry_mod, "_RNG", random.Random(11))
    wait = random.Random(11).uniform(0, 300)
    runner, console = make_runner(tmp_path, clock, "fail", retry={"max_attempts": 3, "delay": 300, "jitter": True})
    run_id = console.trigger(NURSE, "backup")
    runner.drain(timeout=30)
    run = console.run(run_id)
    assert (run.status, run.attempt) == ("queued", 2)
    assert run.available_at == (clock.now() + timedelta(seconds=wait)).replace(microsecond=0)
    runner.stop()
