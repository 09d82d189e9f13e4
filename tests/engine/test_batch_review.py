"""Claim batches as an adversary tried them: a batched run must behave as the same run claimed alone would. An
attempt that defeats its SIGALRM timer is still killed at its timeout; a run that the claim order puts first is
not kept waiting by the rest of a batch; an attempt that ends a batch early has its real start; runs handed back
unstarted spend and count no attempt; the overview counts a batch as one busy slot; a batch's evidence links
follow its order; a killed runner's progress file does not outlive the next start."""

from __future__ import annotations

import time

import pytest

from medjobs_tui.engine.pool import WorkerPool
from medjobs_tui.store import runs as store_runs
from medjobs_tui.store import validation as store_validation
from tests.engine.test_batches import ALL, queue_runs, settled, start_batched
from tests.engine.test_fencing import wait_for
from tests.engine.test_runner import JOB_TYPES, make_runner

REVIEW = {t: "tests.engine.review_handlers:marked" for t in JOB_TYPES}


def start_review(tmp_path, clock, monkeypatch, marks: dict[int, str], **kwargs):
    """``test_batches.start_batched`` with ``tests.engine.review_handlers:marked`` (its ``marks`` are ``;``-separated
    steps). Its backstop of 120 s stands for a real clinic's: the sum of up to 32 timeouts of 300-1800 s, plus 5 s."""
    return start_batched(tmp_path, clock, monkeypatch, marks, handlers=REVIEW, **kwargs)


def order(tmp_path) -> list[int]:
    path = tmp_path / "order.txt"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


# ------------------------------------------------------------------------------ 1. the per-attempt SIGALRM timer


@pytest.mark.parametrize("mark", ["ignore_alarm;hang", "alarm0;hang"])
def test_a_batched_attempt_that_ignores_or_cancels_sigalrm_is_still_killed_at_its_timeout(
        tmp_path, clock, monkeypatch, mark):
    # alone, the same attempt is killed by pebble at 0.5 s whatever it does with SIGALRM
    runner, console, ids = start_review(tmp_path, clock, monkeypatch, {2: mark}, timeout=0.5,
                                        retry={"max_attempts": 1, "delay": 0})
    try:
        began = time.monotonic()
        ended = wait_for(lambda: settled(runner, ids), 10)
        waited = time.monotonic() - began
    finally:
        runner.stop()
    assert ended, (f"a batched attempt with a 0.5 s timeout that did {mark!r} was still running after "
                   f"{waited:.1f} s (its batch ends only at the backstop: sum of timeouts + BATCH_BACKSTOP_S)")


def test_sigalrm_left_ignored_by_one_batched_attempt_disarms_the_timeout_of_the_next_one(tmp_path, clock, monkeypatch):
    # run 1 ignores SIGALRM and succeeds; run 2, another run of the batch in the same worker, hangs
    runner, console, ids = start_review(tmp_path, clock, monkeypatch, {1: "ignore_alarm", 2: "hang"}, timeout=0.5,
                                        retry={"max_attempts": 1, "delay": 0})
    try:
        ended = wait_for(lambda: settled(runner, ids), 10)
    finally:
        runner.stop()
    assert ended, ("run %s (timeout 0.5 s) was not killed within 10 s: the worker's SIGALRM disposition, left "
                   "SIG_IGN by run %s, is never reset before the next batched attempt" % (ids[2], ids[1]))


# ------------------------------------------------------------------------------ 2. a higher-priority arrival


def test_a_higher_priority_run_waits_for_the_batch_actual_length_not_about_50_ms(tmp_path, clock, monkeypatch):
    # the batch: ids[1] (held at a gate), ids[2] (expected 1 ms like every refill check, takes 2 s this time), ids[3]
    runner, console, ids = start_review(tmp_path, clock, monkeypatch, {1: "gate", 2: "sleep:2"}, timeout=30)
    try:
        assert wait_for(lambda: ids[1] in order(tmp_path), 20)
        job = runner.settings.jobs["medication_reminder"]          # high priority, same (clinical) queue
        urgent = store_runs.insert_run(
            runner.db, job_name="medication_reminder", job_type=job.job_type, queue=job.queue_name,
            priority=job.priority_rank, max_attempts=1, trigger="manual", scheduled_at=clock.now(),
            created_by="test", now=clock.now())
        runner.wake()
        (tmp_path / "gate").write_text("go")
        assert wait_for(lambda: settled(runner, [*ids, urgent]), 30)
    finally:
        runner.stop()
    ran = order(tmp_path)
    # claimed alone, ids[1]'s outcome would be followed by the urgent run (highest priority in the queue)
    assert ran.index(urgent) < ran.index(ids[2]), (
        f"the urgent run {urgent} that arrived while run {ids[1]} ran was executed after {ran[ran.index(ids[1]) + 1:ran.index(urgent)]}"
        f" (run {ids[2]} alone took 2 s): order {ran}")


# ------------------------------------------------------------------------------ 3. attempt times of an early end


