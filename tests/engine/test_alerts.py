"""Alerts with a life cycle: open -> acknowledged (who, when, audited) -> resolved by their cause clearing.

Attempts run in process with a scripted outcome per job (these tests are about the alerts, not the pool);
the injected clock stands where each outcome is recorded. Supply and interaction alerts: tests/jobs/test_job_alerts.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from medjobs_tui.cli import main
from medjobs_tui.config import load_settings
from medjobs_tui.console import Actor, Console, ConsoleError, PermissionDenied
from medjobs_tui.engine import alerting, ticks
from medjobs_tui.engine.pool import Outcome
from medjobs_tui.engine.runner import Runner
from medjobs_tui.engine.validation import JobValidation
from medjobs_tui.notify.alerts import raise_alert, resolve_alert
from tests.conftest import REPO, make_user, password_file, write_config
from tests.engine.test_ticks import clinic, no_real_ticks, runners  # noqa: F401 - fixtures

UTC = timezone.utc
NURSE = Actor("nurse.kim", "operator")
AUDITOR = Actor("audrey.aud", "auditor")
START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PHI = ("Jane", "Doe", "1957")


class ScriptedExecutor:
    """Runs each attempt at once, in process: the next outcome of ``script[job]`` (then succeeded)."""

    def __init__(self, **script: list[str]) -> None:
        self.script = {job: list(outcomes) for job, outcomes in script.items()}

    def execute(self, run, now, timeout_s):
        outcomes = self.script.get(run["job_name"]) or ["succeeded"]
        status = outcomes.pop(0) if outcomes else "succeeded"
        return Outcome(status, 0.1, summary={"ok": 1} if status == "succeeded" else None,
                       error=None if status == "succeeded" else "RuntimeError: masked")


def make_clinic(tmp_path, clock, alerts=None, max_attempts=1, **script) -> tuple[Runner, Console]:
    import yaml

    jobs = yaml.safe_load((REPO / "config.yaml").read_text())["jobs"]
    for job in jobs.values():
        job["retry_policy"] = {"max_attempts": max_attempts, "delay": 0}
    overrides = {"jobs": jobs}
    if alerts:
        overrides["alerts"] = alerts
    settings = load_settings(write_config(tmp_path, **overrides))
    runner = Runner(settings, clock=clock, executor=ScriptedExecutor(**script))
    return runner, Console(settings, runner=runner)


def staff_notices(db, key_prefix: str) -> list[dict]:
    cur = db.execute("SELECT idempotency_key, audience, kind, message FROM notifications WHERE idempotency_key LIKE ?"
                     " ORDER BY id", [f"{key_prefix}%"])
    return [dict(zip([c[0] for c in cur.description], r)) for r in cur.fetchall()]


def only(alerts, kind):
    found = [a for a in alerts if a.kind == kind]
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------------------------------- dead run


def test_a_dead_run_opens_an_alert_and_its_retry_success_resolves_it_saying_so(tmp_path, clock, runners):
    runner, console = make_clinic(tmp_path, clock, refill_check=["failed"])
    runners.append(runner)
    run_id = console.trigger(NURSE, "refill_check")
    runner.drain()
    assert console.run(run_id).status == "dead"
    alert = only(console.alerts(NURSE), "run_dead")
    assert (alert.scope, alert.state, alert.count, alert.job_name) == (f"run {run_id}", "open", 1, "refill_check")
    assert alert.first_seen == alert.last_seen == clock.now()

    clock.advance(600)
    console.retry(NURSE, run_id)
    runner.drain()
    assert console.run(run_id).status == "succeeded"
    after = console.alert(NURSE, alert.id)
    assert after.state == "resolved" and after.resolved_at == clock.now()
    assert after.resolved_reason == f"run {run_id} succeeded on retry (attempt 2)"
    assert after.state_words == f"resolved: run {run_id} succeeded on retry (attempt 2)"
    notice = staff_notices(runner.db, f"alert_resolved:{alert.id}")
    assert len(notice) == 1 and notice[0]["audience"] == "staff"
    assert "succeeded on retry" in notice[0]["message"]
    assert console.alerts(NURSE, "active") == []


def test_a_run_that_dies_again_after_a_retry_bumps_the_count_not_a_new_row(tmp_path, clock, runners):
    runner, console = make_clinic(tmp_path, clock, refill_check=["failed", "failed"])
    runners.append(runner)
    run_id = console.trigger(NURSE, "refill_check")
    runner.drain()
    first_seen = clock.now()
    clock.advance(60)
    console.retry(NURSE, run_id)
    runner.drain()
    assert console.run(run_id).status == "dead"
    alerts = console.alerts(NURSE, "all")
    assert len(alerts) == 1
    assert (alerts[0].count, alerts[0].first_seen, alerts[0].last_seen) == (2, first_seen, clock.now())
    # the evaluation sees the same dead run again: no further count
    alerting.evaluate(runner.db, runner.settings, clock.now())
    assert console.alerts(NURSE, "all")[0].count == 2


def test_evaluation_resolves_a_dead_run_alert_whose_run_succeeded_meanwhile(tmp_path, clock, runners):
    runner, console = make_clinic(tmp_path, clock, refill_check=["failed"])
    runners.append(runner)
    run_id = console.trigger(NURSE, "refill_check")
    runner.drain()
    alert = only(console.alerts(NURSE), "run_dead")
    runner.db.execute("UPDATE runs SET status = 'succeeded', attempt = 2 WHERE id = ?", [run_id])  # recorded elsewhere
    alerting.evaluate(runner.db, runner.settings, clock.now())
    assert console.alert(NURSE, alert.id).resolved_reason == f"run {run_id} succeeded on retry (attempt 2)"


# ------------------------------------------------------------------------------- dead-man's switch


def fire_every(runner: Runner, clock, job: str, start: datetime, end: datetime) -> list[datetime]:
    """Hand each fire time of ``job`` in (start, end] to the runner and run it, the clock 0.3 s past it."""
    trigger = ticks.make_trigger(runner.settings.jobs[job], runner.settings)
    fired = []
    for t in ticks.fire_times(trigger, start, end):
        clock.set(t + timedelta(seconds=0.3))
        runner.fire(job, [t])
        runner.drain()
        fired.append(t)
    return fired


def test_the_dead_mans_switch_fires_when_ticks_are_missing_with_no_failed_run(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    console = Console(runner.settings, runner=runner)
    fire_every(runner, clock, "medication_reminder", START, START + timedelta(hours=1))   # every 15 min
    clock.set(START + timedelta(hours=1, minutes=1))
    alerting.evaluate(runner.db, runner.settings, clock.now())
    assert console.alerts(NURSE, "all", evaluate=False) == []          # on schedule: nothing

    # the runner is down: nothing fires for 40 minutes, so no run fails either
    clock.set(START + timedelta(hours=1, minutes=40))
    alerting.evaluate(runner.db, runner.settings, clock.now())
    failed = runner.db.execute("SELECT count(*) FROM runs WHERE status NOT IN ('succeeded')").fetchone()[0]
    assert failed == 0
    alert = only(console.alerts(NURSE, evaluate=False), "schedule_missed")
    assert (alert.scope, alert.severity, alert.state) == ("job medication_reminder", "critical", "open")
    assert "2 scheduled tick(s) since 2026-11-28 13:15 UTC not recorded" in alert.summary
    opened = staff_notices(runner.db, f"alert_opened:{alert.id}")
    assert len(opened) == 1 and opened[0]["audience"] == "staff" and "schedule missed" not in opened[0]["message"]
    assert "medication_reminder" in opened[0]["message"]

    # another tick goes by unrecorded: the same alert counts it
    clock.set(START + timedelta(hours=1, minutes=50))
    alerting.evaluate(runner.db, runner.settings, clock.now())
    assert only(console.alerts(NURSE, evaluate=False), "schedule_missed").count == 2

    # the runner is back: the catch-up records the latest missed tick, and the schedule ticks again
    ticks.catch_up_all(runner.db, runner.settings, clock.now())
    runner.drain()
    alerting.evaluate(runner.db, runner.settings, clock.now())
    resolved = console.alert(NURSE, alert.id)
    assert resolved.state == "resolved"
    assert resolved.resolved_reason == "job medication_reminder: schedule ticks again (tick of 2026-11-28 13:45 UTC recorded)"
    assert len(staff_notices(runner.db, f"alert_resolved:{alert.id}")) == 1


def test_a_tick_within_its_grace_is_not_yet_missed(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    console = Console(runner.settings, runner=runner)
    fire_every(runner, clock, "medication_reminder", START, START + timedelta(minutes=30))
    clock.set(START + timedelta(minutes=45, seconds=100))    # the 12:45 tick is 100 s late; grace is 120 s
    assert [a.kind for a in console.alerts(NURSE)] == []
    clock.set(START + timedelta(minutes=45, seconds=130))
    assert [a.kind for a in console.alerts(NURSE)] == ["schedule_missed"]   # listing evaluates first


def test_the_runner_at_start_fires_the_switch_for_ticks_missed_while_it_was_down(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    fire_every(runner, clock, "medication_reminder", START, START + timedelta(minutes=30))
    clock.set(START + timedelta(hours=3))
    runner.start()
    kinds = runner.db.execute("SELECT kind, scope FROM alerts WHERE kind = 'schedule_missed'").fetchall()
    assert ("schedule_missed", "job medication_reminder") in kinds


# ----------------------------------------------------------------------------------------- error rate


def test_an_error_rate_over_the_threshold_in_24_h_opens_an_alert_and_resolves_when_back_under(tmp_path, clock, runners):
    runner, console = make_clinic(tmp_path, clock, alerts={"error_rate_threshold": 30, "error_rate_min_attempts": 4},
                                  backup=["failed", "succeeded", "failed", "succeeded"])
    runners.append(runner)
    for _ in range(3):
        console.trigger(NURSE, "backup")
        runner.drain()
        clock.advance(60)
    assert "error_rate" not in [a.kind for a in console.alerts(NURSE)]      # 3 attempts: fewer than 4
    console.trigger(NURSE, "backup")
    runner.drain()
    alert = only(console.alerts(NURSE), "error_rate")                         # 2 of 4: 50 percent > 30
    assert alert.scope == "job backup" and alert.severity == "warning"
    assert alert.summary == "job backup: 50 percent of 4 attempts in 24 h failed or timed out (threshold 30 percent)"
    assert len(staff_notices(runner.db, f"alert_opened:{alert.id}")) == 1

    for _ in range(3):                                                        # 2 of 7: 29 percent
        clock.advance(60)
        console.trigger(NURSE, "backup")
        runner.drain()
    after = console.alerts(NURSE, "resolved")
    assert [a.id for a in after if a.kind == "error_rate"] == [alert.id]
    assert console.alert(NURSE, alert.id).resolved_reason == (
        "job backup: error rate back to 29 percent of 7 attempts in 24 h (threshold 30 percent)")


def test_failures_older_than_24_h_leave_the_error_rate(tmp_path, clock, runners):
    runner, console = make_clinic(tmp_path, clock, alerts={"error_rate_threshold": 10, "error_rate_min_attempts": 2},
                                  backup=["failed", "failed"])
    runners.append(runner)
    for _ in range(2):
        console.trigger(NURSE, "backup")
        runner.drain()
    assert only(console.alerts(NURSE), "error_rate").state == "open"
    clock.advance(25 * 3600)
    assert "error_rate" not in [a.kind for a in console.alerts(NURSE)]


# -------------------------------------------------------------------------------- critical job failing


def test_a_critical_job_failing_validation_opens_an_alert_that_resolves_when_valid(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    failing = JobValidation("medication_reminder", "failing", clock.now(), ("1 scheduled tick(s) missed",),
                            critical_path=True)
    alerting.evaluate(runner.db, runner.settings, clock.now(), [failing])
    console = Console(runner.settings, runner=runner)
    alert = only(console.alerts(NURSE, evaluate=False), "critical_job_failing")
    assert alert.summary == "critical job medication_reminder failing: 1 scheduled tick(s) missed"
    assert staff_notices(runner.db, "alert_opened:") == []     # its notice is validation's daily ops_alert
    worse = JobValidation("medication_reminder", "failing", clock.now(),
                          ("1 scheduled tick(s) missed", "1 critical run(s) failed"), critical_path=True)
    alerting.evaluate(runner.db, runner.settings, clock.now(), [worse])
    assert console.alert(NURSE, alert.id).count == 2
    valid = JobValidation("medication_reminder", "valid", clock.now(), (), critical_path=True)
    alerting.evaluate(runner.db, runner.settings, clock.now(), [valid])
    assert console.alert(NURSE, alert.id).resolved_reason == "job medication_reminder is valid again: its critical checks pass"


# ------------------------------------------------------------------------------------- acknowledge


def test_acknowledging_records_who_and_when_is_audited_and_is_refused_to_an_auditor(tmp_path, clock, runners):
    runner, console = make_clinic(tmp_path, clock, refill_check=["failed"])
    runners.append(runner)
    console.trigger(NURSE, "refill_check")
    runner.drain()
    alert = only(console.alerts(AUDITOR), "run_dead")                 # every person may list them
    with pytest.raises(PermissionDenied, match="may not acknowledge alerts"):
        console.acknowledge_alert(AUDITOR, alert.id)
    assert console.alert(NURSE, alert.id).state == "open"
    clock.advance(90)
    acked = console.acknowledge_alert(NURSE, alert.id)
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == ("acknowledged", "nurse.kim", clock.now())
    assert acked.state_words == "acknowledged by nurse.kim"
    entries = runner.db.execute("SELECT actor, role, action, target, outcome FROM audit_log WHERE action = 'alert.ack'"
                                " ORDER BY id").fetchall()
    assert entries == [("audrey.aud", "auditor", "alert.ack", f"alert:{alert.id}", "denied"),
                       ("nurse.kim", "operator", "alert.ack", f"alert:{alert.id}", "ok")]
    with pytest.raises(ConsoleError, match="already acknowledged by nurse.kim"):
        console.acknowledge_alert(NURSE, alert.id)
    # acknowledged is not resolved: the alert stays active until its cause clears
    assert [a.id for a in console.alerts(NURSE, "active")] == [alert.id]
    assert console.alerts(NURSE, "open") == []


def test_an_unknown_state_or_alert_is_a_clear_error(tmp_path, clock, runners):
    runner, console = make_clinic(tmp_path, clock)
    runners.append(runner)
    with pytest.raises(ConsoleError, match="no alert state 'closed'"):
        console.alerts(NURSE, "closed")
    with pytest.raises(ConsoleError, match="no alert A-42"):
        console.acknowledge_alert(NURSE, 42)


# --------------------------------------------------------------------------------------- delivery


def test_each_alert_queues_one_outbox_row_per_key_however_often_it_is_raised_or_resolved(tmp_path, clock, runners):
    runner, _ = make_clinic(tmp_path, clock)
    runners.append(runner)
    db = runner.db
    first = raise_alert(db, kind="error_rate", scope="job backup", summary="job backup: 50 percent", now=clock.now(),
                        ref="a1")
    again = raise_alert(db, kind="error_rate", scope="job backup", summary="job backup: 60 percent", now=clock.now(),
                        ref="a2")
    same = raise_alert(db, kind="error_rate", scope="job backup", summary="job backup: 60 percent", now=clock.now(),
                       ref="a2")
    assert (first.what, again.what, same.what) == ("opened", "bumped", "seen")
    assert first.alert_id == again.alert_id == same.alert_id
    assert resolve_alert(db, first.alert_id, "back under", clock.now()) is True
    assert resolve_alert(db, first.alert_id, "back under", clock.now()) is False
    keys = [n["idempotency_key"] for n in staff_notices(db, "alert_")]
    assert keys == [f"alert_opened:{first.alert_id}", f"alert_resolved:{first.alert_id}"]
    # the same cause after resolution is a new alert, with its own notices
    reopened = raise_alert(db, kind="error_rate", scope="job backup", summary="job backup: 70 percent", now=clock.now())
    assert reopened.what == "opened" and reopened.alert_id != first.alert_id
    assert len(staff_notices(db, f"alert_opened:{reopened.alert_id}")) == 1
    # the notices go out through the channels as any staff notification: the inbox always
    runner.delivery.run_pass()
    inbox = db.execute("SELECT n.idempotency_key, d.status FROM notification_deliveries d JOIN notifications n"
                       " ON n.id = d.notification_id WHERE d.channel = 'inbox' AND n.idempotency_key LIKE 'alert_%'"
                       " ORDER BY n.id").fetchall()
    assert inbox == [(f"alert_opened:{first.alert_id}", "sent"), (f"alert_resolved:{first.alert_id}", "sent"),
                     (f"alert_opened:{reopened.alert_id}", "sent")]


def test_alert_texts_refuse_what_is_not_an_id_or_a_plain_word(tmp_path, clock, runners):
    runner, _ = make_clinic(tmp_path, clock)
    runners.append(runner)
    with pytest.raises(ValueError, match="kind must be one of"):
        raise_alert(runner.db, kind="gossip", scope="job backup", summary="x", now=clock.now())
    with pytest.raises(ValueError, match="scope must be"):
        raise_alert(runner.db, kind="error_rate", scope="job backup; DROP TABLE", summary="x", now=clock.now())
    change = raise_alert(runner.db, kind="error_rate", scope="job backup", summary="50%, <b>bold</b>", now=clock.now())
    message = staff_notices(runner.db, f"alert_opened:{change.alert_id}")[0]["message"]
    assert "<" not in message and "%" not in message and "50" in message


# --------------------------------------------------------------------------------------------- CLI


def test_cli_lists_alerts_as_json_and_acknowledges_one(tmp_path, clock, runners):
    runner, console = make_clinic(tmp_path, clock, refill_check=["failed"])
    runners.append(runner)
    console.trigger(NURSE, "refill_check")
    runner.drain()
    make_user(runner.settings, "nina.op", "operator")
    make_user(runner.settings, "abe.aud", "auditor")
    config = str(runner.settings.source)
    env = {"MEDJOBS_PASSWORD_FILE": str(password_file(tmp_path))}
    cli = CliRunner()
    listed = cli.invoke(main, ["--config", config, "--user", "abe.aud", "alerts", "--format", "json"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["kind"], r["state"], r["count"]) for r in rows] == [("run_dead", "open", "1")]
    alert_id = rows[0]["alert"]
    refused = cli.invoke(main, ["--config", config, "--user", "abe.aud", "alerts", "ack", alert_id], env=env)
    assert refused.exit_code == 1 and "may not acknowledge alerts" in refused.output
    done = cli.invoke(main, ["--config", config, "--user", "nina.op", "alerts", "ack", alert_id], env=env)
    assert done.exit_code == 0 and f"alert {alert_id} (dead run, run 1) acknowledged by nina.op" in done.output
    csv_out = cli.invoke(main, ["--config", config, "--user", "abe.aud", "alerts", "--state", "all", "--format", "csv"],
                         env=env)
    assert csv_out.output.splitlines()[0].startswith("alert,kind,severity,scope,state")
    assert "acknowledged by nina.op" in csv_out.output
    none = cli.invoke(main, ["--config", config, "--user", "abe.aud", "alerts", "--state", "resolved"], env=env)
    assert none.exit_code == 0 and "no resolved alerts" in none.output
