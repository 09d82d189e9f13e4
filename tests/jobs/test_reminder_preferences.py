"""Reminder preferences in the reminder job and at delivery: lead time, quiet hours (held until they end unless
the order is time-critical, never sent past the catch-up limit), opt-out, preferred channel; set with
`medjobs patient prefs` (audited); the run's evidence counts what each preference changed.

Clinic zone America/New_York (EST, UTC-5, in late November). One patient, one order with doses at 06:00 and
08:00 local (11:00 and 13:00 UTC), in the store since 1 Jan 2026.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from medjobs_tui.clock import FixedClock
from medjobs_tui.console import Actor, Console, ConsoleError
from medjobs_tui.console.operations import PermissionDenied
from medjobs_tui.jobs import get_handler
from medjobs_tui.jobs.base import JobContext
from tests.jobs.conftest import one_order_clinic

NURSE = Actor("nurse", "operator")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def clinic(settings):
    db, oid = one_order_clinic(settings, "levodopa 100 MG Oral Tablet", "levodopa", ['06:00', '08:00'])
    console = Console(settings, clock=FixedClock(utc(2026, 11, 29, 10, 0)))
    yield settings, db, oid, console
    console.close()


def remind(settings, db, now: datetime) -> dict:
    job = settings.jobs["medication_reminder"]
    return get_handler(job.job_type)(JobContext(db=db, settings=settings, job_name="medication_reminder", job=job,
                                                now=now))


def reminders(db) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in db.execute(
        "SELECT idempotency_key, due_at FROM notifications WHERE kind = 'dose_reminder' ORDER BY id")]


def test_lead_time_queues_the_reminder_before_the_dose(clinic):
    settings, db, oid, console = clinic
    console.set_patient_prefs(NURSE, "P-00001", lead_minutes=30)
    early = remind(settings, db, utc(2026, 11, 30, 12, 20))  # 07:20 local: the 08:00 dose's reminder is due 07:30
    assert reminders(db) == [(f"dose_reminder:{oid}:2026-11-30T13:00:00+00:00", "2026-11-30T12:30:00+00:00")]
    assert early["preferences"]["lead_time_applied"] == 1
    without = remind(settings, db, utc(2026, 11, 30, 12, 21))
    assert without["reminders_queued"] == 0 and without["reminders_already_sent"] == 1


def test_a_reminder_in_quiet_hours_is_held_until_they_end(clinic):
    settings, db, oid, console = clinic
    console.set_patient_prefs(NURSE, "P-00001", quiet_hours="22:00-07:00")
    at_dose = remind(settings, db, utc(2026, 11, 30, 10, 50))  # 05:50 local: the 06:00 dose is in quiet hours
    assert at_dose["reminders_queued"] == 0
    at_end = remind(settings, db, utc(2026, 11, 30, 11, 55))  # 06:55: the held reminder goes out at 07:00
    assert reminders(db) == [(f"dose_reminder:{oid}:2026-11-30T11:00:00+00:00", "2026-11-30T12:00:00+00:00")]
    assert at_end["preferences"]["quiet_hours_held"] == 1 and at_end["late_reminders_queued"] == 0


def test_a_time_critical_order_is_not_held(clinic):
    settings, db, oid, console = clinic
    console.set_patient_prefs(NURSE, "P-00001", quiet_hours="22:00-07:00")
    console.set_order_critical(NURSE, oid)
    summary = remind(settings, db, utc(2026, 11, 30, 10, 50))
    assert reminders(db) == [(f"dose_reminder:{oid}:2026-11-30T11:00:00+00:00", "2026-11-30T11:00:00+00:00")]
    assert summary["preferences"]["quiet_hours_not_held_critical"] == 1


def test_held_past_the_catch_up_limit_is_never_sent_and_staff_are_told(clinic):
    settings, db, oid, console = clinic
    console.set_patient_prefs(NURSE, "P-00001", quiet_hours="05:00-08:00")  # 06:00 dose held to 08:00: 120 min late
    due = remind(settings, db, utc(2026, 11, 30, 10, 50))
    assert due["preferences"]["held_past_catch_up"] == 1 and due["reminders_queued"] == 0
    later = remind(settings, db, utc(2026, 11, 30, 12, 5))  # 07:05 local: 65 min after the 06:00 dose
    assert [k for k, _ in reminders(db)] == []
    assert later["reminders_missed"] == 1 and later["missed_notices_queued"] == 1


def test_opt_out_stops_reminders_and_is_counted(clinic):
    settings, db, oid, console = clinic
    console.set_patient_prefs(NURSE, "P-00001", opt_out=True)
    summary = remind(settings, db, utc(2026, 11, 30, 12, 50))
    assert summary["reminders_queued"] == 0 and summary["preferences"]["opted_out_orders"] == 1
    console.set_patient_prefs(NURSE, "P-00001", opt_out=False)
    assert remind(settings, db, utc(2026, 11, 30, 12, 51))["reminders_queued"] == 1


def test_prefs_are_validated_audited_and_role_checked(clinic):
    settings, db, oid, console = clinic
    with pytest.raises(ConsoleError, match="0 to 180"):
        console.set_patient_prefs(NURSE, "P-00001", lead_minutes=600)
    with pytest.raises(ConsoleError, match="HH:MM-HH:MM"):
        console.set_patient_prefs(NURSE, "P-00001", quiet_hours="late")
    with pytest.raises(ConsoleError, match="channel 'pager' does not serve patients; allowed: default, inbox"):
        console.set_patient_prefs(NURSE, "P-00001", channel="pager")
    with pytest.raises(ConsoleError, match="no patient P-09999"):
        console.set_patient_prefs(NURSE, "P-09999", lead_minutes=5)
    with pytest.raises(PermissionDenied):
        console.set_patient_prefs(Actor("audrey", "auditor"), "P-00001", lead_minutes=5)
    prefs = console.set_patient_prefs(NURSE, "P-00001", channel="inbox", lead_minutes=15, quiet_hours="21:30-06:30")
    assert (prefs["channel"], prefs["lead_minutes"], prefs["quiet_hours"], prefs["opt_out"]) == (
        "inbox", 15, "21:30-06:30", False)
    (action, outcome, detail), = [r for r in db.execute("SELECT action, outcome, detail FROM audit_log"
                                                        " WHERE action = 'patient.prefs' AND outcome = 'ok'")]
    assert json.loads(detail) == {"changed": {"channel": "inbox", "lead_minutes": 15, "quiet_start": "21:30",
                                              "quiet_end": "06:30"}}


def test_the_preferred_inbox_channel_keeps_a_reminder_off_outgoing_channels(clinic, tmp_path):
    from medjobs_tui.notify.delivery import plan
    from medjobs_tui.config import load_settings
    from tests.conftest import write_config

    settings, db, oid, console = clinic
    console.set_patient_prefs(NURSE, "P-00001", channel="inbox")
    remind(settings, db, utc(2026, 11, 30, 12, 50))
    (tmp_path / "other").mkdir()
    with_sms = load_settings(write_config(tmp_path / "other", notifications={"channels": {
        "sms": {"url": "json://localhost:9/hook", "audience": ["patient"]}}}))
    plan(db, with_sms, utc(2026, 11, 30, 12, 50))
    console.set_patient_prefs(NURSE, "P-00001", channel="default")
    remind(settings, db, utc(2026, 12, 1, 12, 50))  # the next day's 08:00 dose, no preferred channel
    plan(db, with_sms, utc(2026, 12, 1, 12, 50))
    rows = db.execute("SELECT n.idempotency_key, d.channel FROM notification_deliveries d JOIN notifications n"
                      " ON n.id = d.notification_id WHERE n.kind = 'dose_reminder' ORDER BY d.id").fetchall()
    assert rows == [(f"dose_reminder:{oid}:2026-11-30T13:00:00+00:00", "inbox"),
                    (f"dose_reminder:{oid}:2026-12-01T13:00:00+00:00", "inbox"),
                    (f"dose_reminder:{oid}:2026-12-01T13:00:00+00:00", "sms")]


def test_cli_patient_prefs_and_order_critical(clinic, clinic_config):
    from click.testing import CliRunner

    from medjobs_tui.cli import main

    from tests.conftest import make_user, password_file

    settings, db, oid, console = clinic
    make_user(settings, "nurse", "operator")
    runner = CliRunner(env={"MEDJOBS_PASSWORD_FILE": str(password_file(clinic_config.parent))})
    base = ["--config", str(clinic_config), "--user", "nurse"]
    r = runner.invoke(main, base + ["patient", "prefs", "p-00001", "--lead", "20", "--quiet", "22:00-07:00"])
    assert r.exit_code == 0, r.output
    assert "P-00001: channel default, lead 20 min, quiet hours 22:00-07:00, reminders on (set by nurse" in r.output
    r = runner.invoke(main, base + ["patient", "prefs", "P-00001", "--opt-out"])
    assert "reminders OPTED OUT" in r.output
    r = runner.invoke(main, base + ["order", "critical", str(oid)])
    assert r.exit_code == 0 and f"order {oid} is now time-critical" in r.output
    r = runner.invoke(main, base + ["patient", "prefs", "P-00001", "--lead", "999"])
    assert r.exit_code == 1 and "0 to 180" in r.output
