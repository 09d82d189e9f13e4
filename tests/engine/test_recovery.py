"""Fast recovery: a runner on this host whose process is gone is dead at once; a silent runner's runs return
within 15 s; dead runners' rows are removed; a finished run lacking evidence gets it at start-up."""

from __future__ import annotations

import socket
import subprocess
import sys

from medjobs_tui.engine import recovery
from medjobs_tui.engine.evidence import is_valid
from medjobs_tui.store import runs as store_runs
from tests.engine.test_runner import NURSE, history, make_runner


def gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def claim_as(runner, run_id, runner_id, clock):
    store_runs.register_runner(runner.db, runner_id, clock.now())
    assert store_runs.claim_next(runner.db, runner.capacity, clock.now(), worker=runner_id, only={run_id})


def test_a_runner_on_this_host_whose_process_is_gone_is_dead_at_once(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    dead = f"{socket.gethostname()}:{gone_pid()}:abc123"
    claim_as(runner, run_id, dead, clock)            # its heartbeat is fresh: only its process is gone
    assert runner.recover() == [run_id]
    assert history(runner, run_id)[-2:] == ["interrupted", "queued"]
    assert dead not in [r["id"] for r in store_runs.runners(runner.db)]
    runner.stop()


def test_a_silent_runner_s_runs_return_within_15_seconds(tmp_path, clock):
    assert recovery.LEASE_SECONDS + recovery.RECOVERY_EVERY_S <= 15
    runner, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    elsewhere = "another-host:4242:abc123"            # its process cannot be checked from here
    claim_as(runner, run_id, elsewhere, clock)
    clock.advance(recovery.LEASE_SECONDS - 1)
    assert runner.recover() == []                     # still within its lease
    clock.advance(2)
    assert runner.recover() == [run_id]
    assert elsewhere not in [r["id"] for r in store_runs.runners(runner.db)]
    runner.stop()


def test_a_live_runner_on_this_host_keeps_its_runs_while_its_lease_holds(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    parent = f"{socket.gethostname()}:{__import__('os').getppid()}:abc123"   # a process that exists
    claim_as(runner, run_id, parent, clock)
    assert runner.recover() == []
    assert console.run(run_id).status == "running"
    runner.stop()


def test_stale_runner_rows_are_removed_even_without_runs(tmp_path, clock):
    runner, _ = make_runner(tmp_path, clock, "ok")
    store_runs.register_runner(runner.db, f"{socket.gethostname()}:{gone_pid()}:aaaaaa", clock.now())
    store_runs.register_runner(runner.db, "far-away:1:bbbbbb", clock.now())
    clock.advance(recovery.LEASE_SECONDS + 1)
    runner.recover()
    assert [r["id"] for r in store_runs.runners(runner.db)] == [runner.id]
    runner.stop()


def test_a_finished_run_without_evidence_gets_it_at_start_up(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    store_runs.clear_evidence(runner.db, run_id)      # as if the runner died between outcome and record
    runner.stop()
    again, _ = make_runner(tmp_path, clock, "ok")
    again.start()
    again.stop()
    run = store_runs.get_run(again.db, run_id)
    assert is_valid(again.settings.evidence_dir, run["evidence_path"], run["evidence_sha256"])
