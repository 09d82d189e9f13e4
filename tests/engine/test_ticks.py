"""Ticks from the schedule: keyed by the fire time, once per local day across DST, coalesced, caught up after downtime.

Fire times come from the job's own trigger exactly as APScheduler's scheduler loop asks for them
(``get_next_fire_time(previous, now)``); the runner's injected clock stands at each fire time (or 70 s
off it) when the fire time is handed over.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import yaml

from medjobs_tui.clock import FixedClock, iso
from medjobs_tui.config import load_settings
from medjobs_tui.engine.pool import Outcome
from medjobs_tui.engine.runner import Runner
from medjobs_tui.engine.ticks import TickExecutor, make_trigger, next_fire_time
from medjobs_tui.store import runs as store_runs
from medjobs_tui.store import ticks as store_ticks
from tests.conftest import REPO, write_config

UTC = timezone.utc


class InstantExecutor:
    """Runs every attempt at once, in process: these tests are about which runs exist, not how they run."""

    def __init__(self):
        self.executed: list[int] = []

    def execute(self, run, now, timeout_s):
        self.executed.append(run["id"])
        return Outcome("succeeded", 0.0, summary={"ok": 1})


def clinic(tmp_path: Path, clock, zone: str = "America/New_York", **jobs) -> Runner:
    """A runner of a clinic in ``zone`` whose jobs are the repository's, with ``jobs`` overriding fields."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    for name, fields in jobs.items():
        data["jobs"][name].update(fields)
    clinic_section = {**data["clinic"], "timezone": zone}
    settings = load_settings(write_config(tmp_path, clinic=clinic_section, jobs=data["jobs"]))
    return Runner(settings, clock=clock, executor=InstantExecutor())


def deliver(runner: Runner, clock: FixedClock, job: str, start: datetime, end: datetime) -> None:
    """Walk ``job``'s trigger from ``start`` to ``end`` as APScheduler does; at each fire time the clock
    stands 0.3 s past it, the fire time is handed to the runner and whatever was queued runs."""
    trigger = make_trigger(runner.settings.jobs[job], runner.settings)
    t = trigger.get_next_fire_time(None, start)
    while t is not None and t <= end:
        clock.set(t.astimezone(UTC) + timedelta(seconds=0.3))   # in UTC: local arithmetic would drop the fold
        runner.fire(job, [t])
        runner.drain()
        t = trigger.get_next_fire_time(t, clock.now())


def rows(runner: Runner, job: str) -> list[tuple[str, str, str | None]]:
    """(fire time as clinic-local ISO, status, reason) of every schedule row of ``job``."""
    zone = runner.settings.zone
    return [(datetime.fromisoformat(r["scheduled_at"]).astimezone(zone).isoformat(), r["status"], r["error"])
            for r in store_ticks.tick_rows(runner.db, job)]


def runs_per_local_day(runner: Runner, job: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for local, status, _ in rows(runner, job):
        if status == "succeeded":
            out[local[:10]] = out.get(local[:10], 0) + 1
    return out


@pytest.fixture(autouse=True)
def no_real_ticks(request, monkeypatch):
    """A started runner's APScheduler runs on the real clock; its deliveries would mix real fire times
    into tests that move an injected clock. Only the tests about APScheduler itself let them through.
    A started runner's dispatcher stays idle: these tests look at the rows ticks make, then drain."""
    monkeypatch.setattr(Runner, "_dispatch_loop", lambda self: None)
    if "apscheduler_hands" not in request.node.name and "tick_executor" not in request.node.name:
        monkeypatch.setattr(TickExecutor, "submit_job", lambda self, job, run_times: None)


@pytest.fixture
def runners():
    made: list[Runner] = []
    yield made
    for r in made:
        r.stop()


# ------------------------------------------------------------------------------------------------ DST


def test_daily_job_runs_once_on_the_fall_back_day_in_new_york(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock, "America/New_York"))   # analytics_rollup: 15 1 * * *
    deliver(runner, clock, "analytics_rollup", datetime(2026, 10, 31, 12, tzinfo=UTC), datetime(2026, 11, 2, 12, tzinfo=UTC))
    assert rows(runner, "analytics_rollup") == [
        ("2026-11-01T01:15:00-04:00", "succeeded", None),
        ("2026-11-01T01:15:00-05:00", "skipped", "repeated hour"),     # the second 01:15 of the day
        ("2026-11-02T01:15:00-05:00", "succeeded", None),
    ]
    assert runs_per_local_day(runner, "analytics_rollup") == {"2026-11-01": 1, "2026-11-02": 1}


