"""Claim batches: short runs that follow the claimed run in its queue are claimed with it, run one after another in
one worker and recorded in one transaction; the batch holds one slot of its queue, keeps the claim order, kills
each attempt at its own timeout, and a batch that ends early keeps what finished and hands back what never began."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from medjobs_tui.engine import pool as engine_pool
from medjobs_tui.engine.evidence import is_valid
from medjobs_tui.engine.pool import DETAIL_NOT_KEPT, NOT_STARTED, WorkerPool
from medjobs_tui.engine.runner import BATCH_BUDGET_S
from medjobs_tui.store import runs as store_runs
from tests.engine.test_fencing import wait_for
from tests.engine.test_runner import NURSE, history, make_runner

ALL = lambda candidates: len(candidates)  # noqa: E731 - admit every candidate


def queue_runs(runner, clock, job_name: str, n: int, priority: int | None = None) -> list[int]:
    """``n`` runs of ``job_name`` queued one second apart (oldest first)."""
    job = runner.settings.jobs[job_name]
    ids = []
    for _ in range(n):
        ids.append(store_runs.insert_run(
            runner.db, job_name=job_name, job_type=job.job_type, queue=job.queue_name,
            priority=job.priority_rank if priority is None else priority, max_attempts=job.retry_policy.max_attempts,
            trigger="manual", scheduled_at=clock.now(), created_by="test", now=clock.now()))
        clock.advance(1)
    return ids


# ----------------------------------------------------------------------------------------------- the claim


def test_a_claim_batch_takes_the_followers_of_the_claimed_run_in_its_queue_in_claim_order(tmp_path, clock):
    runner, _ = make_runner(tmp_path, clock, "ok")      # clinical (reminders, refills, ...) and maintenance queues
    backups = queue_runs(runner, clock, "backup", 2)                       # maintenance
    refills = queue_runs(runner, clock, "refill_check", 3)                 # clinical, normal priority
    urgent = queue_runs(runner, clock, "medication_reminder", 2)           # clinical, high priority, newer
    claimed = store_runs.claim_batch(runner.db, runner.capacity, clock.now(), worker=runner.id, max_runs=4, admit=ALL)
    assert [r["id"] for r in claimed] == [*urgent, *refills[:2]]          # priority first, then oldest; no backup
    assert {r["claim_batch"] for r in claimed} == {urgent[0]}
    assert all(r["status"] == "running" and r["claimed_by"] == runner.id for r in claimed)
    assert [history(runner, r)[-1] for r in [*urgent, *refills[:2]]] == ["running"] * 4
    assert [store_runs.get_run(runner.db, r)["status"] for r in [refills[2], *backups]] == ["queued"] * 3
    runner.stop()


def test_a_waiting_run_precedes_a_claimed_one_exactly_when_the_claim_order_puts_it_first(tmp_path, clock):
    """``precedes_waiting`` (a batch's check between attempts) against the claim order spelled out: whatever
    priorities and times the runs have, it is True exactly when a due run waiting in the queue comes before the
    claimed one by priority (higher first), then scheduled time, then id."""
    import random

    runner, _ = make_runner(tmp_path, clock, "ok")
    rng = random.Random(7)
    key = lambda r: (-r["priority"], r["scheduled_at"], r["id"])   # noqa: E731 - the claim order
    seen = set()
    for trial in range(60):
        runner.db.execute("UPDATE runs SET status = 'cancelled' WHERE status IN ('queued', 'running')")
        ids = []
        for _ in range(rng.randint(1, 5)):
            ids += queue_runs(runner, clock, "refill_check", 1, priority=rng.choice([1, 2, 3]))
            clock.advance(-rng.choice([0, 1, 2]))          # equal and earlier scheduled times too
        target = store_runs.get_run(runner.db, rng.choice(ids))
        runner.db.execute("UPDATE runs SET status = 'running' WHERE id = ?", [target["id"]])
        now = clock.now() + timedelta(seconds=10)
        waiting = [store_runs.get_run(runner.db, i) for i in ids if i != target["id"]]
        expected = any(key(r) < key(target) for r in waiting)
        seen.add(expected)
        assert store_runs.precedes_waiting(runner.db, target, now) == expected, trial
    assert seen == {True, False}
    runner.stop()


def test_admit_decides_how_many_followers_come_along_and_the_first_run_always_does(tmp_path, clock):
    runner, _ = make_runner(tmp_path, clock, "ok")
    ids = queue_runs(runner, clock, "refill_check", 5)
    one = store_runs.claim_batch(runner.db, runner.capacity, clock.now(), worker=runner.id, max_runs=5,
                                 admit=lambda c: 0)
    assert [r["id"] for r in one] == ids[:1] and one[0]["claim_batch"] is None      # alone: no batch
    three = store_runs.claim_batch(runner.db, runner.capacity, clock.now(), worker=runner.id, max_runs=5,
                                   admit=lambda c: 3)
    assert [r["id"] for r in three] == ids[1:4]
    runner.stop()


def test_a_batch_holds_one_slot_of_its_queue(tmp_path, clock):
    runner, _ = make_runner(tmp_path, clock, "ok", one_queue=True)         # clinical: concurrency 1
    runner.capacity = {"clinical": 2, "maintenance": 1}
    ids = queue_runs(runner, clock, "refill_check", 6)
    first = store_runs.claim_batch(runner.db, runner.capacity, clock.now(), worker=runner.id, max_runs=3, admit=ALL)
    second = store_runs.claim_next(runner.db, runner.capacity, clock.now(), worker=runner.id)
    assert [r["id"] for r in first] == ids[:3] and second["id"] == ids[3]   # three running runs, two slots
    assert store_runs.claim_next(runner.db, runner.capacity, clock.now(), worker=runner.id) is None   # full
    runner.stop()


def test_a_runner_admits_only_runs_expected_to_fit_the_budget_together(tmp_path, clock):
    runner, _ = make_runner(tmp_path, clock, "ok")
    run = {"job_name": "refill_check"}
    assert runner._admit([run, run]) == 0                                  # never ran here: alone
    runner._expected_s["refill_check"] = BATCH_BUDGET_S / 4
    assert runner._admit([run] * 10) == 4
    runner._expected_s["refill_check"] = BATCH_BUDGET_S * 2                # a real handler's length: alone
    assert runner._admit([run] * 10) == 0
    runner._expected_s["backup"] = 0.001                                   # its effect is a file: never batched
    assert runner._admit([{"job_name": "backup"}] * 3) == 0
    runner.stop()


# ----------------------------------------------------------------------------------------------- a started runner


def test_short_runs_in_a_backlog_run_as_batches_each_with_its_own_attempt_times_and_valid_evidence(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "marked", one_queue=True)
    runner._expected_s["refill_check"] = 0.001            # known short: it has run here before
    ids = queue_runs(runner, clock, "refill_check", 12)
    runner.start()
    try:
        assert wait_for(lambda: all(store_runs.get_run(runner.db, r)["status"] == "succeeded" for r in ids), 30)
    finally:
        runner.stop()
    runs = [store_runs.get_run(runner.db, r) for r in ids]
    batches = {r["claim_batch"] for r in runs if r["claim_batch"] is not None}
    assert batches, "no run was claimed in a batch"
    for batch in batches:
        members = [r for r in runs if r["claim_batch"] == batch]
        assert len(members) >= 2 and len({console.run_summary(r["id"])["pid"] for r in members}) == 1  # one worker
        for before, after in zip(members, members[1:]):                   # one after another (instants in seconds)
            assert before["started_at"] <= before["finished_at"] <= after["started_at"] <= after["finished_at"]
    for run in runs:
        assert history(runner, run["id"]) == ["queued", "running", "succeeded"]
        attempts = store_runs.run_attempts(runner.db, run["id"])
        assert [(a["started_at"], a["finished_at"]) for a in attempts] == [(run["started_at"], run["finished_at"])]
        assert is_valid(runner.settings.evidence_dir, run["evidence_path"], run["evidence_sha256"])


def start_batched(tmp_path, clock, monkeypatch, marks: dict[int, str], n: int = 4, handlers=None, **kwargs):
    """A started runner whose clinical queue (concurrency 1) holds ``n`` short refill checks: the first is claimed
    alone (the dispatcher's claim), the rest as one batch. ``marks``: position -> what its handler does
    (``tests.engine.handlers:marked``, or ``handlers``: job type -> handler reference)."""
    monkeypatch.setattr(engine_pool, "BATCH_BACKSTOP_S", 120.0)   # only an attempt's own timer can end it in time
    runner, console = make_runner(tmp_path, clock, "marked", one_queue=True, **kwargs)
    if handlers is not None:
        runner.executor = WorkerPool(runner.settings, handlers)
    runner._expected_s["refill_check"] = 0.001
    ids = queue_runs(runner, clock, "refill_check", n)
    for position, what in marks.items():
        (tmp_path / f"mark-{ids[position]}").write_text(what)
    runner.start()
    return runner, console, ids


def settled(runner, ids, statuses=("succeeded", "dead")):
    return all(store_runs.get_run(runner.db, r)["status"] in statuses for r in ids)


def test_a_batched_attempt_past_its_own_timeout_is_killed_and_the_runs_after_it_go_back_unstarted(
        tmp_path, clock, monkeypatch):
    runner, console, ids = start_batched(tmp_path, clock, monkeypatch, {2: "hang"}, timeout=0.5,
                                         retry={"max_attempts": 1, "delay": 0})
    try:
        assert wait_for(lambda: settled(runner, ids), 60)
    finally:
        runner.stop()
    first, before, hung, after = ids
    assert store_runs.get_run(runner.db, before)["claim_batch"] == before     # the batch: before, hung, after
    assert [console.run(r).status for r in ids] == ["succeeded", "succeeded", "dead", "succeeded"]
    assert history(runner, hung) == ["queued", "running", "timed_out", "dead"]
    assert console.run(hung).error == "killed at the timeout of 0.5 s"
    assert history(runner, after) == ["queued", "running", "queued", "running", "succeeded"]   # handed back
    attempts = store_runs.run_attempts(runner.db, after)
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "succeeded")]   # no attempt spent, none left
    assert store_runs.run_history(runner.db, after)[2]["note"] == NOT_STARTED
    metrics = {m.job_name: m for m in console.metrics()}["refill_check"]
    assert (metrics.attempts, metrics.retry_count) == (4, 0)      # four runs ran once each: the hand-back counts not
    for run_id in ids:
        run = store_runs.get_run(runner.db, run_id)
        assert is_valid(runner.settings.evidence_dir, run["evidence_path"], run["evidence_sha256"])


def test_a_worker_killed_mid_batch_keeps_the_outcomes_that_finished_before_it(tmp_path, clock, monkeypatch):
    runner, console, ids = start_batched(tmp_path, clock, monkeypatch, {1: "fail", 2: "kill"}, n=5,
                                         retry={"max_attempts": 1, "delay": 0})
    try:
        assert wait_for(lambda: settled(runner, ids), 60)
    finally:
        runner.stop()
    first, failed, killed, after, last = ids
    assert [console.run(r).status for r in ids] == ["succeeded", "dead", "dead", "succeeded", "succeeded"]
    assert history(runner, failed) == ["queued", "running", "failed", "dead"]   # known from its progress record
    error = console.run(failed).error
    assert error.startswith("RuntimeError: details withheld (ref E-")
    ref = error.rsplit("ref ", 1)[1].rstrip(")")
    assert store_runs.error_detail(runner.db, ref)["detail"] == DETAIL_NOT_KEPT   # the progress file had no traceback
    assert history(runner, killed) == ["queued", "running", "crashed", "dead"]
    assert console.run(killed).error == "worker process killed by SIGKILL"
    assert history(runner, after)[:3] == ["queued", "running", "queued"]           # handed back unstarted
    for run_id in ids:
        run = store_runs.get_run(runner.db, run_id)
        assert is_valid(runner.settings.evidence_dir, run["evidence_path"], run["evidence_sha256"])


def test_a_batched_attempt_is_recorded_with_its_real_start_not_its_claim(tmp_path, clock):
    from medjobs_tui.engine.pool import Outcome

    runner, _ = make_runner(tmp_path, clock, "ok")
    queue_runs(runner, clock, "refill_check", 2)
    claimed = store_runs.claim_batch(runner.db, runner.capacity, clock.now(), worker=runner.id, max_runs=2, admit=ALL)
    began = clock.now() + timedelta(seconds=3)                # the first run took 3 s: the second began then
    second = claimed[1]
    runner.record_outcome(second, Outcome("succeeded", 0.5, summary={}, started_at=began,
                                          finished_at=began + timedelta(seconds=0.5)))
    run = store_runs.get_run(runner.db, second["id"])
    attempt = store_runs.run_attempts(runner.db, second["id"])[0]
    assert run["started_at"] == attempt["started_at"] == began.isoformat(timespec="seconds")
    assert is_valid(runner.settings.evidence_dir, run["evidence_path"], run["evidence_sha256"])
    runner.stop()


def test_a_restarted_runner_knows_its_short_jobs_from_the_store_and_claims_a_backlog_in_batches(tmp_path, clock):
    runner, _ = make_runner(tmp_path, clock, "ok", one_queue=True)
    earlier = queue_runs(runner, clock, "refill_check", 3)
    runner.drain()                                           # one by one: this runner knows nothing yet
    assert {store_runs.get_run(runner.db, r)["claim_batch"] for r in earlier} == {None}
    runner.stop()
    typical = store_runs.typical_durations(runner.db, clock.now() - timedelta(days=1))["refill_check"]
    assert typical < BATCH_BUDGET_S

    restarted, _ = make_runner(tmp_path, clock, "ok", one_queue=True)
    restarted.start()
    known = dict(restarted._expected_s)                      # before any run of its own
    backlog = queue_runs(restarted, clock, "refill_check", 6)
    restarted.wake()
    try:
        assert wait_for(lambda: settled(restarted, backlog), 30)
    finally:
        restarted.stop()
    assert known.get("refill_check") == pytest.approx(typical)
    assert any(store_runs.get_run(restarted.db, r)["claim_batch"] for r in backlog)


def test_an_executor_that_breaks_under_a_batch_fails_its_first_run_and_hands_the_others_back(tmp_path, clock):
    class Broken:
        def execute_batch(self, *args, **kwargs):
            raise OSError("the pool is gone")

    runner, console = make_runner(tmp_path, clock, "ok", retry={"max_attempts": 1, "delay": 0})
    runner.executor = Broken()
    ids = queue_runs(runner, clock, "refill_check", 3)
    claimed = store_runs.claim_batch(runner.db, runner.capacity, clock.now(), worker=runner.id, max_runs=3, admit=ALL)
    runner._execute_runs(claimed, wake=False)
    assert [console.run(r).status for r in ids] == ["dead", "queued", "queued"]
    assert console.run(ids[0]).error == "executor error: OSError"
    assert [store_runs.run_attempts(runner.db, r) for r in ids[1:]] == [[], []]     # never started: no attempt
    runner.stop()


def test_a_job_whose_attempt_timed_out_or_crashed_is_claimed_alone_until_one_ends_normally(tmp_path, clock):
    """Its next attempt may kill its worker again: in a batch, every run after it would go back unstarted each time
    (a fresh user saw a run handed back 22 times behind a job with a 5 ms timeout)."""
    from medjobs_tui.engine.pool import Outcome

    runner, _ = make_runner(tmp_path, clock, "ok")
    run = {"job_name": "refill_check"}
    runner._learn(run, Outcome("succeeded", 0.001))
    assert runner._admit([run] * 5) == 5
    for ended in ("timed_out", "crashed"):
        runner._learn(run, Outcome(ended, 0.006))
        assert runner._admit([run] * 5) == 0
        runner._learn(run, Outcome("not_started", 0.0))
        assert runner._admit([run] * 5) == 0
        runner._learn(run, Outcome("succeeded", 0.002))
        assert runner._admit([run] * 5) == 5 and runner._expected_s["refill_check"] == 0.002
    runner.stop()


def test_a_batch_whose_worker_dies_before_any_attempt_charges_its_first_run(tmp_path, clock):
    """Otherwise a worker that dies at every batch's start would hand the same runs back for ever, no attempt spent."""
    from concurrent.futures import Future

    class DiedAtOnce(Exception):
        exitcode = -9

    class Pool(WorkerPool):
        def _schedule(self, fn, args, timeout_s):
            future = Future()
            future.set_exception(DiedAtOnce())
            return future

    runner, _ = make_runner(tmp_path, clock, "ok")
    runs = [{"id": n} for n in range(3)]
    outcomes = Pool(runner.settings).execute_batch(runs, clock.now(), [30.0] * 3)
    assert [(o.status, o.error) for o in outcomes] == [
        ("crashed", "worker process killed by SIGKILL"), ("not_started", NOT_STARTED), ("not_started", NOT_STARTED)]
    runner.stop()
