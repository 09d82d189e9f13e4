"""A staff supply count (units a patient has on hand) is kept only when its unit can be counted in the order's
dose unit, the rule the import applies to a dispensed quantity (``clinical.supply.countable_in``): 60 counted in
mg against a dose in tablets, 2 g against a dose in mg, a bottle, are refused with the unit and the order
number named, nothing written. Found by a reviewer (the store took any count, with no unit at all)."""

from __future__ import annotations

import json
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
                                                   ("mg", "mg"), ("mL", "ml"), (None, "tablets")])
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
    assert done == {"order_id": tablets, "quantity": 28.0, "unit": "each", "counted_at": "2026-11-29T12:30:00+00:00"}
    assert db.execute("SELECT medication_request_id, quantity, counted_at, source FROM supply_counts").fetchall() == [
        (tablets, 28.0, "2026-11-29T12:30:00+00:00", "staff")]
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
        with pytest.raises(ConsoleError, match=rf"^order {tablets}: a count is a number of units, 0 or more"):
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
    assert done.exit_code == 0 and f"order {tablets}: 30 each on hand" in done.output, done.output