def test_daily_job_in_the_spring_forward_gap_runs_once_at_the_end_of_the_gap_in_new_york(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock, "America/New_York",
                                    backup={"schedule": {"type": "cron", "value": "30 2 * * *"}}))
    deliver(runner, clock, "backup", datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))
    assert rows(runner, "backup") == [
        ("2026-03-07T02:30:00-05:00", "succeeded", None),
        ("2026-03-08T03:00:00-04:00", "succeeded", None),   # 02:30 does not exist: 03:00, the end of the gap
        ("2026-03-09T02:30:00-04:00", "succeeded", None),
    ]


def test_daily_job_runs_once_on_the_fall_back_day_in_sydney(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock, "Australia/Sydney",
                                    backup={"schedule": {"type": "cron", "value": "30 2 * * *"}}))
    deliver(runner, clock, "backup", datetime(2026, 4, 3, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC))
    assert rows(runner, "backup") == [
        ("2026-04-04T02:30:00+11:00", "succeeded", None),
        ("2026-04-05T02:30:00+11:00", "succeeded", None),
        ("2026-04-05T02:30:00+10:00", "skipped", "repeated hour"),
        ("2026-04-06T02:30:00+10:00", "succeeded", None),
    ]


def test_daily_job_in_the_spring_forward_gap_runs_once_at_the_end_of_the_gap_in_sydney(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock, "Australia/Sydney",
                                    backup={"schedule": {"type": "cron", "value": "30 2 * * *"}}))
    deliver(runner, clock, "backup", datetime(2026, 10, 2, tzinfo=UTC), datetime(2026, 10, 5, tzinfo=UTC))
    assert rows(runner, "backup") == [
        ("2026-10-03T02:30:00+10:00", "succeeded", None),
        ("2026-10-04T03:00:00+11:00", "succeeded", None),   # APScheduler's CronTrigger alone: 03:30
        ("2026-10-05T02:30:00+11:00", "succeeded", None),
    ]


def test_a_quarter_hourly_job_keeps_every_real_instant_of_the_repeated_hour(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock, "America/New_York"))   # medication_reminder: */15
    deliver(runner, clock, "medication_reminder", datetime(2026, 11, 1, 4, 50, tzinfo=UTC),
            datetime(2026, 11, 1, 7, 10, tzinfo=UTC))
    got = rows(runner, "medication_reminder")
    assert {status for _, status, _ in got} == {"succeeded"}
    assert [local for local, _, _ in got] == [
        "2026-11-01T01:00:00-04:00", "2026-11-01T01:15:00-04:00", "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:45:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:15:00-05:00",
        "2026-11-01T01:30:00-05:00", "2026-11-01T01:45:00-05:00", "2026-11-01T02:00:00-05:00"]


def test_an_hourly_job_runs_every_real_hour_across_spring_forward(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock, "Australia/Sydney"))   # supply_monitor: 5 * * * *
    deliver(runner, clock, "supply_monitor", datetime(2026, 10, 3, 14, tzinfo=UTC), datetime(2026, 10, 3, 17, 10, tzinfo=UTC))
    assert [(local, status) for local, status, _ in rows(runner, "supply_monitor")] == [
        ("2026-10-04T00:05:00+10:00", "succeeded"), ("2026-10-04T01:05:00+10:00", "succeeded"),
        ("2026-10-04T03:05:00+11:00", "succeeded"), ("2026-10-04T04:05:00+11:00", "succeeded")]


def test_the_next_run_shown_for_a_daily_job_passes_over_the_repeated_hour(settings):
    job = settings.jobs["analytics_rollup"]   # 01:15 New York
    after = datetime(2026, 11, 1, 5, 20, tzinfo=UTC)   # just after the first 01:15
    assert next_fire_time(job, settings, after) == datetime(2026, 11, 2, 6, 15, tzinfo=UTC)


# ------------------------------------------------------------------------------- keyed by the fire time


def test_two_runners_whose_clocks_are_70_s_apart_queue_a_tick_once(tmp_path, runners):
    fire = datetime(2026, 11, 29, 7, 45, tzinfo=UTC)      # backup, 02:45 New York
    clock_a, clock_b = FixedClock(fire + timedelta(seconds=0.4)), FixedClock(fire + timedelta(seconds=70.4))
    runners.append(runner_a := clinic(tmp_path, clock_a))
    runners.append(runner_b := clinic(tmp_path, clock_b))
    [(_, run_id, status)] = runner_b.fire("backup", [fire])     # the runner whose clock is ahead fires first
    assert status == "queued"
    assert runner_a.fire("backup", [fire]) == [(fire, None, None)]
    [row] = store_ticks.tick_rows(runner_a.db, "backup")
    assert (row["id"], row["scheduled_at"], row["dedupe_key"], row["trigger"]) == (
        run_id, iso(fire), f"backup@{iso(fire)}", "schedule")


