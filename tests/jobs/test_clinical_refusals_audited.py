"""Every refusal of an action that would write a patient record is audited, as the README says of every action,
allowed or refused: ``dose.record``, ``supply.record``, ``patient.prefs``, ``order.critical``, ``interactions.ack``,
outcome ``denied``, the target ``order:N`` (or the action's own), and the reason's category only (``too early``,
``unit not known``), never patient data, the text typed or the unit as typed. A supply count is refused for a
deceased patient's order by the rule doses follow (``clinical.confirmation.deceased_refused``). Supply count
messages speak the nurse's words and times; an as-needed order's dose says the order is as needed.

Found by a nurse new to MedJobs: content refusals of dose and supply entries wrote nothing to the audit trail; a
count was accepted for a deceased patient's order; ``30 each``, ``-1`` read as an option, an unknown unit's refusal
suggesting mg for a tablet order, and "its doses that day: none" for an as-needed order."""

from __future__ import annotations

import json
import re

import pytest

from medjobs_tui.clock import parse_iso
from medjobs_tui.console import ConsoleError
from medjobs_tui.store import clinical as store
from tests.jobs.test_confirmation_in_force import _import
from tests.jobs.test_confirmation_in_force import store as store_db  # noqa: F401  (fixture)
from tests.jobs.test_dose_confirmation import NURSE, console_at, run_job, utc
from tests.jobs.test_supply_count import _order
from tests.jobs.test_supply_count import clinic as supply_clinic  # noqa: F401  (fixture)

TYPED = "Mrs Smith's box"
"""Free text typed where a unit goes: it must never reach the audit trail or the message."""


def _denied(db, action: str | None = None) -> list[tuple[str, str, str, dict | None]]:
    """The denied audit entries (of ``action``): (actor, action, target, detail)."""
    rows = db.execute("SELECT actor, action, target, detail FROM audit_log WHERE outcome = 'denied' ORDER BY id"
                      ).fetchall()
    return [(a, b, c, json.loads(d) if d else None) for a, b, c, d in rows if action in (None, b)]


def _refused(console, db, call, *, reason: str, target: str, action: str) -> str:
    """Run ``call``; it must raise a ConsoleError and add exactly one denied entry (``action``, ``target``,
    ``{"reason": reason}``) whose every field holds no patient data. Returns the message."""
    before = len(_denied(db))
    with pytest.raises(ConsoleError) as refused:
        call()
    after = _denied(db)
    assert after[before:] == [("nurse", action, target, {"reason": reason})], str(refused.value)
    return str(refused.value)


# ---- 1. dose confirmations ----------------------------------------------------------------------------------------

def test_a_refused_dose_confirmation_is_audited_with_its_reasons_category(settings, store_db):
    oid = _import(settings, store_db, utc(2026, 11, 20, 12))
    console = console_at(settings, utc(2026, 11, 29, 10, 0))      # 05:00 EST: the 08:00 dose is 3 h ahead
    target = f"order:{oid}"

    def refuse(reason, *args, **kw):
        return _refused(console, store_db, lambda: console.record_dose(NURSE, oid, *args, **kw), reason=reason,
                        target=target, action="dose.record")

    refuse("too early", "2026-11-29 08:00", "taken")
    console.record_dose(NURSE, oid, "2026-11-28 08:00", "taken")
    refuse("already recorded", "2026-11-28 08:00", "taken")
    refuse("no dose due then", "2026-11-28 09:00", "taken")
    refuse("time not readable", "tomorrow-ish", "taken")
    details = " ".join(str(d) for *_, d in _denied(store_db))
    assert "P-0" not in details and "isinopril" not in details and "ish" not in details
    console.close()


@pytest.mark.parametrize("patient, order, reason", [
    ({"deceasedDateTime": "2026-11-27T14:30:00-05:00"}, {}, "patient deceased"),
    ({}, {"status": "stopped"}, "order not active"),
    ({}, {"doNotPerform": True}, "order not to give"),
])
def test_a_dose_refused_by_the_orders_or_patients_state_is_audited(settings, store_db, patient, order, reason):
    oid = _import(settings, store_db, utc(2026, 11, 20, 12), patient=patient, **order)
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    _refused(console, store_db, lambda: console.record_dose(NURSE, oid, "2026-11-29 08:00", "skipped"),
             reason=reason, target=f"order:{oid}", action="dose.record")
    console.close()


def test_an_as_needed_orders_dose_is_refused_saying_the_order_is_as_needed(settings, store_db):
    oid = _import(settings, store_db, utc(2026, 11, 20, 12),
                  dosageInstruction=[{"asNeededBoolean": True, "doseAndRate": [{"doseQuantity": {"value": 1,
                                                                                                   "unit": "tablet"}}]}])
    assert store_db.execute("SELECT schedule_status FROM medication_requests WHERE id = ?", [oid]).fetchone()[0] == "prn"
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    said = _refused(console, store_db, lambda: console.record_dose(NURSE, oid, "2026-11-29 08:00", "taken"),
                    reason="order as needed", target=f"order:{oid}", action="dose.record")
    assert said == f"order {oid} is as needed (PRN): it has no scheduled doses to confirm; nothing recorded"
    console.close()


