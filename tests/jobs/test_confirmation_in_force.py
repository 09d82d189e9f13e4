"""Which confirmations (taken, skipped, refused) of a dose may be recorded, by the order's state and the patient's:
one rule (``clinical.confirmation.order_confirmation_refused``) for ``medjobs dose`` and the Doses tab's ``d``.

Found by reviewers: a dose could be recorded taken for a deceased patient (only the order's schedule status said
'deceased'); late documentation of a dose given before an order was stopped was refused while 'skipped' and
'refused' were accepted for stopped, held and not-to-give orders alike. The import now keeps the instant of death
(``patients.deceased_at``) and the instant an order left 'active' (``medication_requests.inactive_since``)."""

from __future__ import annotations

import json

import pytest

from medjobs_tui.clinical.confirmation import order_confirmation_refused
from medjobs_tui.fhir import import_paths
from medjobs_tui.store import connect
from tests.conftest import STORE_KEY
from medjobs_tui.console import ConsoleError
from tests.jobs.test_dose_confirmation import NURSE, console_at, utc

ORDER = {"resourceType": "MedicationRequest", "id": "o", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p"}, "authoredOn": "2026-11-01",
         "medicationCodeableConcept": {"text": "Lisinopril 10 MG Oral Tablet"},
         "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                                      "timeOfDay": ["08:00:00"]}},
                                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]}


def _import(settings, db, at, patient=None, **order):
    """Import Patient 'p' (with ``patient`` fields) and order 'o' (ORDER with ``order`` fields) at instant ``at``."""
    f = settings.database_path.parent / "in.ndjson"
    f.write_text("".join(json.dumps(r) + "\n" for r in (
        {"resourceType": "Patient", "id": "p", **(patient or {})}, {**ORDER, **order})))
    import_paths(db, settings, [f], at)
    return db.execute("SELECT id FROM medication_requests WHERE fhir_id = 'o'").fetchone()[0]


@pytest.fixture
def store(settings):
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path, STORE_KEY)
    yield db
    db.close()


# ---- the patient's death ----------------------------------------------------------------------------------------

def test_the_import_keeps_the_instant_of_death_and_deceased_boolean_has_none(settings, store):
    _import(settings, store, utc(2026, 11, 20, 12), patient={"deceasedDateTime": "2026-11-27T14:30:00-05:00"})
    assert store.execute("SELECT deceased, deceased_at FROM patients").fetchone() == (1, "2026-11-27T19:30:00+00:00")
    _import(settings, store, utc(2026, 11, 21, 12), patient={"deceasedBoolean": True})
    assert store.execute("SELECT deceased, deceased_at FROM patients").fetchone() == (1, None)


@pytest.mark.parametrize("status", ["taken", "skipped", "refused"])
def test_no_confirmation_of_a_dose_due_after_the_patients_death(settings, store, status):
    oid = _import(settings, store, utc(2026, 11, 20, 12), patient={"deceasedDateTime": "2026-11-27T14:30:00-05:00"})
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    with pytest.raises(ConsoleError, match=rf"^order {oid}: the patient is recorded deceased before this dose was "
                                           "due: a dose of it cannot be recorded; nothing recorded$") as refused:
        console.record_dose(NURSE, oid, "2026-11-28 08:00", status)
    assert "P-0" not in str(refused.value) and "2026-11-27" not in str(refused.value)
    # a dose due before the death (the morning of that day) is documented as ever
    assert console.record_dose(NURSE, oid, "2026-11-27 08:00", status).status == status
    console.close()


@pytest.mark.parametrize("status", ["taken", "skipped", "refused"])
def test_no_confirmation_at_all_when_the_instant_of_death_is_unknown(settings, store, status):
    oid = _import(settings, store, utc(2026, 11, 20, 12), patient={"deceasedBoolean": True})
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    with pytest.raises(ConsoleError, match=rf"^order {oid}: the patient is recorded deceased: .*instant of death is "
                                           "not known"):
        console.record_dose(NURSE, oid, "2026-11-21 08:00", status)
    assert store.execute("SELECT count(*) FROM dose_log").fetchone()[0] == 0
    console.close()


def test_the_synthea_patients_deceased_instants_are_imported(settings, store):
    from tests.conftest import SHARED_DATA

    data = SHARED_DATA / "synthea-10" / "Patient.000.ndjson"
    if not data.exists():
        pytest.skip("../shared/data/synthea-10 is not present (MEDJOBS_SHARED_DATA points elsewhere)")
    import_paths(store, settings, [data], utc(2026, 11, 20, 12))
    deceased = store.execute("SELECT count(*), count(deceased_at) FROM patients WHERE deceased = 1").fetchone()
    expected = sum(1 for line in data.read_text().splitlines() if "deceasedDateTime" in line)
    assert deceased == (expected, expected) and expected > 0


# ---- an order no longer active --------------------------------------------------------------------------------

