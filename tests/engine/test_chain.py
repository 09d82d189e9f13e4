"""A started runner's worker thread, once it has recorded an outcome, claims the next due run itself (same
order and queue limits as the dispatcher), instead of waiting for the dispatcher to be woken."""

from __future__ import annotations

from medjobs_tui.store import runs as store_runs
from tests.engine.test_fencing import wait_for
from tests.engine.test_runner import NURSE, make_runner

PRIORITY_ORDER = ["interaction_check", "medication_reminder", "refill_check", "backup", "analytics_rollup"]


def test_a_worker_thread_moves_on_to_the_next_due_run_in_priority_order(tmp_path, clock, monkeypatch):
    runner, console = make_runner(tmp_path, clock, "record_order", one_queue=True)   # one at a time
    for name in ["analytics_rollup", "refill_check"]:
        console.trigger(NURSE, name)
    clock.advance(1)
    for name in ["backup", "medication_reminder", "interaction_check"]:
        console.trigger(NURSE, name)
    passes = []
    dispatch = runner.dispatch

    def first_pass_only(only=None):
        """The dispatcher claims once; every later claim must come from the worker thread."""
        passes.append(only)
        return dispatch(only) if len(passes) == 1 else []

    monkeypatch.setattr(runner, "dispatch", first_pass_only)
    runner.start()
    try:
        assert wait_for(lambda: {r["status"] for r in store_runs.recent_runs(runner.db)} == {"succeeded"}, 30)
    finally:
        runner.stop()
    assert (tmp_path / "order.txt").read_text().split() == PRIORITY_ORDER



def test_a_dispatcher_pass_while_this_runner_holds_every_slot_asks_the_store_nothing(tmp_path, clock, monkeypatch):
    """Each trigger wakes the dispatcher; while the runner's own runs fill every queue no claim can succeed,
    so the pass ends without a read. Once a slot is free it claims again."""
    runner, console = make_runner(tmp_path, clock, "ok", one_queue=True)   # clinical 1, maintenance 1
    run_id = console.trigger(NURSE, "backup")                               # clinical
    claims = []
    claim_next = store_runs.claim_next
    monkeypatch.setattr(store_runs, "claim_next", lambda *a, **k: claims.append(1) or claim_next(*a, **k))
    runner._held.update({101: "clinical", 102: "maintenance"})              # both slots held by this runner
    assert runner.dispatch() == [] and claims == []
    del runner._held[101]
    assert runner.dispatch() == [run_id] and claims
    runner.drain()
    runner.stop()