def test_apscheduler_hands_its_own_scheduled_run_time_to_the_tick(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))       # clock: 2026-11-29 12:55 UTC, whatever the real time
    runner.start()
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    runner.scheduler.modify_job("backup", next_run_time=due)   # APScheduler's own loop picks it up now
    deadline = time.monotonic() + 10
    while not store_ticks.tick_rows(runner.db, "backup") and time.monotonic() < deadline:
        time.sleep(0.02)
    [row] = store_ticks.tick_rows(runner.db, "backup")
    assert row["scheduled_at"] == iso(due) and row["dedupe_key"] == f"backup@{iso(due)}"


def test_the_tick_executor_passes_every_run_time_and_drops_none():
    calls = []
    executor = TickExecutor()
    job = SimpleNamespace(func=lambda name, times: calls.append((name, times)), args=("backup",), id="backup")
    t1, t2 = datetime(2026, 11, 29, 7, 45, tzinfo=UTC), datetime(2026, 11, 30, 7, 45, tzinfo=UTC)
    executor.submit_job(job, [t1, t2])
    executor.submit_job(job, [t2])      # APScheduler's own executors would refuse this (max_instances)
    executor.shutdown(wait=True)
    assert sorted(calls, key=lambda c: len(c[1]), reverse=True) == [("backup", [t1, t2]), ("backup", [t2])]


# ------------------------------------------------------------------------------------------- coalescing