def test_the_import_records_when_an_order_left_active(settings, store):
    oid = _import(settings, store, utc(2026, 11, 20, 12))
    assert store.execute("SELECT inactive_since FROM medication_requests").fetchone() == (None,)
    _import(settings, store, utc(2026, 11, 28, 15), status="stopped")
    assert store.execute("SELECT inactive_since FROM medication_requests").fetchone() == ("2026-11-28T15:00:00+00:00",)
    _import(settings, store, utc(2026, 11, 29, 15), status="completed")         # still not active: kept
    assert store.execute("SELECT inactive_since FROM medication_requests").fetchone() == ("2026-11-28T15:00:00+00:00",)
    _import(settings, store, utc(2026, 11, 29, 16))                              # active again: none
    assert store.execute("SELECT inactive_since FROM medication_requests WHERE id = ?", [oid]).fetchone() == (None,)


def test_an_earlier_bounds_end_is_when_the_order_stopped(settings, store):
    _import(settings, store, utc(2026, 11, 20, 12))
    bounded = json.loads(json.dumps(ORDER["dosageInstruction"]))
    bounded[0]["timing"]["repeat"]["boundsPeriod"] = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-25T00:00:00Z"}
    _import(settings, store, utc(2026, 11, 28, 15), status="stopped", dosageInstruction=bounded)
    assert store.execute("SELECT inactive_since FROM medication_requests").fetchone() == ("2026-11-25T00:00:00+00:00",)


@pytest.mark.parametrize("status", ["taken", "skipped", "refused"])
@pytest.mark.parametrize("order_status", ["stopped", "on-hold"])
def test_a_dose_due_before_the_order_stopped_may_be_documented_late_and_says_so(settings, store, status, order_status):
    oid = _import(settings, store, utc(2026, 11, 20, 12))
    _import(settings, store, utc(2026, 11, 28, 15), status=order_status)        # 10:00 EST on the 28th
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    done = console.record_dose(NURSE, oid, "2026-11-28 08:00", status)          # due before it stopped
    assert done.status == status
    detail = json.loads(store.execute("SELECT detail FROM audit_log WHERE action = 'dose.record' AND outcome = 'ok'")
                        .fetchone()[0])
    assert detail["after_stop"] == "documented after the order stopped"
    with pytest.raises(ConsoleError, match=rf"^order {oid} is {order_status}, not active, since before this dose was "
                                           "due: it cannot be recorded; nothing recorded$"):
        console.record_dose(NURSE, oid, "2026-11-29 08:00", status)             # due after it stopped
    console.close()


@pytest.mark.parametrize("status", ["taken", "skipped", "refused"])
def test_an_order_imported_already_stopped_takes_no_confirmation(settings, store, status):
    oid = _import(settings, store, utc(2026, 11, 28, 15), status="stopped")
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    with pytest.raises(ConsoleError, match=rf"^order {oid} is stopped, not active, since an instant not known"):
        console.record_dose(NURSE, oid, "2026-11-27 08:00", status)
    console.close()


@pytest.mark.parametrize("status", ["taken", "skipped", "refused"])
def test_an_order_not_to_give_takes_no_confirmation(settings, store, status):
    oid = _import(settings, store, utc(2026, 11, 20, 12), doNotPerform=True)
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    with pytest.raises(ConsoleError, match=rf"^order {oid} is an order not to give it"):
        console.record_dose(NURSE, oid, "2026-11-29 08:00", status)
    assert store.execute("SELECT count(*) FROM dose_log").fetchone()[0] == 0
    console.close()


def test_the_rule_orders_its_reasons_and_wants_aware_instants():
    at, stop = utc(2026, 11, 28, 13), utc(2026, 11, 28, 15)
    assert order_confirmation_refused(7, at, status="stopped", not_to_give=False, inactive_since=stop) is None
    assert order_confirmation_refused(7, at, status="active", not_to_give=False) is None
    assert "not to give" in order_confirmation_refused(7, at, status="active", not_to_give=True, deceased=True)
    assert "deceased" in order_confirmation_refused(7, at, status="stopped", not_to_give=False, inactive_since=stop,
                                                    deceased=True, deceased_at=utc(2026, 11, 28, 12))
    with pytest.raises(ValueError):
        order_confirmation_refused(7, at.replace(tzinfo=None), status="active", not_to_give=False)


def test_the_dashboards_d_key_applies_the_same_rule(settings, store):
    from medjobs_tui.tui.commands import dose_taken

    oid = _import(settings, store, utc(2026, 11, 20, 12), patient={"deceasedDateTime": "2026-11-27T14:30:00-05:00"})
    console = console_at(settings, utc(2026, 11, 29, 13, 5))
    with pytest.raises(ConsoleError, match=rf"^order {oid}: the patient is recorded deceased"):
        dose_taken(console, NURSE, f"{oid}@2026-11-29T13:00:00+00:00")
    console.close()
