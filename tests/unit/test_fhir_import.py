"""FHIR R4 import: real Synthea and US Core files into a fresh store, malformed input, idempotency, no PHI.

Expectations on the real data are derived here from the JSON itself (a small, independent reading of
the FHIR rules), so a broken importer fails these tests instead of agreeing with itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from medjobs_tui.config import load_settings
from medjobs_tui.fhir import FhirImportError, ImportReport, SkippedLine, import_paths
from medjobs_tui.store import connect

REPO = Path(__file__).resolve().parents[2]
from tests.conftest import STORE_KEY, SHARED_DATA as SHARED  # noqa: E402
SYNTHEA = SHARED / "synthea-10"
US_CORE = SHARED / "us-core"
_skip_without_shared = pytest.mark.skipif(
    not SYNTHEA.exists() or not US_CORE.exists(),
    reason=f"real FHIR test data not found at {SHARED} (../shared/data is absent in a fresh clone)",
)


def needs_shared(test):
    """Mark a test that reads ../shared/data: skipped, with the reason, where that folder is absent."""
    return pytest.mark.shared_data(_skip_without_shared(test))

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
IMPORTED_TABLES = ("patients", "medication_requests", "dispenses")


# ------------------------------------------------------------------------------------------------
# helpers and fixtures


@pytest.fixture(scope="module")
def settings():
    return load_settings(REPO / "config.yaml")


def _ndjson(name: str) -> list[dict]:
    return [json.loads(line) for line in (SYNTHEA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _lines(name: str) -> list[str]:
    return [line for line in (SYNTHEA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _synthea_files() -> list[Path]:
    return sorted(SYNTHEA.glob("*.ndjson"))


def _checksum(db) -> str:
    h = hashlib.sha256()
    for table in IMPORTED_TABLES:
        for row in db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall():
            h.update(repr(row).encode())
    return h.hexdigest()


def _counts(db) -> dict[str, int]:
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in IMPORTED_TABLES}


def _expected_schedule_status(mr: dict, deceased: set[str], table: dict[str, list[str]]) -> str:
    """Independent reading of the rule: deceased > inactive > prn > scheduled (code in table) > no_schedule."""
    if mr["subject"]["reference"].split("/")[-1] in deceased:
        return "deceased"
    if mr["status"] != "active":
        return "inactive"
    dosage = (mr.get("dosageInstruction") or [{}])[0]
    if dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage:
        return "prn"
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    key = (repeat.get("frequency"), repeat.get("period"), repeat.get("periodUnit"))
    code = {
        (1, 1, "d"): "QD", (2, 1, "d"): "BID", (3, 1, "d"): "TID", (4, 1, "d"): "QID",
        (1, 4, "h"): "Q4H", (1, 6, "h"): "Q6H", (1, 8, "h"): "Q8H", (1, 12, "h"): "Q12H",
    }.get(key)
    return "scheduled" if code in table else "no_schedule"


@pytest.fixture(scope="module")
def synthea():
    """The raw Synthea patients and requests, and the expected schedule status of every request."""
    patients = {p["id"]: p for p in _ndjson("Patient.000.ndjson")}
    requests = _ndjson("MedicationRequest.000.ndjson")
    deceased = {pid for pid, p in patients.items() if "deceasedDateTime" in p or p.get("deceasedBoolean") is True}
    return patients, requests, deceased


@pytest.fixture(scope="module")
def imported(tmp_path_factory, settings):
    db = connect(tmp_path_factory.mktemp("fhir") / "t.db", STORE_KEY)
    report = import_paths(db, settings, _synthea_files(), NOW)
    return db, report


# ------------------------------------------------------------------------------------------------
# Synthea: counts, splits, mapping


@needs_shared
def test_synthea_counts_match_the_data_readme(imported):
    db, report = imported
    assert report.patients == 13 and report.patients_new == 13
    assert report.orders == 1745 and report.orders_active == 23 and report.orders_stopped == 1722
    assert report.skipped == [] and report.warnings == []
    assert _counts(db) == {"patients": 13, "medication_requests": 1745, "dispenses": 0}
    assert db.execute("SELECT count(*) FROM medication_requests WHERE status = 'active'").fetchone()[0] == 23
    assert {"Condition", "Encounter", "AllergyIntolerance", "Organization", "Practitioner"} <= set(report.ignored)
    assert report.ignored["Condition"] == len(_lines("Condition.000.ndjson"))


@needs_shared
def test_synthea_schedule_split_is_derived_from_the_data(imported, synthea, settings):
    db, report = imported
    _, requests, deceased = synthea
    table = settings.clinic.administration_times
    expected = {mr["id"]: _expected_schedule_status(mr, deceased, table) for mr in requests}
    split = Counter(expected.values())
    # the data exercises every branch, so this test can tell them apart
    assert all(split[s] > 0 for s in ("scheduled", "prn", "no_schedule", "deceased", "inactive")), split

    assert (report.scheduled, report.prn, report.no_schedule, report.deceased_orders, report.inactive) == (
        split["scheduled"], split["prn"], split["no_schedule"], split["deceased"], split["inactive"])
    stored = dict(db.execute("SELECT fhir_id, schedule_status FROM medication_requests").fetchall())
    assert stored == expected


@needs_shared
def test_synthea_scheduled_orders_take_the_clinic_times(imported, settings):
    db, _ = imported
    table = settings.clinic.administration_times
    rows = db.execute("SELECT timing_code, times_of_day, doses_per_day FROM medication_requests"
                      " WHERE schedule_status = 'scheduled'").fetchall()
    assert rows
    for code, times, per_day in rows:
        assert json.loads(times) == table[code]
        assert per_day == len(table[code])


@needs_shared
def test_synthea_request_mapping_of_one_order(imported, synthea):
    db, _ = imported
    _, requests, _ = synthea
    mr = next(r for r in requests if r.get("dosageInstruction") and r["dosageInstruction"][0].get("timing")
              and r["dosageInstruction"][0]["timing"]["repeat"]["frequency"] == 4)
    row = db.execute(
        "SELECT rxnorm, medication_text, ingredients, frequency, period, period_unit, doses_per_day,"
        " dose_quantity, dose_unit, authored_on, prescriber_ref, p.fhir_id"
        " FROM medication_requests m JOIN patients p ON p.id = m.patient_id WHERE m.fhir_id = ?", [mr["id"]],
    ).fetchone()
    concept = mr["medicationCodeableConcept"]
    authored = datetime.fromisoformat(mr["authoredOn"]).astimezone(timezone.utc).isoformat(timespec="seconds")
    assert row == (
        concept["coding"][0]["code"], concept["text"], row[2], 4.0, 1.0, "d", 4.0,
        mr["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"], None,
        authored, mr["requester"]["reference"], mr["subject"]["reference"].split("/")[-1],
    )
    assert json.loads(row[2]) and all(i == i.lower() for i in json.loads(row[2]))


@needs_shared
def test_synthea_patients_keep_year_and_deceased_flag_only(imported, synthea):
    db, _ = imported
    patients, _, deceased = synthea
    rows = db.execute("SELECT fhir_id, pseudonym, birth_year, deceased, source, timezone FROM patients"
                      " ORDER BY id").fetchall()
    assert [r[1] for r in rows] == [f"P-{n:05d}" for n in range(1, 14)]
    for fhir_id, _, year, dead, source, zone in rows:
        assert year == int(patients[fhir_id]["birthDate"][:4])
        assert dead == (1 if fhir_id in deceased else 0)
        assert source == "fhir" and zone is None
    assert len(deceased) >= 1


@needs_shared
def test_deceased_patients_active_orders_are_never_scheduled(imported, synthea):
    db, _ = imported
    _, requests, deceased = synthea
    expected = {mr["id"] for mr in requests if mr["status"] == "active"
                and mr["subject"]["reference"].split("/")[-1] in deceased}
    assert expected, "the Synthea set has active orders of deceased patients"
    rows = dict(db.execute(
        "SELECT m.fhir_id, m.schedule_status FROM medication_requests m JOIN patients p ON p.id = m.patient_id"
        " WHERE p.deceased = 1 AND m.status = 'active'").fetchall())
    assert set(rows) == expected
    assert set(rows.values()) == {"deceased"}
    assert db.execute("SELECT count(*) FROM medication_requests m JOIN patients p ON p.id = m.patient_id"
                      " WHERE p.deceased = 1 AND m.schedule_status != 'deceased'").fetchone()[0] == 0


@needs_shared
def test_no_phi_is_stored(imported, synthea):
    db, report = imported
    patients, _, _ = synthea
    secrets: set[str] = set()
    dates: set[str] = set()  # order dates may fall on a birth or death day: look for these in patients only
    deaths: set[str] = set()
    for p in patients.values():
        for name in p.get("name", []):
            secrets.add(name["family"])
            secrets.update(name.get("given", []))
        dates.add(p["birthDate"])
        if "deceasedDateTime" in p:
            deaths.add(p["deceasedDateTime"][:10])
        secrets.update(t["value"] for t in p.get("telecom", []))
        for a in p.get("address", []):
            secrets.update(a.get("line", []))
            secrets.update(v for k, v in a.items() if k in ("city", "postalCode"))
        secrets.update(i["value"] for i in p.get("identifier", []) if i["value"] != p["id"])
        secrets.update(e["valueString"] for e in p.get("extension", []) if "valueString" in e)
    secrets = {s for s in secrets if len(s) >= 4}
    assert len(secrets) > 50

    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    dump = "\n".join(repr(db.execute(f'SELECT * FROM "{t}"').fetchall()) for t in db.table_names())
    db_file = Path(db.execute("PRAGMA database_list").fetchone()[2])
    raw = b"".join(f.read_bytes() for f in db_file.parent.glob(db_file.name + "*"))
    text_report = "\n".join(report.summary_lines()) + json.dumps(report.as_dict())
    leaks = [s for s in secrets if s in dump or s.encode() in raw or s in text_report]
    assert leaks == []
    patient_rows = repr(db.execute("SELECT * FROM patients").fetchall())
    assert [d for d in dates if d in patient_rows] == []
    # the instant of death is kept in deceased_at alone (no confirmation of a dose due after it: review 2 item 3),
    # in the encrypted store only, never in the import's report
    other_columns = repr(db.execute("SELECT id, pseudonym, fhir_id, source, birth_year, deceased, timezone,"
                                    " reminders_opt_out, created_at, updated_at FROM patients").fetchall())
    assert [d for d in deaths if d in other_columns or d in text_report] == []
    assert deaths and db.execute("SELECT count(deceased_at) FROM patients").fetchone()[0] == len(deaths)


# ------------------------------------------------------------------------------------------------
# idempotency


@needs_shared
def test_reimport_changes_nothing(tmp_path, settings):
    db = connect(tmp_path / "t.db", STORE_KEY)
    first = import_paths(db, settings, _synthea_files(), NOW)
    before_counts, before_sum = _counts(db), _checksum(db)
    second = import_paths(db, settings, _synthea_files(), LATER)
    assert _counts(db) == before_counts
    assert _checksum(db) == before_sum  # includes updated_at: untouched rows keep NOW
    assert (second.patients_new, second.patients_changed, second.orders_new, second.orders_changed) == (0, 0, 0, 0)
    assert (second.patients, second.orders, second.scheduled, second.deceased_orders) == (
        first.patients, first.orders, first.scheduled, first.deceased_orders)


@needs_shared
def test_changed_order_is_updated_in_place_and_stamped(tmp_path, settings, synthea):
    patients, requests, deceased = synthea
    mr = next(r for r in requests if r["status"] == "active"
              and r["subject"]["reference"].split("/")[-1] not in deceased and not r.get("dosageInstruction"))
    patient = patients[mr["subject"]["reference"].split("/")[-1]]
    f = tmp_path / "in.ndjson"
    f.write_text(json.dumps(patient) + "\n" + json.dumps(mr) + "\n")
    db = connect(tmp_path / "t.db", STORE_KEY)
    import_paths(db, settings, [f], NOW)
    changed = copy.deepcopy(mr)
    changed["status"] = "stopped"
    f.write_text(json.dumps(patient) + "\n" + json.dumps(changed) + "\n")
    report = import_paths(db, settings, [f], LATER)
    assert (report.orders_new, report.orders_changed, report.patients_changed) == (0, 1, 0)
    row = db.execute("SELECT status, schedule_status, created_at, updated_at FROM medication_requests").fetchone()
    assert row == ("stopped", "inactive", "2026-11-29T12:00:00+00:00", "2026-12-01T12:00:00+00:00")
    assert db.execute("SELECT pseudonym FROM patients").fetchone()[0] == "P-00001"


@needs_shared
def test_patient_later_deceased_marks_stored_orders(tmp_path, settings, synthea):
    patients, requests, deceased = synthea
    mr = next(r for r in requests if r["status"] == "active" and r.get("dosageInstruction")
              and r["subject"]["reference"].split("/")[-1] not in deceased)
    patient = patients[mr["subject"]["reference"].split("/")[-1]]
    (tmp_path / "a.ndjson").write_text(json.dumps(patient) + "\n" + json.dumps(mr) + "\n")
    db = connect(tmp_path / "t.db", STORE_KEY)
    import_paths(db, settings, [tmp_path / "a.ndjson"], NOW)
    dead = {**patient, "deceasedBoolean": True}
    (tmp_path / "b.ndjson").write_text(json.dumps(dead) + "\n")  # the orders are not in this input
    report = import_paths(db, settings, [tmp_path / "b.ndjson"], LATER)
    assert report.patients_changed == 1 and report.orders_marked_deceased == 1
    assert db.execute("SELECT schedule_status FROM medication_requests").fetchone()[0] == "deceased"


# ------------------------------------------------------------------------------------------------
# malformed input


@needs_shared
def test_malformed_lines_are_reported_and_the_rest_imported(tmp_path, settings, synthea):
    patients, requests, deceased = synthea
    alive = next(pid for pid in patients if pid not in deceased
                 and sum(r["subject"]["reference"].endswith(pid) for r in requests) >= 4)
    other = next(pid for pid in patients if pid != alive)
    mine = [r for r in requests if r["subject"]["reference"].endswith(alive)][:4]
    no_subject = {k: v for k, v in mine[1].items() if k != "subject"}
    unknown_patient = {**mine[2], "subject": {"reference": f"Patient/{other}"}}
    no_id = {k: v for k, v in mine[3].items() if k != "id"}
    lines = [
        json.dumps(patients[alive]),                      # 1
        json.dumps(mine[0]),                              # 2 good
        '{"resourceType": "MedicationRequest", "id": ',   # 3 bad JSON
        json.dumps(no_subject),                           # 4 no subject
        json.dumps(unknown_patient),                      # 5 patient neither in input nor store
        json.dumps(no_id),                                # 6 no id
        "",                                               # 7 blank: ignored
        json.dumps([1, 2]),                               # 8 not a resource
        json.dumps({"resourceType": "Condition", "id": "c1"}),  # 9 ignored type
        json.dumps(mine[3]),                              # 10 good
        json.dumps(mine[0]),                              # 11 duplicate id
    ]
    f = tmp_path / "mixed.ndjson"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW)

    assert report.patients == 1 and report.orders == 2 and report.ignored == {"Condition": 1}
    assert _counts(db) == {"patients": 1, "medication_requests": 2, "dispenses": 0}
    by_line = {s.line: s for s in report.skipped}
    assert set(by_line) == {3, 4, 5, 6, 8, 11}
    assert all(s.file == str(f) for s in report.skipped)
    assert "invalid JSON" in by_line[3].reason
    assert "subject.reference: missing" in by_line[4].reason
    assert "neither in the input nor in the store" in by_line[5].reason
    assert "id: missing" in by_line[6].reason
    assert "not a FHIR resource" in by_line[8].reason
    assert "duplicate MedicationRequest id (first at" in by_line[11].reason
    text = "\n".join(str(s) for s in report.skipped) + "\n".join(report.summary_lines())
    assert other not in text and alive not in text  # reasons carry no ids or other values
    assert all(n["family"] not in text for n in patients[alive]["name"])


@needs_shared
def test_subject_already_in_the_store_resolves(tmp_path, settings, synthea):
    patients, requests, _ = synthea
    mr = requests[0]
    pid = mr["subject"]["reference"].split("/")[-1]
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patients[pid]) + "\n")
    (tmp_path / "MedicationRequest.ndjson").write_text(json.dumps(mr) + "\n")
    db = connect(tmp_path / "t.db", STORE_KEY)
    import_paths(db, settings, [tmp_path / "Patient.ndjson"], NOW)
    report = import_paths(db, settings, [tmp_path / "MedicationRequest.ndjson"], NOW)
    assert report.skipped == [] and report.orders == 1


def test_bad_paths_and_naive_now_raise_before_writing(tmp_path, settings):
    db = connect(tmp_path / "t.db", STORE_KEY)
    with pytest.raises(FhirImportError, match="no such file"):
        import_paths(db, settings, [tmp_path / "missing.ndjson"], NOW)
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(FhirImportError, match="not a FHIR input file"):
        import_paths(db, settings, [tmp_path / "x.csv"], NOW)
    (tmp_path / "empty.ndjson").write_text("")
    with pytest.raises(ValueError):
        import_paths(db, settings, [tmp_path / "empty.ndjson"], datetime(2026, 1, 1))
    assert _counts(db) == {"patients": 0, "medication_requests": 0, "dispenses": 0}


# ------------------------------------------------------------------------------------------------
# Bundles and US Core


@needs_shared
def test_bundle_json_with_urn_uuid_references(tmp_path, settings, synthea):
    patients, requests, deceased = synthea
    pid = next(p for p in patients if p not in deceased
               and sum(r["subject"]["reference"].endswith(p) for r in requests) >= 3)
    mine = [r for r in requests if r["subject"]["reference"].endswith(pid)][:3]
    entries = [{"fullUrl": f"urn:uuid:{pid}", "resource": {k: v for k, v in patients[pid].items() if k != "id"}}]
    for r in mine:
        entries.append({"fullUrl": f"urn:uuid:{r['id']}", "resource": {**r, "subject": {"reference": f"urn:uuid:{pid}"}}})
    med = {"resourceType": "Medication", "id": "med-1", "code": {"coding": [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "312961",
         "display": "Simvastatin 20 MG Oral Tablet"}]}}
    by_ref = {**mine[0], "id": "by-reference", "subject": {"reference": f"urn:uuid:{pid}"},
              "medicationReference": {"reference": "Medication/med-1"}}
    del by_ref["medicationCodeableConcept"]
    entries += [{"fullUrl": "urn:uuid:med-1", "resource": med}, {"resource": by_ref},
                {"resource": {"resourceType": "Encounter", "id": "e1"}}, {"request": {"method": "DELETE"}}]
    f = tmp_path / "bundle.json"
    f.write_text(json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW)
    assert report.skipped == []
    assert (report.patients, report.orders, report.medications, report.ignored) == (1, 4, 1, {"Encounter": 1})
    assert db.execute("SELECT fhir_id FROM patients").fetchone()[0] == pid
    row = db.execute("SELECT rxnorm, medication_text, ingredients FROM medication_requests"
                     " WHERE fhir_id = 'by-reference'").fetchone()
    assert row == ("312961", "Simvastatin 20 MG Oral Tablet", '["simvastatin"]')


def test_bundle_entry_problem_names_its_json_path(tmp_path, settings):
    bad = {"resourceType": "MedicationRequest", "id": "m1", "status": "active",
           "medicationCodeableConcept": {"text": "Aspirin 81 MG Oral Tablet"}}
    f = tmp_path / "b.json"
    f.write_text(json.dumps({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "p"}},
                                                                 {"resource": bad}]}))
    report = import_paths(connect(tmp_path / "t.db", STORE_KEY), settings, [f], NOW)
    assert report.skipped == [SkippedLine(str(f), None, "MedicationRequest entry[1].resource.subject.reference: missing")]


@pytest.fixture
def us_core_patient(tmp_path):
    """US Core examples point at Patient/example, which the example set does not hold: supply one."""
    f = tmp_path / "patient-example.json"
    f.write_text(json.dumps({"resourceType": "Patient", "id": "example", "birthDate": "1970-01-01"}))
    return f


@needs_shared
def test_us_core_contained_medication(tmp_path, settings, us_core_patient):
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [us_core_patient, US_CORE / "medicationrequest-contained-oral-axid.json"], NOW)
    assert report.skipped == [] and report.warnings == [] and report.scheduled == 1
    row = db.execute(
        "SELECT rxnorm, medication_text, ingredients, schedule_status, timing_code, times_of_day, doses_per_day,"
        " dose_quantity, dose_unit, bounds_start, bounds_end, dispense_quantity, expected_supply_days,"
        " repeats_allowed, prescriber_ref, authored_on FROM medication_requests").fetchone()
    midnight_ny = "2008-04-05T04:00:00+00:00"  # date-only value = local midnight in the clinic zone (EDT)
    assert row == ("582620", "Nizatidine 15 MG/ML Oral Solution [Axid]", '["nizatidine"]', "scheduled", "BID",
                   json.dumps(settings.clinic.administration_times["BID"]), 2.0, 10.0, "ml", midnight_ny, None,
                   480.0, 30.0, 1, "Practitioner/practitioner-1", midnight_ny)


@needs_shared
def test_us_core_referenced_medication_missing_is_kept_with_display(tmp_path, settings, us_core_patient):
    db = connect(tmp_path / "t.db", STORE_KEY)
    f = US_CORE / "medicationrequest-referenced-oral-axid.json"
    report = import_paths(db, settings, [us_core_patient, f], NOW)
    assert report.skipped == [] and report.orders == 1
    assert [(w.file, w.line) for w in report.warnings] == [(str(f), None)]
    assert "the Medication is not in the input" in report.warnings[0].reason
    row = db.execute("SELECT rxnorm, medication_text, ingredients, schedule_status FROM medication_requests").fetchone()
    assert row == (None, "Nizatidine 15 MG/ML Oral Solution [Axid]", '["nizatidine"]', "scheduled")


@needs_shared
def test_us_core_referenced_medication_present_in_input(tmp_path, settings, us_core_patient):
    med = tmp_path / "med.json"
    med.write_text(json.dumps({
        "resourceType": "Medication", "id": "uscore-med2",
        "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "582620",
                             "display": "Nizatidine 15 MG/ML Oral Solution [Axid]"}]},
        "ingredient": [{"itemCodeableConcept": {"text": "Nizatidine"}}]}))
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [us_core_patient, med, US_CORE / "medicationrequest-referenced-oral-axid.json"],
                          NOW)
    assert report.skipped == [] and report.warnings == []
    assert db.execute("SELECT rxnorm, ingredients FROM medication_requests").fetchone() == ("582620", '["nizatidine"]')


@needs_shared
def test_us_core_dispense_without_its_request_is_skipped(tmp_path, settings, us_core_patient):
    f = US_CORE / "medicationdispense-example.json"
    report = import_paths(connect(tmp_path / "t.db", STORE_KEY), settings, [us_core_patient, f], NOW)
    assert report.dispenses == 0
    assert report.skipped == [SkippedLine(str(f), None, "MedicationDispense authorizingPrescription[0].reference: "
                                                        "the MedicationRequest is neither in the input nor in the store")]


@needs_shared
def test_us_core_dispense_linked_to_its_request(tmp_path, settings, us_core_patient):
    dispense = json.loads((US_CORE / "medicationdispense-example.json").read_text())
    dispense["authorizingPrescription"] = [{"reference": "MedicationRequest/medicationrequest-contained-oral-axid"}]
    dispense["daysSupply"] = {"value": 24, "unit": "Day", "system": "http://unitsofmeasure.org", "code": "d"}
    f = tmp_path / "dispense.json"
    f.write_text(json.dumps(dispense))
    db = connect(tmp_path / "t.db", STORE_KEY)
    import_paths(db, settings, [us_core_patient, US_CORE / "medicationrequest-contained-oral-axid.json"], NOW)
    report = import_paths(db, settings, [f], NOW)  # the request is found in the store
    assert report.skipped == [] and report.dispenses == 1
    row = db.execute(
        "SELECT d.quantity, d.days_supply, d.handed_over_at, m.fhir_id, p.fhir_id FROM dispenses d"
        " JOIN medication_requests m ON m.id = d.medication_request_id JOIN patients p ON p.id = d.patient_id"
    ).fetchone()
    assert row == (480.0, 24.0, "2016-12-08T06:38:52+00:00", "medicationrequest-contained-oral-axid", "example")

    assert import_paths(db, settings, [f], LATER).dispenses_changed == 0
    dispense["status"] = "entered-in-error"
    f.write_text(json.dumps(dispense))
    report = import_paths(db, settings, [f], LATER)
    assert report.dispenses_removed == 1 and "not 'completed'" in report.skipped[0].reason
    assert _counts(db)["dispenses"] == 0


# ------------------------------------------------------------------------------------------------
# report


@needs_shared
def test_report_as_dict_and_summary(imported):
    _, report = imported
    assert isinstance(report, ImportReport)
    d = report.as_dict()
    assert d["orders"] == 1745 and d["skipped"] == [] and d["ignored"]["Encounter"] > 0
    json.dumps(d)
    lines = report.summary_lines()
    assert lines[1].startswith("Patients: 13 ") and "23 active" in lines[2]


# ------------------------------------------------------------------------------------------------
# dosage rules on hand-written resources (no shared data needed)


def _order(dosage: list | None, **extra) -> dict:
    res = {"resourceType": "MedicationRequest", "id": "m", "status": "active",
           "subject": {"reference": "Patient/p"},
           "medicationCodeableConcept": {"text": "Aspirin 81 MG Oral Tablet"}, **extra}
    if dosage is not None:
        res["dosageInstruction"] = dosage
    return res


def _import_one(tmp_path, settings, order: dict, patient: dict | None = None):
    f = tmp_path / "in.ndjson"
    patient = patient or {"resourceType": "Patient", "id": "p"}
    f.write_text(json.dumps(patient) + "\n" + json.dumps(order) + "\n")
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW)
    row = db.execute("SELECT schedule_status, timing_code, times_of_day, doses_per_day, expected_supply_days"
                     " FROM medication_requests").fetchone()
    return report, row


@pytest.mark.parametrize("dosage, expected", [
    ([{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d", "timeOfDay": ["21:00:00", "07:30:00"]}}}],
     ("scheduled", "BID", '["07:30", "21:00"]', 2.0)),
    ([{"timing": {"code": {"coding": [{"code": "TID"}]}}}],
     ("scheduled", "TID", '["08:00", "14:00", "20:00"]', 3.0)),
    ([{"timing": {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}}}],
     ("scheduled", "Q8H", '["06:00", "14:00", "22:00"]', 3.0)),
    # when: the clinic's event table (config clinic.event_times): HS 21:00, MORN 08:00
    ([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}}}],
     ("scheduled", "HS", '["21:00"]', 1.0)),
    ([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["MORN"]}}}],
     ("scheduled", "MORN", '["08:00"]', 1.0)),
    # weekly on the start's weekday at the QD time (authoredOn is absent here: the weekday is unknown)
    ([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}}],
     ("no_schedule", None, "[]", None)),
    # Mondays only: 1 a day on 1 day of 7 = 1/7 a day
    ([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "dayOfWeek": ["mon"]}}}],
     ("scheduled", "QD", '["09:00"]', 1 / 7)),
    # PRN in every form: no times, no rate
    ([{"asNeededCodeableConcept": {"text": "pain"}, "timing": {"repeat": {"frequency": 1, "period": 4,
                                                                         "periodUnit": "h"}}}],
     ("prn", None, "[]", None)),
    ([{"text": "Take 1 tablet as needed for headache"}], ("prn", None, "[]", None)),
    ([{"text": "1 tab PRN"}], ("prn", None, "[]", None)),
    ([{"asNeededBoolean": False}], ("no_schedule", None, "[]", None)),
    (None, ("no_schedule", None, "[]", None)),
])
def test_dosage_rules(tmp_path, settings, dosage, expected):
    report, row = _import_one(tmp_path, settings, _order(dosage))
    assert report.skipped == []
    assert row[:3] == expected[:3]
    if expected[3] is None:
        assert row[3] is None
    else:
        assert row[3] == pytest.approx(expected[3])


def test_deceased_boolean_wins_over_an_active_prn_order(tmp_path, settings):
    _, row = _import_one(tmp_path, settings, _order([{"asNeededBoolean": True}]),
                         {"resourceType": "Patient", "id": "p", "deceasedBoolean": True})
    assert row[0] == "deceased"


def test_supply_duration_units_and_unknown_unit_warning(tmp_path, settings):
    order = _order(None, dispenseRequest={"expectedSupplyDuration": {"value": 2, "unit": "weeks"}})
    _, row = _import_one(tmp_path, settings, order)
    assert row[4] == 14.0
    order = _order(None, dispenseRequest={"expectedSupplyDuration": {"value": 30, "unit": "tablets"}})
    (tmp_path / "b").mkdir()
    report, row = _import_one(tmp_path / "b", settings, order)
    assert row[4] is None and report.orders == 1
    assert [w.reason for w in report.warnings] == [
        "MedicationRequest dispenseRequest.expectedSupplyDuration: unit is not a unit of time; duration not stored"]


def test_unusable_value_skips_the_order_with_its_path(tmp_path, settings):
    order = _order([{"timing": {"repeat": {"timeOfDay": ["25:00:00"]}}}])
    report, row = _import_one(tmp_path, settings, order)
    assert row is None and report.patients == 1
    assert [s.reason for s in report.skipped] == [
        "MedicationRequest dosageInstruction[0].timing.repeat.timeOfDay[0]: not a valid clock time"]
    assert report.skipped[0].line == 2


def test_the_import_is_one_transaction(tmp_path, settings, monkeypatch):
    from medjobs_tui.store import records

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(records, "upsert_dispenses", boom)  # fails after patients and orders were written
    f = tmp_path / "in.ndjson"
    f.write_text(json.dumps({"resourceType": "Patient", "id": "p"}) + "\n" + json.dumps(_order(None)) + "\n")
    db = connect(tmp_path / "t.db", STORE_KEY)
    with pytest.raises(RuntimeError, match="disk full"):
        import_paths(db, settings, [f], NOW)
    assert _counts(db) == {"patients": 0, "medication_requests": 0, "dispenses": 0}
    assert not db.conn.in_transaction
