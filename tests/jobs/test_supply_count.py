"""A staff supply count (units a patient has on hand) is kept only when its unit can be counted in the order's
dose unit, the rule the import applies to a dispensed quantity (``clinical.supply.countable_in``): 60 counted in
mg against a dose in tablets, 2 g against a dose in mg, a bottle, are refused with the unit and the order
number named, nothing written. Found by a reviewer (the store took any count, with no unit at all)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from medjobs_tui.clinical.supply import supply_count_refused
from medjobs_tui.clock import FixedClock
from medjobs_tui.console import Actor, Console, ConsoleError
from medjobs_tui.console.operations import PermissionDenied
from medjobs_tui.store import clinical as store
from medjobs_tui.store import transaction
from tests.jobs.conftest import one_order_clinic

NURSE = Actor("nurse", "operator")
NOW = datetime(2026, 11, 29, 13, 0, tzinfo=timezone.utc)


@pytest.fixture
def clinic(settings):
    """An order dosed in tablets (``one_order_clinic``) and one of the same patient dosed in mg."""
    db, tablets = one_order_clinic(settings, "lisinopril 10 MG Oral Tablet", "lisinopril", ["08:00"])
    with transaction(db):
        mg = store.insert_medication_request(
            db, patient_id=1, status="active", medication_text="Amoxicillin 250 MG/5ML Oral Suspension",
            ingredients=["amoxicillin"], schedule_status="scheduled", times_of_day=["08:00"], doses_per_day=1.0,
            dose_quantity=250.0, dose_unit="mg", created_at="2026-01-01T00:00:00+00:00",
            updated_at="2026-01-01T00:00:00+00:00")
    console = Console(settings, clock=FixedClock(NOW))
    yield console, db, tablets, mg
    console.close()


@pytest.mark.parametrize("dose_unit, count_unit, named", [
    ("tablet", "mg", "mg"), ("tablet", "mL", "ml"), ("mg", "g", "g"), ("mg", "tablets", "each"),
    ("tablet", "bottle", "package"), ("{tbl}", "mcg", "mcg")])
def test_the_rule_refuses_a_unit_not_counted_in_the_dose_unit(dose_unit, count_unit, named):
    why = supply_count_refused(17, dose_unit, count_unit)
    assert why is not None and why.startswith("order 17: ") and f"in {named}" in why


@pytest.mark.parametrize("dose_unit, count_unit", [("tablet", "tablets"), ("tablet", "tab"), ("{tbl}", "each"),
                                                   ("mg", "mg"), ("mL", "ml")])
def test_the_rule_keeps_a_unit_counted_in_the_dose_unit(dose_unit, count_unit):
    assert supply_count_refused(17, dose_unit, count_unit) is None


def test_a_unit_medjobs_does_not_know_is_refused_without_repeating_it():
    why = supply_count_refused(17, "tablet", "Mrs Smith's box")
    assert why is not None and why.startswith("order 17: ") and "Smith" not in why


@pytest.mark.parametrize("unit", ["mg", "g", "bottles", "handfuls"])
def test_a_count_in_a_unit_not_counted_in_doses_is_refused_and_nothing_written(clinic, unit):
    console, db, tablets, mg = clinic
    order = tablets if unit in ("mg", "bottles", "handfuls") else mg
    with pytest.raises(ConsoleError, match=rf"^order {order}: a count in .*; nothing recorded$") as refused:
        console.record_supply_count(NURSE, order, 60, unit)
    assert "P-0" not in str(refused.value) and "isinopril" not in str(refused.value)
    assert db.execute("SELECT count(*) FROM supply_counts").fetchone()[0] == 0


def test_a_count_in_the_dose_unit_is_recorded_and_audited(clinic):
    console, db, tablets, mg = clinic
    done = console.record_supply_count(NURSE, tablets, 28, "tablets", at="2026-11-29 07:30")
    assert done == {"order_id": tablets, "quantity": 28.0, "unit": "each", "counted_at": "2026-11-29T12:30:00+00:00",
                    "per_day": 1.0, "said": "28 tablets", "counted_local": "2026-11-29 07:30 EST",
                    "out_of_supply": False}
    assert db.execute("SELECT medication_request_id, quantity, counted_at, source, unit FROM supply_counts").fetchall() \
        == [(tablets, 28.0, "2026-11-29T12:30:00+00:00", "staff", "each")]
    console.record_supply_count(NURSE, mg, 5000, "mg")
    actions = db.execute("SELECT actor, action, target, outcome, detail FROM audit_log").fetchall()
    assert [(a, b, c, d) for a, b, c, d, _ in actions] == [("nurse", "supply.record", f"order:{tablets}", "ok"),
                                                           ("nurse", "supply.record", f"order:{mg}", "ok")]
    assert json.loads(actions[0][4]) == {"quantity": 28.0, "unit": "each"}


def test_other_refusals_name_the_order_and_write_nothing(clinic):
    console, db, tablets, _ = clinic
    with pytest.raises(ConsoleError, match="no medication order 999"):
        console.record_supply_count(NURSE, 999, 10, "tablets")
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ConsoleError, match=rf"^order {tablets}: a count is a plain number of units, 0 or more"):
            console.record_supply_count(NURSE, tablets, bad, "tablets")
    with pytest.raises(ConsoleError, match="in the future"):
        console.record_supply_count(NURSE, tablets, 10, "tablets", at="2026-11-29 10:00")
    with pytest.raises(PermissionDenied, match="may not record a supply count"):
        console.record_supply_count(Actor("rita", "reviewer"), tablets, 10, "tablets")
    assert db.execute("SELECT count(*) FROM supply_counts").fetchone()[0] == 0


def test_cli_supply_count(clinic, clinic_config, settings):
    from click.testing import CliRunner

    from medjobs_tui.cli import main
    from tests.conftest import make_user, password_file

    _, db, tablets, _ = clinic
    make_user(settings, "nurse", "operator")
    runner = CliRunner(env={"MEDJOBS_PASSWORD_FILE": str(password_file(clinic_config.parent))})
    base = ["--config", str(clinic_config), "--user", "nurse", "supply", "count", str(tablets)]
    refused = runner.invoke(main, base + ["60", "mg"])
    assert refused.exit_code == 1 and f"order {tablets}: a count in mg" in refused.output, refused.output
    assert db.execute("SELECT count(*) FROM supply_counts").fetchone()[0] == 0
    done = runner.invoke(main, base + ["30", "tablets"])
    assert done.exit_code == 0, done.output     # the CLI's clock is the real one: the time in the clinic's zone
    assert re.search(rf"order {tablets}: 30 tablets on hand, counted \d{{4}}-\d\d-\d\d \d\d:\d\d E[SD]T$", done.output,
                     re.M), done.output


# ---- review 2: a unitless dose, bounds on the quantity, the order's state, the count's time

def _order(db, text, *, dose_unit=None, status="active", not_to_give=0, schedule_status="scheduled", times=("08:00",),
           dose=1.0, bounds_start=None):
    with transaction(db):
        return store.insert_medication_request(
            db, patient_id=1, status=status, medication_text=text, ingredients=["x"], schedule_status=schedule_status,
            times_of_day=list(times), doses_per_day=float(len(times)) if times else None, dose_quantity=dose,
            dose_unit=dose_unit, not_to_give=not_to_give, bounds_start=bounds_start,
            created_at="2026-01-01T00:00:00+00:00", updated_at="2026-01-01T00:00:00+00:00")


@pytest.mark.parametrize("text, countable", [
    ("lisinopril 10 MG Oral Tablet", True), ("NITROFURANTOIN, MACROCRYSTALS 50 MG Oral Capsule", True),
    ("24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", True),
    ("Nicotine 21 MG/24HR Transdermal System", True), ("Amoxicillin 250 MG/5ML Oral Suspension", False),
    ("Amoxicillin 400 MG Tablet for Oral Suspension", False), ("albuterol 0.21 MG/ML Inhalation Solution", False),
    ("1 ML Epoetin Alfa 4000 UNT/ML Injection [Epogen]", False), ("Camila 28 Day Pack", False), (None, False)])
def test_countable_dose_form_reads_the_rxnorm_dose_form(text, countable):
    from medjobs_tui.clinical.supply import countable_dose_form
    assert countable_dose_form(text) is countable


@pytest.mark.parametrize("quantity, unit, accepted", [(10, "mg", False), (2, "bottles", False), (30, "tablets", True),
                                                       (30, "capsules", True), (5, "mL", False)])
def test_a_unitless_dose_of_a_tablet_takes_only_tablets_and_the_like(clinic, quantity, unit, accepted):
    console, db, _, _ = clinic
    order = _order(db, "lisinopril 10 MG Oral Tablet")          # Synthea: doseQuantity {"value": 1.0}, no unit
    if accepted:
        assert console.record_supply_count(NURSE, order, quantity, unit)["unit"] == "each"
        return
    with pytest.raises(ConsoleError, match=rf"^order {order} has no dose unit MedJobs knows: a count is accepted only "
                                           r"in units counted one each \(tablets, capsules, each...\), not in ") as no:
        console.record_supply_count(NURSE, order, quantity, unit)
    assert "isinopril" not in str(no.value)
    assert db.execute("SELECT count(*) FROM supply_counts").fetchone()[0] == 0


def test_a_unitless_dose_of_a_liquid_takes_no_tablets(clinic):
    console, db, _, _ = clinic
    order = _order(db, "Amoxicillin 250 MG/5ML Oral Suspension")
    for unit in ("tablets", "mL", "bottle"):
        with pytest.raises(ConsoleError, match=rf"^order {order} has no dose unit MedJobs knows and its product is "
                                               "not one counted one each"):
            console.record_supply_count(NURSE, order, 30, unit)
    assert db.execute("SELECT count(*) FROM supply_counts").fetchone()[0] == 0


def test_a_count_above_five_years_of_use_is_refused_naming_the_limit(clinic):
    console, db, tablets, _ = clinic                               # 1 tablet a day: 5 x 365 = 1,825 tablets
    for slip in (6e6, 1e12, 1e300, 1826):
        with pytest.raises(ConsoleError, match=rf"^order {tablets}: a count above 1,825 units \(5 years of its "
                                               r"planned use\) is refused as a slip; nothing recorded$"):
            console.record_supply_count(NURSE, tablets, slip, "tablets")
    assert console.record_supply_count(NURSE, tablets, 1825, "tablets")["quantity"] == 1825


def test_a_count_for_an_order_of_unknown_use_is_bounded_at_10000_units(clinic):
    console, db, _, _ = clinic
    prn = _order(db, "Ibuprofen 400 MG Oral Tablet", dose_unit="tablet", schedule_status="prn", times=())
    with pytest.raises(ConsoleError, match=rf"^order {prn}: a count above 10,000 units \(the limit for an order with "
                                           "no planned daily use\\)"):
        console.record_supply_count(NURSE, prn, 10_001, "tablets")
    assert console.record_supply_count(NURSE, prn, 10_000, "tablets")["per_day"] is None


def test_tablets_are_counted_in_quarters_at_the_finest(clinic):
    console, db, tablets, mg = clinic
    with pytest.raises(ConsoleError, match=rf"^order {tablets}: tablets, capsules and the like are counted in "
                                           r"quarters at the finest \(multiples of 0.25\)"):
        console.record_supply_count(NURSE, tablets, 0.01, "tablets")
    assert console.record_supply_count(NURSE, tablets, 12.75, "tablets")["quantity"] == 12.75
    assert console.record_supply_count(NURSE, mg, 0.01, "mg")["quantity"] == 0.01   # a mass is not counted in quarters


@pytest.mark.parametrize("status, not_to_give, why", [
    ("active", 1, "is an order not to give it"), ("stopped", 0, "is stopped, not active: its supply is not monitored"),
    ("on-hold", 0, "is on-hold, not active")])
def test_no_count_for_an_order_not_to_give_or_not_active(clinic, status, not_to_give, why):
    console, db, _, _ = clinic
    order = _order(db, "lisinopril 10 MG Oral Tablet", dose_unit="tablet", status=status, not_to_give=not_to_give)
    with pytest.raises(ConsoleError, match=rf"^order {order} {why}.*; nothing recorded$"):
        console.record_supply_count(NURSE, order, 30, "tablets")
    assert db.execute("SELECT count(*) FROM supply_counts").fetchone()[0] == 0


def test_a_count_before_the_order_started_is_refused(clinic):
    console, db, _, _ = clinic
    order = _order(db, "lisinopril 10 MG Oral Tablet", dose_unit="tablet", bounds_start="2026-11-20T13:00:00+00:00")
    with pytest.raises(ConsoleError, match=rf"^order {order}: --at lies before the order's start \(2026-11-20 08:00 "
                                           r"EST\); nothing recorded$"):
        console.record_supply_count(NURSE, order, 30, "tablets", at="2026-11-19 09:00")
    assert console.record_supply_count(NURSE, order, 30, "tablets", at="2026-11-21 09:00")["quantity"] == 30


def test_a_count_older_than_the_latest_is_refused_saying_when_the_latest_was(clinic):
    console, db, tablets, _ = clinic
    console.record_supply_count(NURSE, tablets, 28, "tablets", at="2026-11-29 07:30")
    for older in ("2026-11-28 09:00", "2026-11-29 07:30"):
        with pytest.raises(ConsoleError, match=rf"^order {tablets}: a later count stands \(counted 2026-11-29 07:30 "
                                               r"EST\).*; nothing recorded$"):
            console.record_supply_count(NURSE, tablets, 40, "tablets", at=older)
    assert db.execute("SELECT count(*) FROM supply_counts").fetchone()[0] == 1


def test_cli_says_a_count_of_an_order_with_no_planned_use_gives_no_days_of_supply(clinic, clinic_config, settings):
    from click.testing import CliRunner

    from medjobs_tui.cli import main
    from tests.conftest import make_user, password_file

    _, db, _, _ = clinic
    prn = _order(db, "Ibuprofen 400 MG Oral Tablet", dose_unit="tablet", schedule_status="prn", times=())
    make_user(settings, "nurse", "operator")
    runner = CliRunner(env={"MEDJOBS_PASSWORD_FILE": str(password_file(clinic_config.parent))})
    done = runner.invoke(main, ["--config", str(clinic_config), "--user", "nurse", "supply", "count", str(prn), "20",
                                "tablets"])
    assert done.exit_code == 0, done.output
    assert f"order {prn} has no planned daily use" in done.output and "cannot be worked out" in done.output
