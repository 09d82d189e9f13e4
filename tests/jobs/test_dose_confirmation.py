"""Dose confirmation: `medjobs dose taken|skipped|refused` records what happened to a dose, audited; a
confirmation wins over the reminder job's 'reminder_missed' with the earlier entry kept in the history;
adherence credits the dose to the local day it was due, across midnight and across daylight saving.

Clinic zone America/New_York. Hand-worked instants: 23:30 EST = 04:30 UTC the next day; on 2026-03-08
(spring forward) 02:30 does not exist and the dose is at 03:00 EDT = 07:00 UTC; on 2026-11-01 (fall back)
23:30 EST = 04:30 UTC on 2 Nov.
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
from medjobs_tui.store import clinical as store
from tests.jobs.conftest import one_order_clinic

NURSE = Actor("nurse", "operator")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def clinic(settings):
    """One patient, one active order with a 23:30 and a 02:30 dose, in the store since 1 Jan 2026."""
    db, oid = one_order_clinic(settings, "lisinopril 10 MG Oral Tablet", "lisinopril", ['02:30', '23:30'])
    return settings, db, oid


def console_at(settings, now: datetime) -> Console:
    return Console(settings, clock=FixedClock(now))


def run_job(settings, db, job_name: str, now: datetime, **options):
    job = settings.jobs[job_name]
    if options:
        job = job.model_copy(update={"options": {**job.options, **options}})
    return get_handler(job.job_type)(JobContext(db=db, settings=settings, job_name=job_name, job=job, now=now))


def adherence_row(db, day: str, oid: int):
    return store.analytics_day(db, day)["adherence"][[r["medication_request_id"] for r in
                                                       store.analytics_day(db, day)["adherence"]].index(oid)]


def test_taken_after_reminder_missed_wins_and_the_earlier_entry_stays(clinic):
    settings, db, oid = clinic
    # the 02:30 and 23:30 doses of 28 Nov (the latter 04:30 UTC on 29 Nov) pass the 60-minute catch-up
    # limit unreminded (the runner was off); the job records both as reminder_missed
    summary = run_job(settings, db, "medication_reminder", utc(2026, 11, 29, 6, 0))
    assert summary["reminders_missed"] == 2
    console = console_at(settings, utc(2026, 11, 29, 6, 10))

    done = console.record_dose(NURSE, oid, "2026-11-28 23:30", "taken", at="2026-11-29 00:15")

    assert (done.status, done.previous) == ("taken", "reminder_missed")
    assert done.dose_instant == utc(2026, 11, 29, 4, 30) and done.occurred_at == utc(2026, 11, 29, 5, 15)
    assert db.execute("SELECT status FROM dose_log WHERE dose_instant = ?",
                      ["2026-11-29T04:30:00+00:00"]).fetchall() == [("taken",)]
    history = console.dose_history(oid, "2026-11-28T23:30-05:00")
    assert [(h["status"], h["recorded_by"]) for h in history] == [("reminder_missed", None), ("taken", "nurse")]
    assert history[1]["occurred_at"] == "2026-11-29T05:15:00+00:00"
    console.close()


def test_the_reminder_job_never_overrides_a_confirmation(clinic):
    settings, db, oid = clinic
    console = console_at(settings, utc(2026, 11, 29, 5, 0))
    console.record_dose(NURSE, oid, "2026-11-28 23:30", "refused")
    summary = run_job(settings, db, "medication_reminder", utc(2026, 11, 29, 6, 0))
    assert summary["reminders_missed"] == 1  # the unconfirmed 02:30 dose only
    assert [h["status"] for h in console.dose_history(oid, "2026-11-28 23:30")] == ["refused"]
    console.close()


def test_a_correction_keeps_both_confirmations(clinic):
    settings, db, oid = clinic
    console = console_at(settings, utc(2026, 11, 29, 6, 0))
    console.record_dose(NURSE, oid, "2026-11-28 23:30", "skipped")
    again = console.record_dose(NURSE, oid, "2026-11-28 23:30", "taken")
    assert again.previous == "skipped"
    assert [h["status"] for h in console.dose_history(oid, "2026-11-28 23:30")] == ["skipped", "taken"]
    with pytest.raises(Exception, match="append-only"):
        db.execute("UPDATE dose_log_history SET status = 'taken'")
    console.close()


def test_dose_confirmed_after_midnight_counts_on_the_day_it_was_due(clinic):
    settings, db, oid = clinic
    console = console_at(settings, utc(2026, 11, 29, 6, 0))
    console.record_dose(NURSE, oid, "2026-11-28 23:30", "taken", at="2026-11-29 00:20")
    console.record_dose(NURSE, oid, "2026-11-28 02:30", "taken")
    console.close()

    run_job(settings, db, "analytics_rollup", utc(2026, 11, 29, 12, 0), day="2026-11-28")
    run_job(settings, db, "analytics_rollup", utc(2026, 11, 30, 12, 0), day="2026-11-29")

    day28, day29 = adherence_row(db, "2026-11-28", oid), adherence_row(db, "2026-11-29", oid)
    assert (day28["doses_scheduled"], day28["doses_taken"], day28["adherence_pct"]) == (2, 2, 100.0)
    assert (day29["doses_scheduled"], day29["doses_taken"]) == (2, 0)  # not credited to the day it was confirmed


def test_across_daylight_saving_the_dose_is_credited_once_to_its_own_day(clinic):
    settings, db, oid = clinic
    # spring forward: 02:30 on 8 Mar 2026 does not exist; the dose is at 03:00 EDT = 07:00 UTC
    console = console_at(settings, utc(2026, 3, 9, 12, 0))
    spring = console.record_dose(NURSE, oid, "2026-03-08 02:30", "taken")
    assert spring.dose_instant == utc(2026, 3, 8, 7, 0)
    # fall back: 23:30 EST on 1 Nov = 04:30 UTC on 2 Nov, confirmed at 00:40 local on 2 Nov
    console.clock.set(utc(2026, 11, 2, 12, 0))
    fall = console.record_dose(NURSE, oid, "2026-11-01 23:30", "taken", at="2026-11-02T00:40-05:00")
    assert fall.dose_instant == utc(2026, 11, 2, 4, 30)
    console.close()

    run_job(settings, db, "analytics_rollup", utc(2026, 3, 9, 12, 0), day="2026-03-08")
    run_job(settings, db, "analytics_rollup", utc(2026, 11, 2, 12, 0), day="2026-11-01")
    run_job(settings, db, "analytics_rollup", utc(2026, 11, 3, 12, 0), day="2026-11-02")
    assert adherence_row(db, "2026-03-08", oid)["doses_taken"] == 1
    assert adherence_row(db, "2026-11-01", oid)["doses_taken"] == 1
    assert adherence_row(db, "2026-11-02", oid)["doses_taken"] == 0


def test_refusals_name_the_problem_and_change_nothing(clinic):
    settings, db, oid = clinic
    console = console_at(settings, utc(2026, 11, 29, 6, 0))
    with pytest.raises(ConsoleError, match=r"no dose due at 2026-11-28 23:00 \(America/New_York\); "
                                           r"its doses that day: 02:30, 23:30"):
        console.record_dose(NURSE, oid, "2026-11-28 23:00", "taken")
    with pytest.raises(ConsoleError, match="--at lies in the future"):
        console.record_dose(NURSE, oid, "2026-11-28 23:30", "taken", at="2026-11-29 09:00")
    with pytest.raises(ConsoleError, match="more than a day ahead"):
        console.record_dose(NURSE, oid, "2026-12-01 02:30", "refused")
    with pytest.raises(ConsoleError, match="unknown dose status 'given'"):
        console.record_dose(NURSE, oid, "2026-11-28 23:30", "given")
    with pytest.raises(ConsoleError, match="no medication order 999"):
        console.record_dose(NURSE, 999, "2026-11-28 23:30", "taken")
    with pytest.raises(ConsoleError, match="give 'YYYY-MM-DD HH:MM'"):
        console.record_dose(NURSE, oid, "yesterday", "taken")
    with pytest.raises(PermissionDenied, match="may not record what happened to a dose"):
        console.record_dose(Actor("rita", "reviewer"), oid, "2026-11-28 23:30", "taken")
    assert db.execute("SELECT count(*) FROM dose_log").fetchone()[0] == 0
    audit = db.execute("SELECT actor, action, target, outcome, detail FROM audit_log").fetchall()
    # every refusal is audited: the content refusals with their reason's category, the role's by authorise
    assert audit == [("nurse", "dose.record", f"order:{oid}", "denied", json.dumps({"reason": reason}))
                     for reason in ("no dose due then", "in the future", "more than a day ahead", "unknown status")] \
        + [("nurse", "dose.record", "order:999", "denied", '{"reason": "no such order"}'),
           ("nurse", "dose.record", f"order:{oid}", "denied", '{"reason": "time not readable"}'),
           ("rita", "dose.record", f"order:{oid}", "denied", None)]
    console.close()


def test_every_confirmation_is_audited_without_patient_data(clinic):
    settings, db, oid = clinic
    console = console_at(settings, utc(2026, 11, 29, 6, 0))
    console.record_dose(NURSE, oid, "2026-11-28 23:30", "taken")
    (actor, action, target, outcome, detail), = db.execute(
        "SELECT actor, action, target, outcome, detail FROM audit_log").fetchall()
    assert (actor, action, target, outcome) == ("nurse", "dose.record", f"order:{oid}", "ok")
    assert json.loads(detail) == {"history_id": 1, "previous": None, "status": "taken"}
    console.close()


def test_cli_dose_taken_and_history(clinic, clinic_config):
    from click.testing import CliRunner

    from medjobs_tui.cli import main

    settings, db, oid = clinic
    run_job(settings, db, "medication_reminder", utc(2026, 11, 29, 6, 0))
    from tests.conftest import make_user, password_file

    make_user(settings, "nurse", "operator")
    runner = CliRunner(env={"MEDJOBS_PASSWORD_FILE": str(password_file(clinic_config.parent))})
    base = ["--config", str(clinic_config), "--user", "nurse"]
    result = runner.invoke(main, base + ["dose", "taken", str(oid), "2026-11-28 23:30", "--at", "2026-11-29 00:15"])
    assert result.exit_code == 0, result.output
    assert f"order {oid} (P-00001), dose due 2026-11-28 23:30 EST: taken (was reminder_missed" in result.output
    result = runner.invoke(main, base + ["dose", "history", str(oid), "2026-11-28 23:30"])
    assert result.exit_code == 0 and "reminder_missed" in result.output and "nurse" in result.output
    result = runner.invoke(main, base + ["dose", "refused", str(oid), "2026-11-28 23:10"])
    assert result.exit_code == 1 and "no dose due at" in result.output


def test_the_same_confirmation_twice_records_nothing_and_says_who_recorded_it(clinic):
    settings, db, oid = clinic
    console = console_at(settings, utc(2026, 11, 29, 6, 0))
    console.record_dose(NURSE, oid, "2026-11-28 23:30", "taken")
    with pytest.raises(ConsoleError, match=r"^already recorded taken by nurse at 01:00 EST; nothing recorded$"):
        console.record_dose(Actor("other.nurse", "operator"), oid, "2026-11-28 23:30", "taken")
    assert [h["status"] for h in console.dose_history(oid, "2026-11-28 23:30")] == ["taken"]
    console.close()


def test_taken_is_refused_more_than_two_hours_before_the_dose_unless_stated_early(clinic):
    settings, db, oid = clinic
    # 23:30 EST dose of 29 Nov (04:30 UTC on 30 Nov); the nurse presses at 21:29 local: 2 h 1 min early
    console = console_at(settings, utc(2026, 11, 30, 2, 29))
    with pytest.raises(ConsoleError, match=r"^a dose is recorded taken at most 2 h before it is due \(ISMP timely "
                                           r"administration\); order \d+'s dose due 2026-11-29 23:30 EST can be "
                                           r"recorded taken from 21:30 EST"):
        console.record_dose(NURSE, oid, "2026-11-29 23:30", "taken")
    with pytest.raises(ConsoleError, match="at most 2 h before it is due"):    # an --at before the window too
        console.record_dose(NURSE, oid, "2026-11-29 23:30", "taken", at="2026-11-29 12:00")
    assert console.dose_history(oid, "2026-11-29 23:30") == []
    console.clock.set(utc(2026, 11, 30, 2, 30))                                  # 21:30: inside the window
    assert console.record_dose(NURSE, oid, "2026-11-29 23:30", "taken").status == "taken"
    # held ahead of time by a clinician: skipped may be recorded before the window
    assert console.record_dose(NURSE, oid, "2026-11-30 02:30", "skipped").status == "skipped"
    # a dose really taken early is recorded when the person says so, and the audit entry says it was early
    console.clock.set(utc(2026, 11, 30, 12, 0))                                  # 07:00 on 30 Nov
    done = console.record_dose(NURSE, oid, "2026-11-30 23:30", "taken", at="2026-11-30 07:00", early=True)
    assert done.status == "taken"
    detail = json.loads(db.execute("SELECT detail FROM audit_log WHERE action = 'dose.record' ORDER BY id DESC"
                                   " LIMIT 1").fetchone()[0])
    assert detail["early"] is True
    console.close()


def test_cli_dose_taken_early_needs_early(clinic, clinic_config):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from click.testing import CliRunner

    from medjobs_tui.cli import main
    from tests.conftest import make_user, password_file

    settings, db, oid = clinic
    make_user(settings, "nurse", "operator")
    zone, now = ZoneInfo("America/New_York"), datetime.now(timezone.utc)
    # the CLI runs on the real clock: a dose of this order due between 2 h 5 min and 23 h 55 min from now
    today = now.astimezone(zone).date()
    instants = sorted(datetime.combine(today + timedelta(days=d), datetime.strptime(t, "%H:%M").time(), zone)
                      for d in (0, 1) for t in ("02:30", "23:30"))
    due = next(i for i in instants if timedelta(hours=2, minutes=5) < i - now < timedelta(hours=23, minutes=55))
    runner = CliRunner(env={"MEDJOBS_PASSWORD_FILE": str(password_file(clinic_config.parent))})
    base = ["--config", str(clinic_config), "--user", "nurse", "dose", "taken", str(oid), f"{due:%Y-%m-%d %H:%M}"]
    refused = runner.invoke(main, base)
    assert refused.exit_code == 1 and "at most 2 h before it is due" in refused.output
    done = runner.invoke(main, base + ["--early"])
    assert done.exit_code == 0, done.output
    assert f"dose due {due:%Y-%m-%d %H:%M %Z}: taken" in done.output


# ---- a dose of an order that may not be given is never recorded taken (found by a reviewer) ----------------------

def _imported_orders(settings, **variants):
    """Import patient 'p' and one daily 08:00 lisinopril order per ``variants`` item (FHIR id -> extra fields of
    the MedicationRequest); return (store, FHIR id -> order row id)."""
    from medjobs_tui.fhir import import_paths
    from medjobs_tui.store import connect
    from tests.conftest import STORE_KEY

    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path, STORE_KEY)
    resources = [{"resourceType": "Patient", "id": "p"}] + [
        {"resourceType": "MedicationRequest", "id": fid, "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p"}, "authoredOn": "2026-11-01",
         "medicationCodeableConcept": {"text": "Lisinopril 10 MG Oral Tablet"},
         "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                                      "timeOfDay": ["08:00:00"]}},
                                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}], **extra}
        for fid, extra in variants.items()]
    f = settings.database_path.parent / "orders.ndjson"
    f.write_text("".join(json.dumps(r) + "\n" for r in resources))
    import_paths(db, settings, [f], utc(2026, 11, 20, 12, 0))
    return db, dict(db.execute("SELECT fhir_id, id FROM medication_requests").fetchall())


NOT_GIVEN = {"stopped": ({"status": "stopped"}, "stopped"), "held": ({"status": "on-hold"}, "on-hold"),
             "completed": ({"status": "completed"}, "completed"),
             "do-not": ({"doNotPerform": True}, "an order not to give it"),
             "proposal": ({"intent": "proposal"}, "an order not to give it")}


@pytest.mark.parametrize("fid", sorted(NOT_GIVEN))
def test_taken_is_refused_for_an_order_that_is_stopped_or_not_to_give(settings, fid):
    db, ids = _imported_orders(settings, given={}, **{fid: NOT_GIVEN[fid][0]})
    console = console_at(settings, utc(2026, 11, 29, 13, 5))                      # 08:05 EST: the 08:00 dose
    with pytest.raises(ConsoleError) as refused:
        console.record_dose(NURSE, ids[fid], "2026-11-29 08:00", "taken")
    text = str(refused.value)
    assert text.startswith(f"order {ids[fid]} is ") and NOT_GIVEN[fid][1] in text and text.endswith("nothing recorded")
    assert "P-0" not in text and "isinopril" not in text                         # no patient data in the error
    assert db.execute("SELECT count(*) FROM dose_log").fetchone()[0] == 0
    # the order beside it, active and to give, is recorded as ever
    assert console.record_dose(NURSE, ids["given"], "2026-11-29 08:00", "taken").status == "taken"
    console.close()
    db.close()


def test_taken_is_refused_for_a_not_to_give_order_of_a_patient_since_deceased(settings):
    """The order's schedule status then says 'deceased'; that it is no order to give must still be known."""
    db, ids = _imported_orders(settings, given={}, **{"do-not": {"doNotPerform": True}})
    from medjobs_tui.store import records, transaction
    with transaction(db):
        db.execute("UPDATE patients SET deceased = 1")
        records.mark_orders_deceased(db, [1], "2026-11-29T00:00:00+00:00")
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    with pytest.raises(ConsoleError, match=rf"^order {ids['do-not']} is an order not to give it"):
        console.record_dose(NURSE, ids["do-not"], "2026-11-29 08:00", "taken")
    assert db.execute("SELECT count(*) FROM dose_log").fetchone()[0] == 0
    console.close()
    db.close()


def test_the_dashboards_d_key_and_the_cli_refuse_it_by_the_same_rule(settings, clinic_config):
    from click.testing import CliRunner

    from medjobs_tui.cli import main
    from medjobs_tui.tui.commands import dose_taken
    from tests.conftest import make_user, password_file

    db, ids = _imported_orders(settings, stopped={"status": "stopped"})
    oid = ids["stopped"]
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    with pytest.raises(ConsoleError, match=rf"^order {oid} is stopped"):            # the Doses tab's `d`, confirmed
        dose_taken(console, NURSE, f"{oid}@2026-11-29T13:00:00+00:00")
    console.close()
    make_user(settings, "nurse", "operator")
    runner = CliRunner(env={"MEDJOBS_PASSWORD_FILE": str(password_file(clinic_config.parent))})
    result = runner.invoke(main, ["--config", str(clinic_config), "--user", "nurse",
                                  "dose", "taken", str(oid), "2026-11-29T08:00-05:00"])
    assert result.exit_code == 1 and f"order {oid} is stopped" in result.output, result.output
    assert db.execute("SELECT count(*) FROM dose_log").fetchone()[0] == 0
    db.close()