def test_the_attempt_that_ends_a_batch_early_is_recorded_with_its_real_start_not_its_claim(
        tmp_path, clock, monkeypatch):
    from medjobs_tui.engine import runner as engine_runner

    monkeypatch.setattr(engine_runner, "BATCH_BUDGET_S", 10.0)   # the batch goes on after a run of 1.2 s
    runner, console, ids = start_review(tmp_path, clock, monkeypatch, {1: "sleep:1.2", 2: "hang"}, n=3, timeout=2,
                                        retry={"max_attempts": 1, "delay": 0})
    try:
        assert wait_for(lambda: settled(runner, ids), 30)
    finally:
        runner.stop()
    before = store_runs.run_attempts(runner.db, ids[1])[0]
    hung = store_runs.run_attempts(runner.db, ids[2])[0]
    assert (before["outcome"], hung["outcome"]) == ("succeeded", "timed_out")
    assert hung["started_at"] >= before["finished_at"], (
        f"run {ids[2]} ran after run {ids[1]} in one worker, but its attempt is recorded as started at "
        f"{hung['started_at']} (the batch's claim), before run {ids[1]} finished at {before['finished_at']}")


# ------------------------------------------------------------------------------ 5. the dashboard's busy slots


def test_the_overview_counts_a_batch_as_one_busy_slot_not_as_many_over_the_limit(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok", one_queue=True)          # clinical: concurrency 1
    queue_runs(runner, clock, "refill_check", 3)
    claimed = store_runs.claim_batch(runner.db, runner.capacity, clock.now(), worker=runner.id, max_runs=3, admit=ALL)
    assert len(claimed) == 3
    clinical = {q.queue: q for q in console.overview().queues}["clinical"]
    runner.stop()
    # the overview's "busy" column is f"{busy}/{slots}" (tui/widgets/overview.py), yellow once busy >= slots
    assert (clinical.running, clinical.busy, clinical.slots) == (3, 1, 1), (
        f"the overview shows clinical running {clinical.running}, busy {clinical.busy}/{clinical.slots}: "
        "three runs claimed, one worker holding the queue's one slot")


# ------------------------------------------------------------------------------ 6. the evidence chain's order


def test_the_links_of_a_batch_are_appended_to_the_evidence_chain_in_the_batch_order(tmp_path, clock, monkeypatch):
    runner, console, ids = start_review(tmp_path, clock, monkeypatch, {2: "fail"}, n=4,
                                        retry={"max_attempts": 2, "delay": 60})
    try:
        assert wait_for(lambda: all(store_runs.get_run(runner.db, r)["attempt"] == 2 or
                                    store_runs.get_run(runner.db, r)["status"] == "succeeded" for r in ids), 30)
    finally:
        runner.stop()
    batch = ids[1:]
    linked = [link["run_id"] for link in store_validation.chain_links(runner.db) if link["run_id"] in batch]
    assert linked == batch, f"batch {batch} ran in that order; its evidence links were appended as {linked}"


# ------------------------------------------------------------------------------ 7. the progress file of a dead runner

RUNNER_SCRIPT = """
import sys, time
from medjobs_tui.config import load_settings
from medjobs_tui.engine.pool import WorkerPool
from medjobs_tui.engine.runner import Runner
settings = load_settings(sys.argv[1])
runner = Runner(settings, executor=WorkerPool(settings, {t: "tests.engine.review_handlers:marked" for t in %r}))
runner._expected_s["refill_check"] = 0.001
runner.start()
while True:
    time.sleep(1)
"""


def test_a_runner_killed_mid_batch_leaves_no_progress_file_behind_once_the_clinic_runs_again(
        tmp_path, clock, monkeypatch):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from medjobs_tui.config import load_settings
    from medjobs_tui.engine.pool import read_progress
    from medjobs_tui.engine.runner import Runner

    runner, _ = make_runner(tmp_path, clock, "marked", one_queue=True)
    ids = queue_runs(runner, clock, "refill_check", 4)
    (tmp_path / f"mark-{ids[2]}").write_text("gate")             # the batch [1, 2, 3] stops in its second run
    runner.stop()
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", RUNNER_SCRIPT % (JOB_TYPES,), str(tmp_path / "config.yaml")],
                            cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: ids[2] in order(tmp_path), 30), proc.stderr.read1().decode()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    settings = load_settings(tmp_path / "config.yaml")
    folder = settings.database_path.parent / "batches"
    left = sorted(folder.glob("*.progress"))
    assert len(left) == 1 and [r[0] for r in read_progress(left[0])] == ["start", "done", "start"]  # 1 done, 1 running
    assert folder.stat().st_mode & 0o777 == 0o700 and left[0].stat().st_mode & 0o777 == 0o600
    (tmp_path / "gate").write_text("go")
    again = Runner(settings, clock=clock, executor=WorkerPool(settings, REVIEW))
    again.start()
    try:
        assert wait_for(lambda: settled(again, ids), 30)
    finally:
        again.stop()
    leftovers = sorted(str(p.relative_to(folder)) for p in folder.glob("*"))
    assert leftovers == [], (f"the dead runner's progress file(s) {leftovers} (pickled results of finished "
                             "attempts: summaries, masked errors, evidence records) are never removed")