# ---- 1. supply counts -----------------------------------------------------------------------------------------------

def test_every_refused_supply_count_is_audited_with_its_reasons_category_only(supply_clinic):
    console, db, tablets, mg = supply_clinic
    target = f"order:{tablets}"

    def refuse(reason, quantity, unit, order=tablets, **kw):
        return _refused(console, db, lambda: console.record_supply_count(NURSE, order, quantity, unit, **kw),
                        reason=reason, target=f"order:{order}", action="supply.record")

    refuse("unit not known", 30, TYPED)
    refuse("unit not countable", 30, "mg")
    refuse("count above limit", 5000, "tablets")
    refuse("count not in quarters", 2.1, "tablets")
    refuse("not a count", "-1", "tablets")
    refuse("not a count", "1e3", "tablets")
    refuse("in the future", 30, "tablets", at="2026-11-29 10:00")
    refuse("time not readable", 30, "tablets", at="soon")
    refuse("no such order", 30, "tablets", order=999)
    console.record_supply_count(NURSE, tablets, 30, "tablets")
    # raised inside the store transaction that is rolled back: the denied entry is written after it, and stays
    refuse("older than latest count", 20, "tablets", at="2026-11-29 07:00")
    stopped = _order(db, "Metformin 500 MG Oral Tablet", dose_unit="tablet", status="stopped")
    refuse("order not active", 10, "tablets", order=stopped)
    never = _order(db, "Warfarin 5 MG Oral Tablet", dose_unit="tablet", not_to_give=1)
    refuse("order not to give", 10, "tablets", order=never)
    trail = json.dumps(db.execute("SELECT actor, role, action, target, outcome, detail FROM audit_log").fetchall())
    assert "Smith" not in trail and "1e3" not in trail and "P-0" not in trail and "isinopril" not in trail
    assert target in trail


def test_a_refusal_audited_for_a_reason_names_no_typed_text_in_the_message_either(supply_clinic):
    console, db, tablets, _ = supply_clinic
    with pytest.raises(ConsoleError) as refused:
        console.record_supply_count(NURSE, tablets, 30, TYPED)
    assert "Smith" not in str(refused.value)


# ---- 1. the other actions writing a patient's records -------------------------------------------------------------

def test_refusals_of_reminder_preferences_time_critical_and_interaction_acks_are_audited(supply_clinic):
    console, db, tablets, _ = supply_clinic
    _refused(console, db, lambda: console.set_patient_prefs(NURSE, "P-00001", lead_minutes=999),
             reason="value not allowed", target="patient:P-00001", action="patient.prefs")
    _refused(console, db, lambda: console.set_patient_prefs(NURSE, "P-00001", channel="nowhere"),
             reason="channel not for patients", target="patient:P-00001", action="patient.prefs")
    _refused(console, db, lambda: console.set_patient_prefs(NURSE, "P-09999", lead_minutes=10),
             reason="no such patient", target="patient:P-09999", action="patient.prefs")
    _refused(console, db, lambda: console.set_order_critical(NURSE, 999), reason="no such order",
             target="order:999", action="order.critical")
    _refused(console, db, lambda: console.acknowledge_interaction(NURSE, 999), reason="no such alert",
             target="interaction_alert:999", action="interactions.ack")
    console.set_patient_prefs(NURSE, "P-00001", lead_minutes=10)      # allowed: one ok entry, no denied one
    assert len(_denied(db)) == 5


# ---- 2. a deceased patient's supply ----------------------------------------------------------------------------------

@pytest.mark.parametrize("patient", [{"deceasedDateTime": "2026-11-27T14:30:00-05:00"}, {"deceasedBoolean": True}])
def test_no_supply_count_for_a_deceased_patients_order(settings, store_db, patient):
    oid = _import(settings, store_db, utc(2026, 11, 20, 12), patient=patient)
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    said = _refused(console, store_db, lambda: console.record_supply_count(NURSE, oid, 10, "tablets"),
                    reason="patient deceased", target=f"order:{oid}", action="supply.record")
    assert said.startswith(f"order {oid}: the patient is recorded deceased") and said.endswith("nothing recorded")
    assert "2026" not in said                                     # a date of death is an identifier
    assert store_db.execute("SELECT count(*) FROM supply_counts").fetchone()[0] == 0
    console.close()


def test_a_count_made_before_the_death_may_still_be_recorded(settings, store_db):
    oid = _import(settings, store_db, utc(2026, 11, 20, 12), patient={"deceasedDateTime": "2026-11-27T14:30:00-05:00"})
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    assert console.record_supply_count(NURSE, oid, 10, "tablets", at="2026-11-26 09:00")["quantity"] == 10.0
    console.close()


