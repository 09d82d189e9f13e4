"""Fenced workers: an attempt commits its effects only while its claim (run, attempt, runner) is current, and a
worker whose runner died stops within a second; no effect of an old attempt lands after recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medjobs_tui.config import load_settings
from medjobs_tui.engine.pool import WorkerPool
from medjobs_tui.engine.runner import Runner
from medjobs_tui.store import ClaimLost, connect, set_fence, transaction
from medjobs_tui.store import runs as store_runs
from tests.conftest import STORE_KEY
from tests.engine.test_pool import _alive
from tests.engine.test_runner import JOB_TYPES, NURSE, history, make_runner


def effect_keys(db) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT idempotency_key FROM notifications WHERE idempotency_key LIKE 'effect:%' ORDER BY id")]


def wait_for(predicate, limit_s: float = 20.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_a_fenced_connection_refuses_writes_once_its_claim_is_gone(settings, clock):
    db = connect(settings.database_path, STORE_KEY)
    current = {"ok": True}
    set_fence(db, lambda _db: current["ok"])
    with transaction(db):
        db.execute("INSERT INTO jobs (name, job_type) VALUES ('a', 'backup')")
    with pytest.raises(Exception, match="not authorized"):   # a write outside a transaction skips no check
        db.execute("INSERT INTO jobs (name, job_type) VALUES ('b', 'backup')")
    current["ok"] = False
    with pytest.raises(ClaimLost):
        with transaction(db):
            db.execute("INSERT INTO jobs (name, job_type) VALUES ('c', 'backup')")
    set_fence(db, None)
    assert sorted(r[0] for r in db.execute("SELECT name FROM jobs")) == ["a"]


def test_an_attempt_whose_run_was_recovered_commits_no_effect_and_no_outcome(tmp_path, clock, caplog):
    runner, console = make_runner(tmp_path, clock, "gated_effect", retry={"max_attempts": 3, "delay": 0})
    run_id = console.trigger(NURSE, "backup")
    assert runner.dispatch() == [run_id]
    assert wait_for(lambda: (tmp_path / "started-1").exists())
    # meanwhile the run is recovered and handed on (as another runner does once this one's lease expired)
    store_runs.finish_attempt(runner.db, run_id, outcome="interrupted", now=clock.now(), duration_s=0.0,
                              error="runner stopped during the attempt")
    (tmp_path / "gate").write_text("go")
    runner.drain(only=set())      # waits for the old attempt to end
    assert effect_keys(runner.db) == []                       # its write was refused
    assert not (tmp_path / "effect-1").exists()               # and its file never renamed into place
    assert list(runner.settings.evidence_dir.rglob("*.tmp")) == []   # nor its staged evidence record
    assert history(runner, run_id)[-2:] == ["interrupted", "queued"]   # its outcome was not recorded either
    assert "recovered by another runner before its outcome was recorded" in caplog.text
    runner.drain()
    assert console.run(run_id).status == "succeeded"
    assert effect_keys(runner.db) == [f"effect:{run_id}:attempt2"]
    runner.stop()


RUNNER_SCRIPT = """
import sys, time
from medjobs_tui.config import load_settings
from medjobs_tui.engine.pool import WorkerPool
from medjobs_tui.engine.runner import Runner
settings = load_settings(sys.argv[1])
types = {t: "tests.engine.handlers:gated_effect" for t in %r}
runner = Runner(settings, executor=WorkerPool(settings, types))
runner.start()
runner.enqueue("backup", "tester")
while True:
    time.sleep(1)
"""


def test_sigkill_of_the_runner_mid_handler_lands_no_effect_of_the_old_attempt(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "gated_effect")   # writes the config, the store
    runner.stop()
    config = tmp_path / "config.yaml"
    (tmp_path / "effect_delay").write_text("1.5 s")                 # the handler commits 1.5 s after starting
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", RUNNER_SCRIPT % (JOB_TYPES,), str(config)], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: (tmp_path / "started-1").exists(), 30), proc.stderr.read1().decode()
        worker_pid = int((tmp_path / "started-1").read_text())
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait(10)
        assert wait_for(lambda: not _alive(worker_pid), 1.0), "the worker outlived its runner by over a second"
        assert time.monotonic() - killed_at < 1.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    settings = load_settings(config)
    recovering = Runner(settings, executor=WorkerPool(settings, {t: "tests.engine.handlers:gated_effect"
                                                                 for t in JOB_TYPES}))
    [run_id] = recovering.recover()      # the dead runner's process is gone: no waiting for its lease
    recovering.drain(timeout=30)
    time.sleep(1.0)                      # past the moment the old attempt would have committed
    db = connect(settings.database_path, STORE_KEY)
    assert store_runs.get_run(db, run_id)["status"] == "succeeded"
    assert effect_keys(db) == [f"effect:{run_id}:attempt2"]
    assert not (tmp_path / "effect-1").exists() and (tmp_path / "effect-2").exists()
    assert [r["id"] for r in store_runs.runners(db)] == [recovering.id]   # the dead runner's row is gone
    recovering.stop()
