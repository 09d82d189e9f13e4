"""`medjobs doses` and Console.doses: the schedule staff check, role-checked and audited, from outside.

Fixed clock 2026-11-29 12:55 UTC (07:55 New York, EST = UTC-5). Orders are imported as FHIR so the whole
path (import -> dose plan -> Doses view) is exercised; expected rows are written by hand.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner

from medjobs_tui.cli import main
from medjobs_tui.clinical.dosing import dose_status
from medjobs_tui.console import Actor, Console, ConsoleError, PermissionDenied
from medjobs_tui.fhir import import_paths
from tests.conftest import FIXED_NOW

NURSE = Actor("nurse", "operator")
AUDITOR = Actor("audrey", "auditor")
DAY = date(2026, 11, 30)   # a Monday


def _orders():
    rx = {"resourceType": "MedicationRequest", "status": "active", "subject": {"reference": "Patient/p1"},
          "authoredOn": "2026-11-01"}
    return [
        {"resourceType": "Patient", "id": "p1"},
        {**rx, "id": "mtx", "medicationCodeableConcept": {"text": "Methotrexate 2.5 MG Oral Tablet"},
         "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk",
                                                      "dayOfWeek": ["mon"], "timeOfDay": ["08:00:00"]}},
                                "doseAndRate": [{"doseQuantity": {"value": 4, "unit": "tablet"}}]}]},
        {**rx, "id": "bid", "medicationCodeableConcept": {"text": "Metformin 500 MG Oral Tablet"},
         "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]},
        {**rx, "id": "prn", "medicationCodeableConcept": {"text": "Ibuprofen 200 MG Oral Tablet"},
         "dosageInstruction": [{"text": "1 tablet as needed for pain"}]},
    ]


@pytest.fixture
def console(settings, clock, tmp_path):
    f = tmp_path / "orders.ndjson"
    f.write_text("\n".join(json.dumps(r) for r in _orders()) + "\n")
    c = Console(settings, clock=clock)
    assert import_paths(c.db, settings, [f], FIXED_NOW).skipped == []
    yield c
    c.close()


def _ids(console):
    return dict(console.db.execute("SELECT fhir_id, id FROM medication_requests").fetchall())


def test_a_monday_lists_the_weekly_dose_and_both_daily_doses(console):
    ids = _ids(console)
    rows = console.doses(NURSE, DAY)
    # Monday 11-30: methotrexate 4 tablets 08:00 EST (13:00 UTC); metformin BID 08:00 and 20:00 (01:00 UTC 12-01)
    assert [(r.local.strftime("%H:%M %Z"), r.at.strftime("%m-%d %H:%MZ"), r.order, r.dose_text, r.status)
            for r in rows] == [
        ("08:00 EST", "11-30 13:00Z", ids["mtx"], "4 tablet", "due"),
        ("08:00 EST", "11-30 13:00Z", ids["bid"], "1 tablet", "due"),
        ("20:00 EST", "12-01 01:00Z", ids["bid"], "1 tablet", "due"),
    ]   # same instant: by patient, then order id (methotrexate was imported first)
    # Tuesday: no methotrexate (weekly), metformin twice; the PRN order never appears
    assert [r.order for r in console.doses(NURSE, date(2026, 12, 1))] == [ids["bid"], ids["bid"]]
    # a week: 7 x 2 metformin + 1 methotrexate
    assert len(console.doses(NURSE, DAY, date(2026, 12, 6))) == 7 * 2 + 1


def test_filters_statuses_and_errors(console):
    ids = _ids(console)
    assert {r.order for r in console.doses(NURSE, DAY, order=ids["mtx"])} == {ids["mtx"]}
    with pytest.raises(ConsoleError, match="has no scheduled doses \\(schedule status: prn\\)"):
        console.doses(NURSE, DAY, order=ids["prn"])
    with pytest.raises(ConsoleError, match="no active orders of patient P-99999"):
        console.doses(NURSE, DAY, patient="P-99999")
    with pytest.raises(ConsoleError, match="before"):
        console.doses(NURSE, DAY, date(2026, 11, 1))
    with pytest.raises(ConsoleError, match="at most 31 days"):
        console.doses(NURSE, date(2026, 1, 1), date(2026, 3, 1))


def test_the_doses_view_is_role_checked_and_audited(console):
    with pytest.raises(PermissionDenied, match="may not see patients' doses"):
        console.doses(AUDITOR, DAY)
    console.doses(NURSE, DAY)
    rows = console.db.execute("SELECT actor, action, outcome, detail FROM audit_log WHERE action = 'dose.read'"
                              " ORDER BY id").fetchall()
    assert [(a, o) for a, _, o, _ in rows] == [("audrey", "denied"), ("nurse", "ok")]
    assert json.loads(rows[1][3]) == {"from": "2026-11-30", "to": "2026-11-30", "doses": 3}


@pytest.mark.parametrize("logged, reminded, want", [
    (None, False, "due"), (None, True, "reminded"), ("taken", True, "taken"), ("reminder_missed", False, "missed"),
    ("missed", True, "missed"), ("skipped", True, "skipped"), ("refused", False, "refused"),
])
def test_dose_status_rule(logged, reminded, want):
    assert dose_status(logged, reminded) == want


@pytest.mark.parametrize("logged, reminded, at_h, known_h, want", [
    (None, False, 11, 0, "overdue"),          # passed, nothing recorded, not reminded: never "due"
    (None, False, 13, 0, "due"),              # upcoming
    (None, True, 11, 0, "reminded"),
    ("taken", False, 11, 0, "taken"),
    (None, False, 8, 9, "before import"),     # passed before the order entered the store
    ("taken", False, 8, 9, "taken"),          # confirmed anyway: what happened stands
])
def test_a_passed_dose_reads_overdue_or_before_import_never_due(logged, reminded, at_h, known_h, want):
    from datetime import datetime, timezone

    def h(n):
        return datetime(2026, 11, 29, n, tzinfo=timezone.utc)

    assert dose_status(logged, reminded, at=h(at_h), now=h(12), known_since=h(known_h)) == want


def test_todays_doses_before_an_import_read_before_import_and_later_ones_overdue(settings, clock, tmp_path):
    """A clinic imports its orders at 12:55 UTC (07:55 EST): doses earlier that day were never tracked; at
    14:09 EST the 08:00 dose, due after the import and not confirmed, reads overdue, not due."""
    f = tmp_path / "orders.ndjson"
    rx = {"resourceType": "MedicationRequest", "status": "active", "subject": {"reference": "Patient/p1"},
          "authoredOn": "2026-11-01", "medicationCodeableConcept": {"text": "Metformin 500 MG Oral Tablet"}}
    f.write_text("\n".join(json.dumps(r) for r in [
        {"resourceType": "Patient", "id": "p1"},
        {**rx, "id": "early", "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                                                           "timeOfDay": ["06:00:00"]}}}]},
        {**rx, "id": "late", "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                                                          "timeOfDay": ["08:00:00", "21:00:00"]}}}]},
    ]) + "\n")
    c = Console(settings, clock=clock)
    assert import_paths(c.db, settings, [f], FIXED_NOW).skipped == []
    clock.set(FIXED_NOW.replace(hour=19, minute=9))                    # 14:09 EST
    got = [(r.local.strftime("%H:%M"), r.status) for r in c.doses(NURSE, date(2026, 11, 29))]
    c.close()
    assert got == [("06:00", "before import"), ("08:00", "overdue"), ("21:00", "due")]


def test_cli_doses_lists_one_day(console, settings, tmp_path):
    from tests.conftest import make_user, password_file

    make_user(settings, "nurse", "operator")
    env = {"MEDJOBS_PASSWORD_FILE": str(password_file(tmp_path))}
    result = CliRunner().invoke(main, ["--config", str(settings.source), "--user", "nurse", "doses",
                                       "--date", "2026-11-30"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.count("08:00 EST") == 2 and "2026-12-01 01:00Z" in result.output
    assert "4 tablet" in result.output and "Ibuprofen" not in result.output
    bad = CliRunner().invoke(main, ["--config", str(settings.source), "doses", "--date", "2026-11-30",
                                    "--from", "2026-11-01"])
    assert bad.exit_code == 2 and "either --date" in bad.output