def test_ticks_of_a_job_whose_scheduled_run_still_waits_are_recorded_as_coalesced(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    t0 = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    ticks = [t0 + timedelta(minutes=15 * i) for i in range(4)]
    clock.set(ticks[0])
    [(_, first, status)] = runner.fire("medication_reminder", [ticks[0]])
    assert status == "queued"
    for t in ticks[1:3]:                 # the runner is busy: the first run still waits
        clock.set(t)
        runner.fire("medication_reminder", [t])
    assert runner.tick("interaction_check", ticks[2]) is not None    # another job is not held back
    assert [(s, e) for _, s, e in rows(runner, "medication_reminder")] == [
        ("queued", None), ("coalesced", f"coalesced: run {first} of this job is still waiting"),
        ("coalesced", f"coalesced: run {first} of this job is still waiting")]
    runner.drain()
    assert runner.executor.executed.count(first) == 1 and len(runner.executor.executed) == 2
    clock.set(ticks[3])
    [(_, _, status)] = runner.fire("medication_reminder", [ticks[3]])
    assert status == "queued"            # nothing waits any more
    runner.drain()
    assert [s for _, s, _ in rows(runner, "medication_reminder")] == ["succeeded", "coalesced", "coalesced", "succeeded"]


def test_a_run_waiting_for_its_retry_also_coalesces_new_ticks(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    t0 = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    clock.set(t0)
    [(_, first, _)] = runner.fire("medication_reminder", [t0])
    run = store_runs.claim_next(runner.db, runner.capacity, clock.now(), worker=runner.id)
    runner.record_outcome(run, Outcome("failed", 0.1, error="RuntimeError"))      # back in the queue for 300 s
    clock.set(t0 + timedelta(minutes=15))
    [(_, _, status)] = runner.fire("medication_reminder", [clock.now()])
    assert status == "coalesced"


def test_coalescing_keeps_priority_strict_between_jobs(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    t = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    clock.set(t)
    for job in ("analytics_rollup", "supply_monitor", "interaction_check", "medication_reminder"):
        runner.tick(job, t)
        runner.tick(job, t + timedelta(seconds=1))      # coalesced
    claimed = []
    while (run := store_runs.claim_next(runner.db, {"clinical": 9, "maintenance": 9}, clock.now())) is not None:
        claimed.append(run["job_name"])
    assert claimed == ["interaction_check", "medication_reminder", "supply_monitor", "analytics_rollup"]


# --------------------------------------------------------------------------------------------- misfires


def _outage(tmp_path, clock, runners, down_at: datetime, up_at: datetime, **jobs) -> Runner:
    """A runner that ran until ``down_at``; a new one started at ``up_at``; returns the new one, started and stopped."""
    clock.set(down_at - timedelta(minutes=30))
    runners.append(first := clinic(tmp_path, clock, **jobs))
    first.start()
    clock.set(down_at)
    first.stop()
    clock.set(up_at)
    runners.append(second := clinic(tmp_path, clock, **jobs))
    second.start()               # catches up, then its own APScheduler takes over
    second.stop()
    return second


def test_a_65_second_outage_across_the_backup_time_queues_one_catch_up_run_with_evidence(tmp_path, clock, runners, caplog):
    caplog.set_level(logging.WARNING)
    backup_at = datetime(2026, 11, 29, 7, 45, tzinfo=UTC)      # 02:45 New York
    runner = _outage(tmp_path, clock, runners, backup_at - timedelta(seconds=30), backup_at + timedelta(seconds=35))
    [row] = store_ticks.tick_rows(runner.db, "backup")
    assert (row["trigger"], row["status"], row["scheduled_at"]) == ("catch_up", "queued", iso(backup_at))
    assert "job backup: catch-up for 1 missed tick(s) at 2026-11-29T07:45:00+00:00 (misfire: coalesce)" in caplog.text
    runners.append(third := clinic(tmp_path, clock))
    third.drain()
    run = store_runs.get_run(third.db, row["id"])
    assert run["status"] == "succeeded"
    record = yaml.safe_load((third.settings.evidence_dir / run["evidence_path"]).read_text())
    assert record["run"]["trigger"] == "catch_up" and record["run"]["scheduled_at"] == iso(backup_at)


def test_three_missed_nights_make_one_catch_up_run_that_says_so(tmp_path, clock, runners):
    down = datetime(2026, 11, 26, 12, tzinfo=UTC)
    runner = _outage(tmp_path, clock, runners, down, down + timedelta(days=3))
    [row] = store_ticks.tick_rows(runner.db, "backup")
    assert row["trigger"] == "catch_up" and row["scheduled_at"] == "2026-11-29T07:45:00+00:00"
    note = store_runs.run_history(runner.db, row["id"])[0]["note"]
    assert note == ("catch-up for 3 missed tick(s) at 2026-11-27T07:45:00+00:00 to 2026-11-29T07:45:00+00:00"
                    " (misfire: coalesce)")
    reminders = store_ticks.tick_rows(runner.db, "medication_reminder")
    assert [(r["trigger"], r["status"]) for r in reminders] == [("catch_up", "queued")]   # 288 ticks, one run


def test_a_job_whose_misfire_policy_is_skip_records_the_missed_tick_and_runs_nothing(tmp_path, clock, runners, caplog):
    caplog.set_level(logging.WARNING)
    backup_at = datetime(2026, 11, 29, 7, 45, tzinfo=UTC)
    runner = _outage(tmp_path, clock, runners, backup_at - timedelta(seconds=30), backup_at + timedelta(seconds=35),
                     backup={"misfire": "skip"})
    [row] = store_ticks.tick_rows(runner.db, "backup")
    assert (row["status"], row["scheduled_at"]) == ("skipped", iso(backup_at))
    assert row["error"] == ("missed 1 tick(s) at 2026-11-29T07:45:00+00:00 while no runner was running"
                            " (misfire: skip)")
    assert "job backup: missed 1 tick(s)" in caplog.text


def test_a_new_clinic_does_not_catch_up_the_past(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    runner.start()
    runner.stop()
    assert store_runs.recent_runs(runner.db, include_skipped=True) == []


def test_fire_times_handed_over_together_after_a_suspend_are_caught_up_once(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    t0 = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    times = [t0 + timedelta(minutes=15 * i) for i in range(5)]
    clock.set(times[-1])
    out = runner.fire("medication_reminder", times)       # the laptop slept for an hour
    assert [s for _, _, s in out] == ["queued", "coalesced"]
    assert [(r["trigger"], r["status"], r["scheduled_at"]) for r in store_ticks.tick_rows(runner.db, "medication_reminder")] \
        == [("catch_up", "queued", iso(times[3])), ("schedule", "coalesced", iso(times[4]))]


def test_a_fire_time_older_than_one_already_recorded_is_not_queued_again(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    t0 = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    runner.fire("medication_reminder", [t0, t0 + timedelta(minutes=15), t0 + timedelta(minutes=30)])
    assert runner.fire("medication_reminder", [t0]) == [(t0, None, None)]   # a slow runner's late delivery


def test_a_paused_job_s_missed_tick_is_recorded_as_skipped(tmp_path, clock, runners):
    from medjobs_tui.console import Actor, Console

    backup_at = datetime(2026, 11, 29, 7, 45, tzinfo=UTC)
    clock.set(backup_at - timedelta(minutes=30))
    runners.append(first := clinic(tmp_path, clock))
    first.start()
    Console(first.settings, runner=first, clock=clock).pause(Actor("nurse.kim", "operator"), "backup")
    first.stop()
    clock.set(backup_at + timedelta(minutes=5))
    runners.append(second := clinic(tmp_path, clock))
    second.start()
    second.stop()
    [row] = store_ticks.tick_rows(second.db, "backup")
    assert (row["status"], row["error"]) == ("skipped", "job paused")
