"""Validation status per job: critical path (every tick succeeded within its timeout), evidence (hash and chain), stale.

Ticks are handed to a runner whose attempts succeed at once (``test_ticks.clinic``), with the injected
clock standing where each tick's outcome is recorded; the evaluation runs at a later instant.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from click.testing import CliRunner

from medjobs_tui.cli import main
from medjobs_tui.engine import validation
from medjobs_tui.engine.pool import Outcome
from medjobs_tui.engine.runner import Runner
from medjobs_tui.engine.ticks import make_trigger
from medjobs_tui.store import runs as store_runs
from medjobs_tui.store import validation as store_validation
from tests.engine.test_ticks import clinic, no_real_ticks, runners  # noqa: F401 - fixtures

UTC = timezone.utc
START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def deliver_every(runner: Runner, clock, job: str, start: datetime, end: datetime, *, skip=(), late=()) -> list[datetime]:
    """Hand each fire time of ``job`` in (start, end] to the runner and run it 0.3 s after, except the fire
    times in ``skip`` (never fired: no runner was up) and those in ``late`` (run past the job's timeout)."""
    trigger = make_trigger(runner.settings.jobs[job], runner.settings)
    timeout = runner.settings.jobs[job].timeout
    fired, t = [], trigger.get_next_fire_time(None, start + timedelta(microseconds=1))
    while t is not None and t <= end:
        if t not in skip:
            delay = timeout + 60 if t in late else 0.3
            clock.set(t.astimezone(UTC) + timedelta(seconds=delay))
            runner.fire(job, [t])
            runner.drain()
            fired.append(t)
        t = trigger.get_next_fire_time(t, t)
    return fired


def status_of(runner: Runner, clock, job: str) -> validation.JobValidation:
    return next(v for v in validation.evaluate(runner.db, runner.settings, clock.now()) if v.job_name == job)


def test_a_critical_job_that_ran_every_tick_in_time_is_valid(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    fired = deliver_every(runner, clock, "medication_reminder", START, START + timedelta(hours=3))
    clock.set(START + timedelta(hours=3, minutes=10))
    v = status_of(runner, clock, "medication_reminder")
    assert (v.status, v.reasons) == ("valid", ())
    assert v.is_valid and v.as_status() == {"is_valid": True, "timestamp": "2026-11-28T15:10:00+00:00"}
    assert v.ticks_checked == v.ticks_ok == len(fired) == 12       # every 15 minutes, 3 hours
    assert v.runs_checked == v.evidence_ok == 12


def test_a_missed_tick_makes_a_critical_job_failing_and_raises_one_alert(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    missed = START + timedelta(hours=1)
    deliver_every(runner, clock, "medication_reminder", START, START + timedelta(hours=2), skip={missed})
    clock.set(START + timedelta(hours=2, minutes=10))
    v = status_of(runner, clock, "medication_reminder")
    assert v.status == "failing" and not v.is_valid
    assert v.reasons == ("1 scheduled tick(s) missed",)
    results = validation.evaluate(runner.db, runner.settings, clock.now())
    assert validation.raise_alerts(runner.db, runner.settings, results, clock.now()) == ["medication_reminder"]
    assert validation.raise_alerts(runner.db, runner.settings, results, clock.now()) == []   # once a day
    rows = runner.db.execute("SELECT kind, message FROM notifications WHERE idempotency_key LIKE "
                             "'ops_alert:critical_job_failing:%'").fetchall()
    assert len(rows) == 1 and "medication_reminder" in rows[0][1]


def test_a_run_that_finished_after_fire_time_plus_timeout_is_late(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    late = START + timedelta(minutes=30)
    deliver_every(runner, clock, "medication_reminder", START, START + timedelta(hours=1), late={late})
    clock.set(START + timedelta(hours=1, minutes=10))
    v = status_of(runner, clock, "medication_reminder")
    assert v.status == "failing"
    assert v.reasons == ("1 critical run(s) late (not done within the 300 s timeout)",)


def test_a_tick_younger_than_its_timeout_is_not_yet_judged(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    deliver_every(runner, clock, "medication_reminder", START, START + timedelta(hours=1))
    clock.set(START + timedelta(hours=1, minutes=16))   # 13:15 fired a minute ago, nobody ran it yet
    assert status_of(runner, clock, "medication_reminder").status == "valid"
    clock.set(START + timedelta(hours=1, minutes=21))   # now past 13:15 + 300 s
    assert status_of(runner, clock, "medication_reminder").reasons == ("1 scheduled tick(s) missed",)


def test_a_job_without_a_run_within_two_schedule_periods_is_stale(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    assert status_of(runner, clock, "supply_monitor").reasons == ("no run yet",)
    deliver_every(runner, clock, "supply_monitor", START, START + timedelta(hours=1, minutes=10))   # 12:05, 13:05
    clock.set(START + timedelta(hours=2, minutes=30))
    assert status_of(runner, clock, "supply_monitor").status == "valid"
    clock.set(START + timedelta(hours=3, minutes=10))   # last run 13:05; two periods later is 15:05
    v = status_of(runner, clock, "supply_monitor")
    assert (v.status, v.reasons) == ("stale", ("no run within two schedule periods",))


def test_an_altered_evidence_record_fails_its_job(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    deliver_every(runner, clock, "supply_monitor", START, START + timedelta(hours=2))
    run = runner.db.execute("SELECT evidence_path FROM runs WHERE job_name='supply_monitor' ORDER BY id LIMIT 1").fetchone()
    path = runner.settings.evidence_dir / run[0]
    path.write_text(path.read_text().replace("succeeded", "dead", 1))
    clock.set(START + timedelta(hours=2, minutes=10))
    v = status_of(runner, clock, "supply_monitor")
    assert v.status == "failing" and v.reasons == ("evidence: 1 run(s) record missing or altered",)
    assert (v.runs_checked, v.evidence_ok) == (2, 1)


def test_the_store_chains_the_records_and_each_record_names_the_audit_head(tmp_path, clock, runners):
    """Each link of the evidence chain (in the store) names the previous link's SHA-256; a record names the
    audit head of its moment but not the previous record (version 2), so it can be written before the
    transaction that records its outcome takes the write lock."""
    runners.append(runner := clinic(tmp_path, clock))
    deliver_every(runner, clock, "supply_monitor", START, START + timedelta(hours=3))
    links = store_validation.chain_links(runner.db)
    assert len(links) >= 3 and links[0]["prev_sha256"] is None
    assert [link["prev_sha256"] for link in links[1:]] == [link["sha256"] for link in links[:-1]]
    docs = [yaml.safe_load((runner.settings.evidence_dir / link["path"]).read_text()) for link in links]
    assert all(d["evidence_version"] == 2 and "chain" not in d for d in docs)
    assert all(d["audit_head"]["mac"] == store_validation.audit_mac(runner.db, d["audit_head"]["id"])
               for d in docs if d["audit_head"]["id"])


def test_a_record_naming_an_audit_head_not_in_the_audit_trail_fails_even_with_its_hashes_fixed(tmp_path, clock,
                                                                                               runners):
    """The newest record has no successor link to break: an insider who rewrites it and stores its new
    SHA-256 is still caught when the audit head it names is not the trail's."""
    runners.append(runner := clinic(tmp_path, clock))
    deliver_every(runner, clock, "supply_monitor", START, START + timedelta(hours=3))
    last = store_validation.chain_links(runner.db)[-1]
    path = runner.settings.evidence_dir / last["path"]
    doc = yaml.safe_load(path.read_text())
    doc["audit_head"] = {"id": 1, "mac": "00" * 32, "at": doc["audit_head"].get("at")}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    from medjobs_tui.engine.evidence import file_sha256

    sha = file_sha256(path)
    runner.db.execute("UPDATE runs SET evidence_sha256 = ? WHERE id = ?", [sha, last["run_id"]])
    runner.db.execute("UPDATE evidence_chain SET sha256 = ? WHERE seq = ?", [sha, last["seq"]])
    runner.db.conn.commit()
    clock.set(START + timedelta(hours=3, minutes=10))
    v = status_of(runner, clock, "supply_monitor")
    assert v.status == "failing" and "record's audit head is not in the audit trail" in v.reasons[-1]


def test_a_record_rewritten_with_its_hashes_fixed_in_the_store_still_breaks_the_chain(tmp_path, clock, runners):
    """An insider edits a record and also stores its new SHA-256 in the run and its link: the record still
    fits its own hash, but the next link names the old hash, so the chain is broken."""
    runners.append(runner := clinic(tmp_path, clock))
    deliver_every(runner, clock, "supply_monitor", START, START + timedelta(hours=3))
    first = store_validation.chain_links(runner.db)[0]
    path = runner.settings.evidence_dir / first["path"]
    path.write_text(path.read_text().replace("succeeded", "dead", 1))
    from medjobs_tui.engine.evidence import file_sha256

    sha = file_sha256(path)
    runner.db.execute("UPDATE runs SET evidence_sha256 = ? WHERE id = ?", [sha, first["run_id"]])
    runner.db.execute("UPDATE evidence_chain SET sha256 = ? WHERE seq = ?", [sha, first["seq"]])
    runner.db.conn.commit()
    clock.set(START + timedelta(hours=3, minutes=10))
    v = status_of(runner, clock, "supply_monitor")
    assert v.status == "failing" and v.reasons[-1].startswith("evidence chain broken at link 2")


def test_medjobs_validation_prints_each_job_and_exits_1_when_one_is_not_valid(tmp_path, clock, runners):
    from tests.conftest import make_user, password_file

    runners.append(runner := clinic(tmp_path, clock))
    make_user(runner.settings, "reviewer1", "reviewer")
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "--user", "reviewer1", "validation"],
                                env={"MEDJOBS_PASSWORD_FILE": str(password_file(tmp_path))})
    assert result.exit_code == 1, result.output
    assert "medication_reminder" in result.output and "stale" in result.output and "no run yet" in result.output


class _PermanentFailure:
    """Every attempt raises bad data: the run goes dead at once."""

    def execute(self, run, now, timeout_s):
        return Outcome("failed", 0.0, error="bad data", permanent=True)


def test_a_critical_job_whose_manual_run_went_dead_is_failing_until_a_retry_succeeds(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    deliver_every(runner, clock, "medication_reminder", START, START + timedelta(hours=2))
    every_tick = runner.executor
    runner.executor = _PermanentFailure()
    run_id = runner.enqueue("medication_reminder", "nurse")
    runner.drain()
    assert store_runs.get_run(runner.db, run_id)["status"] == "dead"
    clock.set(START + timedelta(hours=2, minutes=10))
    v = status_of(runner, clock, "medication_reminder")
    assert (v.status, v.reasons) == ("failing", ("1 manual run(s) dead",))
    assert v.ticks_checked == v.ticks_ok == 8           # every tick was fine: the dead manual run alone fails it
    runner.executor = every_tick
    store_runs.retry_now(runner.db, run_id, "nurse", clock.now())
    runner.drain()
    assert store_runs.get_run(runner.db, run_id)["status"] == "succeeded"
    assert status_of(runner, clock, "medication_reminder").reasons == ()


def _dead_manual_reminder(runner, clock) -> int:
    """Every tick of two hours succeeds; then a manual run of the reminders goes dead (bad data). Its id."""
    deliver_every(runner, clock, "medication_reminder", START, START + timedelta(hours=2))
    every_tick = runner.executor
    runner.executor = _PermanentFailure()
    run_id = runner.enqueue("medication_reminder", "nurse")
    runner.drain()
    runner.executor = every_tick
    clock.set(START + timedelta(hours=2, minutes=10))
    assert status_of(runner, clock, "medication_reminder").reasons == ("1 manual run(s) dead",)
    return run_id


def test_a_retry_of_a_dead_manual_run_that_waits_or_was_cancelled_has_not_done_its_work(tmp_path, clock, runners):
    """Found by a reviewer: a retry put the dead run back in the queue, which no longer counted as dead, so the
    job read valid while the retry waited, and stayed valid once the retry was cancelled."""
    runners.append(runner := clinic(tmp_path, clock))
    run_id = _dead_manual_reminder(runner, clock)
    store_runs.retry_now(runner.db, run_id, "nurse", clock.now())           # queued again, not run yet
    assert status_of(runner, clock, "medication_reminder").reasons == ("1 manual run(s) dead",)
    store_runs.cancel_queued(runner.db, run_id, "nurse", clock.now())       # and never run
    assert status_of(runner, clock, "medication_reminder").reasons == ("1 manual run(s) dead",)


def test_a_later_manual_run_that_succeeded_does_the_dead_ones_work(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    _dead_manual_reminder(runner, clock)
    runner.enqueue("medication_reminder", "nurse")                          # run again by hand: it succeeds
    runner.drain()
    assert status_of(runner, clock, "medication_reminder").status == "valid"


def test_a_dead_manual_run_older_than_the_review_window_no_longer_fails_its_job(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    clock.set(START - timedelta(hours=25))
    every_tick = runner.executor
    runner.executor = _PermanentFailure()
    runner.enqueue("medication_reminder", "nurse")
    runner.drain()
    runner.executor = every_tick
    deliver_every(runner, clock, "medication_reminder", START, START + timedelta(hours=1))
    clock.set(START + timedelta(hours=1, minutes=10))
    assert "1 manual run(s) dead" not in status_of(runner, clock, "medication_reminder").reasons


def test_a_job_off_the_critical_path_is_judged_by_its_latest_run_not_by_counting_dead_manual_runs(
        tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    assert not runner.settings.jobs["analytics_rollup"].validation_rules.critical_path
    every_tick = runner.executor
    runner.executor = _PermanentFailure()
    run_id = runner.enqueue("analytics_rollup", "nurse")
    runner.drain()
    assert status_of(runner, clock, "analytics_rollup").reasons == (f"latest run dead (run {run_id})",)
    runner.executor = every_tick
    runner.enqueue("analytics_rollup", "nurse")
    runner.drain()
    assert "dead" not in " ".join(status_of(runner, clock, "analytics_rollup").reasons)


def test_a_job_off_the_critical_path_whose_latest_run_is_dead_is_failing_until_a_later_run_succeeds(
        tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock, supply_monitor={"retry_policy": {"max_attempts": 1, "delay": 300}}))
    assert not runner.settings.jobs["supply_monitor"].validation_rules.critical_path
    deliver_every(runner, clock, "supply_monitor", START, START + timedelta(hours=1))
    every_tick = runner.executor
    runner.executor = _PermanentFailure()
    deliver_every(runner, clock, "supply_monitor", START + timedelta(hours=1), START + timedelta(hours=3))
    dead = runner.db.execute("SELECT max(id) FROM runs WHERE job_name = 'supply_monitor' AND status = 'dead'").fetchone()[0]
    clock.set(START + timedelta(hours=3, minutes=10))
    v = status_of(runner, clock, "supply_monitor")
    assert (v.status, v.reasons) == ("failing", (f"latest run dead (run {dead})",))
    runner.executor = every_tick
    deliver_every(runner, clock, "supply_monitor", START + timedelta(hours=3), START + timedelta(hours=4))
    clock.set(START + timedelta(hours=4, minutes=10))
    assert status_of(runner, clock, "supply_monitor").status == "valid"    # the job works again


def test_ticks_skipped_while_a_critical_job_was_paused_fail_it_in_those_words(tmp_path, clock, runners):
    """Found by a fresh user: a paused job's ticks were called "missed", as if no runner had fired them."""
    runners.append(runner := clinic(tmp_path, clock))
    deliver_every(runner, clock, "medication_reminder", START, START + timedelta(hours=1))
    store_runs.set_paused(runner.db, "medication_reminder", True, "nurse", clock.now())
    deliver_every(runner, clock, "medication_reminder", START + timedelta(hours=1), START + timedelta(minutes=90))
    clock.set(START + timedelta(minutes=96))                 # 01:30 judged (older than the 300 s timeout)
    v = status_of(runner, clock, "medication_reminder")
    assert (v.status, v.reasons) == ("failing", ("2 scheduled tick(s) skipped while the job was paused",))


class _SomeOrdersUnassessed:
    """Every attempt succeeds, but its summary says 2 orders could not be assessed (as the supply monitor's does)."""

    def execute(self, run, now, timeout_s):
        return Outcome("succeeded", 0.0, summary={"orders_checked": 40, "orders_failed": 2, "failed_orders": [7, 9]})


def test_a_run_that_could_not_assess_some_orders_fails_its_job_until_a_later_run_assesses_every_order(
        tmp_path, clock, runners):
    """A supply run that went past orders whose data it could not work out succeeded as a run, but those patients'
    supply is not watched: the job is ``failing`` (the one status of valid / failing / stale that does not pass it
    for fine), saying which run and how many orders, until a later run assesses every order."""
    runners.append(runner := clinic(tmp_path, clock))
    every_tick = runner.executor
    runner.executor = _SomeOrdersUnassessed()
    deliver_every(runner, clock, "supply_monitor", START, START + timedelta(hours=1))
    partial = runner.db.execute("SELECT max(id) FROM runs WHERE job_name = 'supply_monitor'").fetchone()[0]
    clock.set(START + timedelta(hours=1, minutes=10))
    v = status_of(runner, clock, "supply_monitor")
    assert (v.status, v.reasons) == ("failing", (f"latest run {partial} could not assess 2 order(s)",))
    runner.executor = every_tick
    deliver_every(runner, clock, "supply_monitor", START + timedelta(hours=1), START + timedelta(hours=2))
    clock.set(START + timedelta(hours=2, minutes=10))
    assert status_of(runner, clock, "supply_monitor").status == "valid"
