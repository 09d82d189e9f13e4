"""The worker pool: long-lived workers reused across attempts, killed and replaced at the timeout, recycled after
a bounded number of attempts; a worker killed from outside is a crashed attempt, retried by policy."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from medjobs_tui.engine.pool import WorkerPool
from medjobs_tui.engine.runner import Runner
from medjobs_tui.store import runs as store_runs
from tests.engine.test_runner import JOB_TYPES, NURSE, history, make_runner


def summaries(console, run_ids):
    return [console.run_summary(r) for r in run_ids]


def test_workers_are_started_once_and_serve_many_attempts(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "pid")
    run_ids = []
    for _ in range(6):
        run_ids.append(console.trigger(NURSE, "backup"))
        runner.drain()
    pids = {s["pid"] for s in summaries(console, run_ids)}
    runner.stop()
    assert os.getpid() not in pids
    assert len(pids) <= runner.executor.size   # a process per attempt would give six


def test_a_worker_is_recycled_after_its_bounded_number_of_attempts(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "pid")
    runner.executor = WorkerPool(runner.settings, {t: "tests.engine.handlers:pid" for t in JOB_TYPES}, size=1,
                                 max_attempts_per_worker=2)
    run_ids = []
    for _ in range(5):
        run_ids.append(console.trigger(NURSE, "backup"))
        runner.drain()
    pids = [s["pid"] for s in summaries(console, run_ids)]
    runner.stop()
    assert pids[0] == pids[1] and pids[2] == pids[3]   # two attempts per worker, then a fresh one
    assert len(set(pids)) == 3


def test_a_worker_past_its_timeout_is_killed_and_replaced(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "hang_after_pid", retry={"max_attempts": 1, "delay": 0},
                                  timeout=0.5)
    hung = console.trigger(NURSE, "supply_monitor")
    runner.drain(timeout=20)
    assert console.run(hung).status == "dead"
    assert history(runner, hung)[-2:] == ["timed_out", "dead"]
    hung_pid = int((tmp_path / "hung.pid").read_text())
    assert not _alive(hung_pid)
    runner.executor.handler_overrides["backup"] = "tests.engine.handlers:pid"
    runner.executor.kill_all()          # new overrides reach workers started from now on
    after = console.trigger(NURSE, "backup")
    runner.drain(timeout=20)
    assert console.run(after).status == "succeeded"
    assert console.run_summary(after)["pid"] != hung_pid
    runner.stop()


def test_a_timed_out_attempt_with_retries_left_is_requeued(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "hang", retry={"max_attempts": 2, "delay": 30}, timeout=0.3)
    run_id = console.trigger(NURSE, "supply_monitor")
    runner.drain(timeout=20)
    run = console.run(run_id)
    assert (run.status, run.attempt) == ("queued", 2)
    assert run.available_at == clock.now() + timedelta(seconds=30)
    runner.stop()


def test_a_worker_killed_by_a_signal_is_crashed_counts_as_an_attempt_and_a_poison_input_ends_dead(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "kill_self", retry={"max_attempts": 3, "delay": 0})
    run_id = console.trigger(NURSE, "refill_check")
    runner.drain(timeout=30)
    run = console.run(run_id)
    assert (run.status, run.attempt) == ("dead", 3)
    assert history(runner, run_id) == ["queued", "running", "crashed", "queued", "running", "crashed", "queued",
                                       "running", "crashed", "dead"]
    attempts = store_runs.run_attempts(runner.db, run_id)
    assert [a["error"] for a in attempts] == ["worker process killed by SIGKILL"] * 3
    m = {m.job_name: m for m in console.metrics()}["refill_check"]
    assert m.error_rate == 1.0
    runner.stop()


def test_a_crashed_attempt_waits_out_the_retry_backoff(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "kill_self", retry={"max_attempts": 2, "delay": 120})
    run_id = console.trigger(NURSE, "refill_check")
    runner.drain(timeout=30)
    run = console.run(run_id)
    assert (run.status, run.attempt) == ("queued", 2)
    assert run.available_at == clock.now() + timedelta(seconds=120)
    runner.stop()


def test_a_schedule_tick_wakes_the_dispatcher_like_a_trigger(tmp_path, clock):
    runner, _ = make_runner(tmp_path, clock, "ok")
    runner._wake.clear()
    assert runner.tick("backup", clock.now().replace(hour=7, minute=45)) is not None
    assert runner._wake.is_set()
    runner.stop()


def test_a_runner_without_an_executor_uses_the_worker_pool(settings, clock):
    runner = Runner(settings, clock=clock)
    assert isinstance(runner.executor, WorkerPool)
    runner.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers: look at its state
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_a_worker_killed_while_idle_does_not_break_the_pool(tmp_path, clock):
    import signal

    runner, console = make_runner(tmp_path, clock, "pid")
    first = console.trigger(NURSE, "backup")
    runner.drain()
    for pid in runner.executor.worker_pids():       # every worker dies while no attempt runs
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while runner.executor.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)                                 # pebble notices the deaths
    after = console.trigger(NURSE, "backup")
    runner.drain(timeout=30)
    assert console.run(after).status == "succeeded"
    assert console.run_summary(after)["pid"] != console.run_summary(first)["pid"]
    runner.stop()


def test_a_run_alone_past_a_timeout_of_milliseconds_is_killed_at_it_as_a_batched_one_is(tmp_path, clock):
    """The pool checks its own timeouts every tenth of a second: a 0.05 s timeout let a 0.3 s attempt succeed when
    claimed alone, while the kernel timer killed it in a batch (a fresh user's 5 ms job succeeded alone)."""
    runner, console = make_runner(tmp_path, clock, "ok", retry={"max_attempts": 1, "delay": 0}, timeout=0.05)
    runner.executor = WorkerPool(runner.settings, {t: "tests.engine.review_handlers:marked" for t in JOB_TYPES})
    run_id = console.trigger(NURSE, "supply_monitor")
    (tmp_path / f"mark-{run_id}").write_text("sleep:0.3")
    runner.drain(timeout=20)
    assert history(runner, run_id)[-2:] == ["timed_out", "dead"]
    assert console.run(run_id).error == "killed at the timeout of 0.05 s"
    runner.stop()
