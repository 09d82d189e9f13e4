"""A clinical pharmacist's review of the clinical fixes (not-to-give requests, salt words, controlled substances,
calendar days, units): each test states what is right and its source; every one but the re-import flip failed
before its fix. Controlled substances: 21 CFR 1306.12(a) (no C-II refills), 1308.12-15 (schedules); units:
DOMAIN.md "Supply and refills"."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from medjobs_tui.clinical.controlled import controlled_schedule
from medjobs_tui.clinical.ingredients import ingredients_from_rxnorm_text
from medjobs_tui.config import load_settings
from medjobs_tui.fhir import import_paths
from medjobs_tui.jobs import get_handler
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.store import connect
from tests.conftest import REPO, STORE_KEY, write_config

NOW = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)
UCUM = "http://unitsofmeasure.org"


def run_after_import(tmp_path, resources, jobs=("supply_monitor", "refill_check"), **clinic):
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    settings = load_settings(write_config(tmp_path, clinic={**data["clinic"], **clinic}))
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path, STORE_KEY)
    f = tmp_path / "in.ndjson"
    f.write_text("".join(json.dumps(r) + "\n" for r in ({"resourceType": "Patient", "id": "p"}, *resources)))
    report = import_paths(db, settings, [f], NOW)
    out = {"report": report}
    for name in jobs:
        job = settings.jobs[name]
        out[name] = get_handler(job.job_type)(JobContext(db=db, settings=settings, job_name=name, job=job, now=NOW))
    out["supply"] = [{"days_remaining": r[0], "status": r[1]} for r in db.execute("SELECT days_remaining, status FROM supply_status")]
    out["kinds"] = [r[0] for r in db.execute("SELECT kind FROM notifications ORDER BY id")]
    db.close()
    return out


def order(drug, qty, repeats, dose=None, per_day=1, **extra):
    return {"resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/p"}, "authoredOn": "2026-08-01",
            "medicationCodeableConcept": {"text": drug},
            "dispenseRequest": {"quantity": qty, "numberOfRepeatsAllowed": repeats},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": dose or {"value": 1}}]}], **extra}


def dispense(qty, days, ago):
    return {"resourceType": "MedicationDispense", "id": "d1", "status": "completed",
            "subject": {"reference": "Patient/p"}, "authorizingPrescription": [{"reference": "MedicationRequest/m"}],
            "quantity": qty, "daysSupply": {"value": days, "unit": "days", "code": "d"},
            "whenHandedOver": (NOW - timedelta(days=ago)).isoformat()}


# --- 3. controlled substances ---------------------------------------------------------------------------------

def test_controlled_share_holds_for_a_30_day_fill(tmp_path):
    """Alprazolam 30 tablets / 30 days, dispensed 23 days ago (76.7% elapsed): the commit says a controlled
    refill is due at 85%, but the 7-day lead-time rule fires first, so the 75.6% bug it fixed is back for the
    commonest fill length (C-II..V are usually 30-day fills)."""
    out = run_after_import(tmp_path, [order("ALPRAZolam 0.5 MG Oral Tablet", {"value": 30}, 2),
                                      dispense({"value": 30}, 30, 23)])
    assert out["refill_check"]["controlled"] == 1
    assert out["refill_check"]["refill_due"] == 0, out["refill_check"]


def test_a_schedule_ii_order_is_never_refill_due_to_the_patient(tmp_path):
    """21 CFR 1306.12(a): a C-II prescription cannot be refilled. controlled_substances.csv claims C-II orders
    'reach renewal needed', but an order carrying numberOfRepeatsAllowed gets a patient refill notice."""
    out = run_after_import(tmp_path, [order("Oxycodone Hydrochloride 5 MG Oral Tablet", {"value": 30}, 2),
                                      dispense({"value": 30}, 30, 27)])
    assert out["refill_check"]["refill_due"] + out["refill_check"]["renewal_needed"] == 1, out["refill_check"]
    assert "refill_due" not in out["kinds"] and "renewal_needed" in out["kinds"], out["kinds"]


@pytest.mark.parametrize("name, schedule", [
    ("Sodium Oxybate 500 MG/ML Oral Solution", "III"),                              # Xyrem, 1308.13
    ("esketamine 28 MG Nasal Spray", "III"),                                        # isomer of ketamine
    ("Esterified Estrogens 1.25 MG / Methyltestosterone 2.5 MG Oral Tablet", "III"),  # anabolic steroid
    ("Acetaminophen 325 MG / benzhydrocodone 6.12 MG Oral Tablet", "II"),          # 2018 rule
    ("Meprobamate 400 MG Oral Tablet", "IV"),
    ("Pentobarbital Sodium 50 MG/ML Injectable Solution", "II"),
    ("Secobarbital Sodium 100 MG Oral Capsule", "II"),
    ("zuranolone 30 MG Oral Capsule", "IV"),
    ("Quazepam 15 MG Oral Tablet", "IV"),
])
def test_missing_schedules(name, schedule):
    assert controlled_schedule(ingredients_from_rxnorm_text(name)) == schedule


def test_a_clinic_name_that_can_never_match_is_refused(tmp_path):
    """A brand name or a product string in clinic.controlled_substances is accepted and silently never matches
    (ingredients are RxNorm ingredient names)."""
    from medjobs_tui.config import ConfigError
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    with pytest.raises((ConfigError, ValueError)):
        load_settings(write_config(tmp_path, clinic={**data["clinic"],
                                                     "controlled_substances": {"Neurontin 300 mg": "V"}}))


# --- 5. unit check at import ----------------------------------------------------------------------------------

def test_a_tablet_supply_named_by_its_code_is_not_divided_by_mg(tmp_path):
    """Dispense {value 60, unit 'tablet(s)', code 'TAB'} against 10 mg twice a day: _unit_of takes the free-text
    unit, which is unknown, and never looks at the code, so 60 / 20 = 3 days, critical (the commit's own bug)."""
    mg = {"value": 10, "unit": "mg", "system": UCUM, "code": "mg"}
    tabs = {"value": 60, "unit": "tablet(s)", "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
            "code": "TAB"}
    out = run_after_import(tmp_path, [order("Enalapril Maleate 10 MG Oral Tablet", tabs, 2, mg, per_day=2),
                                      dispense(tabs, 30, 1)], jobs=("supply_monitor",))
    assert out["supply"] == [{"days_remaining": 29, "status": "ok"}], out["supply"]


def test_meq_dose_against_tablets_is_not_counted(tmp_path):
    """Potassium chloride ER 20 mEq once daily, 30 tablets for 30 days: 'mEq' is not a unit the check knows, so
    30 tablets / 20 mEq = 1.5 days, critical, on day 1 of a 30-day fill."""
    meq = {"value": 20, "unit": "mEq", "system": UCUM, "code": "meq"}
    tabs = {"value": 30, "unit": "TAB"}
    out = run_after_import(tmp_path, [order("24 HR Potassium Chloride 20 MEQ Extended Release Oral Tablet", tabs, 2,
                                            meq), dispense(tabs, 30, 1)], jobs=("supply_monitor",))
    assert out["supply"] == [{"days_remaining": 29, "status": "ok"}], out["supply"]


# --- 1. doNotPerform flips ------------------------------------------------------------------------------------

def test_flip_to_do_not_perform_and_back(tmp_path):
    """Order -> doNotPerform -> order on re-import: active_orders follows each import (holds up)."""
    from medjobs_tui.store import clinical as store_clinical
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    settings = load_settings(write_config(tmp_path, clinic=data["clinic"]))
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path, STORE_KEY)
    seen = []
    for extra in ({}, {"doNotPerform": True}, {"doNotPerform": False}, {"intent": "directive"},
                  {"intent": "original-order"}):
        f = tmp_path / "in.ndjson"
        f.write_text("".join(json.dumps(r) + "\n" for r in (
            {"resourceType": "Patient", "id": "p"}, order("Lisinopril 10 MG Oral Tablet", {"value": 30}, 1, **extra))))
        import_paths(db, settings, [f], NOW)
        seen.append(len(store_clinical.active_orders(db)))
    db.close()
    assert seen == [1, 0, 1, 0, 1]


# --- 2. salt words --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, whole", [
    ("Benzyl Benzoate 250 MG/ML Topical Lotion", "benzyl benzoate"),     # scabicide, not "benzyl"
    ("Ammonium Lactate 120 MG/ML Topical Lotion", "ammonium lactate"),   # merged with ammonium chloride
    ("Ammonium Chloride 500 MG Oral Tablet", "ammonium chloride"),
    ("Ethyl Chloride 1000 MG/ML Topical Spray", "ethyl chloride"),       # vapocoolant, not "ethyl"
    ("Aluminum Chloride 200 MG/ML Topical Solution", "aluminum chloride"),  # now the same as aluminum acetate
])
def test_a_salt_word_that_is_the_substance_stays(name, whole):
    assert ingredients_from_rxnorm_text(name) == [whole]