def test_doses_and_counts_share_one_deceased_rule():
    from medjobs_tui.clinical.confirmation import deceased_refused

    died = utc(2026, 11, 27, 19, 30)
    assert deceased_refused(3, utc(2026, 11, 27, 19, 29), deceased=True, deceased_at=died) is None
    assert deceased_refused(3, died, deceased=True, deceased_at=died).reason == "patient deceased"
    assert deceased_refused(3, utc(2000, 1, 1), deceased=True, deceased_at=None, entry="count") \
        == "order 3: the patient is recorded deceased: no supply count of it is kept (the instant of death is not known)"
    assert deceased_refused(3, died, deceased=False, deceased_at=None) is None


# ---- 3. supply count messages ------------------------------------------------------------------------------------------

@pytest.fixture
def cli(settings, clinic_config):
    """``cli(*args)``: ``medjobs supply count *args`` as user nurse (an operator, made at the first call)."""
    from click.testing import CliRunner

    from medjobs_tui.cli import main
    from tests.conftest import make_user, password_file

    made = []

    def invoke(*args):
        if not made:
            made.append(make_user(settings, "nurse", "operator"))
        runner = CliRunner(env={"MEDJOBS_PASSWORD_FILE": str(password_file(clinic_config.parent))})
        return runner.invoke(main, ["--config", str(clinic_config), "--user", "nurse", "supply", "count", *args])
    return invoke


def test_cli_deceased_patients_count_is_refused(settings, store_db, cli):
    oid = _import(settings, store_db, utc(2026, 11, 20, 12), patient={"deceasedBoolean": True})
    done = cli(str(oid), "10", "tablets")
    assert done.exit_code == 1 and f"order {oid}: the patient is recorded deceased" in done.output, done.output


@pytest.mark.parametrize("quantity", ["-1", "1e3", "-0.5", "inf", "1,000"])
def test_cli_a_count_not_plain_gets_the_commands_own_error_without_usage_text(supply_clinic, cli, quantity):
    _, db, tablets, _ = supply_clinic
    done = cli(str(tablets), quantity, "tablets")
    assert done.exit_code == 1, done.output
    assert f"order {tablets}: a count is a plain number of units, 0 or more: digits with an optional decimal point" \
        in done.output
    assert "Usage:" not in done.output and "No such option" not in done.output
    assert db.execute("SELECT count(*) FROM supply_counts").fetchone()[0] == 0


def test_cli_an_unknown_unit_for_a_tablet_order_lists_only_tablet_units(supply_clinic, cli):
    _, _, tablets, mg = supply_clinic
    done = cli(str(tablets), "30", "handfuls")
    assert done.exit_code == 1 and "Usage:" not in done.output, done.output
    assert "count it in tablets, capsules, each and the like" in done.output
    assert "mg" not in done.output and "mL" not in done.output and "handfuls" not in done.output
    mg_order = cli(str(mg), "30", "scoops")
    assert "count it in mg" in mg_order.output and "tablets" not in mg_order.output, mg_order.output


def test_cli_echoes_ml_as_ml(supply_clinic, cli):
    _, db, _, _ = supply_clinic
    syrup = _order(db, "Amoxicillin 250 MG/5ML Oral Suspension", dose_unit="mL", dose=5.0)
    done = cli(str(syrup), "480", "ml")
    assert done.exit_code == 0 and f"order {syrup}: 480 mL on hand, counted " in done.output, done.output


def test_cli_a_scheduled_order_counted_0_is_out_of_supply_and_the_monitor_makes_it_critical(supply_clinic, settings, cli):
    _, db, tablets, _ = supply_clinic
    done = cli(str(tablets), "0", "tablets")
    assert done.exit_code == 0, done.output
    assert f"order {tablets}: 0 tablets on hand" in done.output
    assert f"order {tablets} is now out of supply" in done.output
    counted = store.latest_supply_count(db, tablets)["counted_at"]
    run_job(settings, db, "supply_monitor", parse_iso(counted))
    status = db.execute("SELECT status, days_remaining FROM supply_status WHERE medication_request_id = ?",
                        [tablets]).fetchone()
    assert status == ("critical", 0)


def test_cli_an_as_needed_order_counted_0_says_it_is_out_of_supply(supply_clinic, cli):
    _, db, _, _ = supply_clinic
    prn = _order(db, "Ibuprofen 400 MG Oral Tablet", dose_unit="tablet", schedule_status="prn", times=())
    done = cli(str(prn), "0", "tablets")
    assert done.exit_code == 0, done.output
    assert re.search(rf"^order {prn} is now out of supply", done.output, re.M), done.output
    assert "no planned daily use" not in done.output


def test_console_says_the_count_in_words_and_local_time(supply_clinic):
    console, _, tablets, _ = supply_clinic
    done = console.record_supply_count(NURSE, tablets, "1", "tab", at="2026-11-29 07:30")
    assert (done["said"], done["counted_local"], done["out_of_supply"]) == ("1 tablet", "2026-11-29 07:30 EST", False)
