"""The demo clinic generator: deterministic, pseudonymous, refuses to overwrite, has every scenario."""

from __future__ import annotations

import re

import pytest

from medjobs_tui.demo import DemoError, generate_demo, has_patients
from medjobs_tui.store import connect
from tests.jobs.conftest import NOW
from tests.conftest import STORE_KEY

TABLES = ("patients", "medication_requests", "dispenses", "supply_counts", "dose_log")


def _dump(db):
    out = {}
    for t in TABLES:
        cur = db.execute(f"SELECT * FROM {t} ORDER BY id")
        out[t] = [r for r in cur.fetchall()]
    return out


def test_same_seed_and_now_give_identical_data(clinic, tmp_path):
    other = connect(tmp_path / "other.db", STORE_KEY)
    try:
        report = generate_demo(other, clinic.settings, NOW)
        assert _dump(other) == _dump(clinic.db)
        assert str(report) == str(clinic.report)
    finally:
        other.close()


def test_another_seed_gives_another_clinic(clinic, tmp_path):
    other = connect(tmp_path / "other.db", STORE_KEY)
    try:
        generate_demo(other, clinic.settings, NOW, seed=8)
        assert _dump(other)["medication_requests"] != _dump(clinic.db)["medication_requests"]
    finally:
        other.close()


def test_refuses_when_the_store_has_patients_unless_replace(clinic):
    assert has_patients(clinic.db)
    with pytest.raises(DemoError, match="already has patients"):
        generate_demo(clinic.db, clinic.settings, NOW)
    report = generate_demo(clinic.db, clinic.settings, NOW, seed=3, patients=20, replace=True)
    assert report.patients == 20
    assert clinic.scalar("SELECT count(*) FROM patients") == 20
    assert clinic.scalar("SELECT count(*) FROM users") == 0          # the generator makes no users (see `medjobs demo`)


def test_demo_patients_are_pseudonymous_with_birth_year_only(clinic):
    rows = clinic.rows("SELECT * FROM patients")
    assert len(rows) == 50
    assert all(re.fullmatch(r"P-\d{5}", r["pseudonym"]) and r["source"] == "demo" for r in rows)
    assert all(1900 < r["birth_year"] < 2026 for r in rows)
    assert sum(r["deceased"] for r in rows) == 2 and sum(r["reminders_opt_out"] for r in rows) == 2
    assert 1 <= sum(1 for r in rows if r["timezone"]) <= 6


def test_demo_orders_use_real_rxnorm_drugs_and_the_clinic_time_table(clinic):
    table = clinic.settings.clinic.administration_times
    for r in clinic.rows("SELECT * FROM medication_requests WHERE schedule_status = 'scheduled'"):
        assert r["timing_code"] in ("QD", "BID", "TID", "QID")
        assert r["times_of_day"] == str(table[r["timing_code"]]).replace("'", '"')
    assert clinic.scalar("SELECT rxnorm FROM medication_requests WHERE medication_text LIKE 'lisinopril%' LIMIT 1") \
        in (None, "314076")
    assert clinic.scalar("SELECT count(*) FROM medication_requests WHERE schedule_status = 'prn'") > 0
    assert clinic.scalar("SELECT count(*) FROM medication_requests WHERE schedule_status = 'no_schedule'") == 1


def test_dose_log_covers_three_weeks_at_about_85_percent_taken(clinic):
    taken, total = clinic.db.execute(
        "SELECT sum(status = 'taken'), count(*) FROM dose_log").fetchone()
    assert total == clinic.report.dose_log > 1000
    assert 0.80 <= taken / total <= 0.90
    first = clinic.scalar("SELECT min(dose_instant) FROM dose_log")
    assert first >= "2026-11-08" and clinic.scalar("SELECT max(dose_instant) FROM dose_log") < "2026-11-29T12:55"


def test_too_few_patients_is_refused(tmp_path, clinic):
    db = connect(tmp_path / "small.db", STORE_KEY)
    try:
        with pytest.raises(DemoError, match="at least"):
            generate_demo(db, clinic.settings, NOW, patients=3)
        assert not has_patients(db)
    finally:
        db.close()
