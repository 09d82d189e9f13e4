"""Never stall: a write lock held for 30 s mid-run (on the injected clock) delays outcomes, ticks and heartbeats,
which retry with backoff and say so; the runner claims nothing meanwhile, then every run finishes."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from medjobs_tui.engine.storeretry import StoreRetry
from medjobs_tui.store import connect, is_transient
from medjobs_tui.store import db as store_db
from medjobs_tui.store import runs as store_runs
from tests.conftest import STORE_KEY
from tests.engine.test_fencing import wait_for
from tests.engine.test_runner import NURSE, make_runner

LOCK_HELD = timedelta(seconds=30)


@pytest.mark.parametrize("message", ["database is locked", "database or disk is full", "disk I/O error"])
def test_a_busy_or_full_store_is_transient(message):
    assert is_transient(store_db.OperationalError(message))


def test_other_store_errors_are_not_retried():
    assert not is_transient(store_db.OperationalError("no such table: runs"))
    assert not is_transient(ValueError("database is locked"))


def test_a_write_lock_held_for_30_s_mid_run_leaves_no_run_stuck(tmp_path, clock, monkeypatch, caplog):
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 20)    # the runner's own connections give up fast
    states: list[str] = []
    lock_taken_at = {}
    holder: dict = {}

    def sleep_on_the_clock(seconds: float) -> None:
        """The runner's backoff: moves the test's clock; the lock is released once it has been held 30 s."""
        clock.advance(seconds)
        states.append(runner.status().state)
        if "db" in holder and clock.now() - lock_taken_at["at"] >= LOCK_HELD:
            db = holder.pop("db")
            db.conn.execute("ROLLBACK")
        time.sleep(0.002)

    runner, console = make_runner(tmp_path, clock, "gated", retry={"max_attempts": 3, "delay": 0}, one_queue=True)
    runner.store_retry = StoreRetry(first_delay_s=0.5, max_delay_s=4.0, sleep=sleep_on_the_clock)
    first = console.trigger(NURSE, "medication_reminder")
    second = console.trigger(NURSE, "refill_check")
    assert runner.dispatch() == [first]                       # one at a time on the single queue
    assert wait_for(lambda: runner.executor.attempts_running() == 1)

    locker = connect(runner.settings.database_path, STORE_KEY)
    locker.conn.execute("BEGIN IMMEDIATE")                    # someone holds the write lock ...
    holder["db"] = locker
    lock_taken_at["at"] = clock.now()
    ticker = threading.Thread(target=runner.tick, args=("backup", clock.now().replace(hour=7, minute=45)))
    ticker.start()                                            # ... while a tick fires ...
    (tmp_path / "gate").write_text("go")                      # ... and the attempt ends
    runner.drain(timeout=60)
    ticker.join(30)
    runner.drain(timeout=60)

    assert "blocked" in states                                # it said it could not record outcomes
    runs = store_runs.recent_runs(runner.db)
    assert {r["status"] for r in runs} == {"succeeded"}, [(r["id"], r["status"]) for r in runs]
    assert {r["job_name"] for r in runs} == {"medication_reminder", "refill_check", "backup"}   # the tick too
    second_run = store_runs.get_run(runner.db, second)
    assert second_run["started_at"] >= (lock_taken_at["at"] + LOCK_HELD).isoformat(timespec="seconds")
    assert runner.status().state != "blocked"
    assert f"recording the outcome of run {first} failed (database is locked)" in caplog.text
    assert "inserting the tick of backup" in caplog.text
    assert "cannot record outcomes (database is locked): claiming no new runs" in caplog.text
    runner.stop()


def test_the_console_says_when_the_runner_cannot_record_outcomes(tmp_path, clock):
    from medjobs_tui.console import Console

    runner, console = make_runner(tmp_path, clock, "ok")
    assert console.runner_status() is None
    runner._block(7, "database or disk is full")
    assert console.runner_status() == ("runner blocked: cannot record 1 outcome(s) (database or disk is full); "
                                       "claiming no new runs")
    assert Console(runner.settings, clock=clock).runner_status() is None   # no embedded runner: nothing to say
    runner.stop()


def test_every_store_connection_waits_for_a_busy_lock_instead_of_failing_at_once(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "busy_timeout")
    assert runner.db.execute("PRAGMA busy_timeout").fetchone()[0] == store_db.BUSY_TIMEOUT_MS
    assert console.db.execute("PRAGMA busy_timeout").fetchone()[0] == store_db.BUSY_TIMEOUT_MS
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    assert console.run_summary(run_id) == {"busy_timeout_ms": store_db.BUSY_TIMEOUT_MS}   # a worker's own
    runner.stop()
