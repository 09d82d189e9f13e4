"""The import streams its input and writes it in batches inside ONE transaction (bounded memory): an input
larger than a batch still reports and skips each bad record alone and imports the rest, references resolve
across batches and files in any order, pseudonyms follow input order, and a re-import changes nothing.
Batches are made tiny here (``batch_size``) so every input spans many of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medjobs_tui.fhir import import_paths
from medjobs_tui.fhir.reader import sniff_type
from medjobs_tui.store import connect, records, transaction
from tests.conftest import STORE_KEY
from tests.unit.test_import_hostile import NOW, counts, dispense, order, patient, settings, write_ndjson  # noqa: F401


def _db(tmp_path: Path):
    return connect(tmp_path / "t.db", STORE_KEY)


def test_bad_records_across_many_batches_are_skipped_alone(tmp_path, settings):
    lines = []
    for i in range(10):
        lines.append(patient(f"p{i}", birthDate="1066-10-14") if i == 4 else patient(f"p{i}"))
    lines.append('{"resourceType": "Patient", "id": "broken"')                       # line 11: bad JSON
    lines.append(patient("p10", id=None))                                              # line 12: no id
    for i in range(10):
        lines.append(order(f"m{i}", f"p{i}"))                                          # m4: its patient skipped
    lines.append(order("m99", "nobody"))                                               # line 23
    for i in range(10):
        lines.append(dispense(f"d{i}", f"m{i}", quantity={"value": -1} if i == 7 else {"value": 30}))
    f = write_ndjson(tmp_path / "in.ndjson", lines)
    db = _db(tmp_path)
    report = import_paths(db, settings, [f], NOW, batch_size=3)
    assert sorted(s.line for s in report.skipped) == [5, 11, 12, 17, 23, 28, 31]   # d4 (its order skipped), d7
    assert "its Patient was skipped" in next(s.reason for s in report.skipped if s.line == 17)
    assert "its MedicationRequest was skipped" in next(s.reason for s in report.skipped if s.line == 28)
    assert (report.patients, report.orders, report.dispenses) == (9, 9, 8)
    assert counts(db) == {"patients": 9, "medication_requests": 9, "dispenses": 8}
    assert report.lines == 33 and report.files == 1


def test_references_resolve_across_batches_and_files_in_any_order(tmp_path, settings):
    folder = tmp_path / "export"
    folder.mkdir()
    # a directory is read in name order: dispenses first, then orders, then patients
    write_ndjson(folder / "a-MedicationDispense.ndjson", [dispense(f"d{i}", f"m{i}") for i in range(7)])
    write_ndjson(folder / "b-MedicationRequest.ndjson", [order(f"m{i}", f"p{i % 5}") for i in range(7)])
    write_ndjson(folder / "c-Patient.ndjson", [patient(f"p{i}") for i in range(5)])
    db = _db(tmp_path)
    report = import_paths(db, settings, [folder], NOW, batch_size=2)
    assert report.skipped == []
    assert counts(db) == {"patients": 5, "medication_requests": 7, "dispenses": 7}
    linked = db.execute(
        "SELECT d.fhir_id, mr.fhir_id, p.fhir_id, d.patient_id = mr.patient_id FROM dispenses d"
        " JOIN medication_requests mr ON mr.id = d.medication_request_id JOIN patients p ON p.id = mr.patient_id"
        " ORDER BY d.fhir_id").fetchall()
    assert linked == [(f"d{i}", f"m{i}", f"p{i % 5}", 1) for i in range(7)]


def test_an_order_whose_patient_came_in_an_earlier_batch_and_a_later_import(tmp_path, settings):
    db = _db(tmp_path)
    first = write_ndjson(tmp_path / "first.ndjson", [patient(f"p{i}") for i in range(6)])
    import_paths(db, settings, [first], NOW, batch_size=2)
    # the second import holds only orders and dispenses; their targets are in the store or an earlier batch
    second = write_ndjson(tmp_path / "second.ndjson",
                          [order(f"m{i}", f"p{i}") for i in range(6)] + [dispense(f"d{i}", f"m{5 - i}")
                                                                         for i in range(6)])
    report = import_paths(db, settings, [second], NOW, batch_size=2)
    assert report.skipped == [] and (report.orders, report.dispenses) == (6, 6)
    mismatched = db.execute("SELECT count(*) FROM dispenses d JOIN medication_requests mr"
                            " ON mr.id = d.medication_request_id WHERE d.patient_id != mr.patient_id").fetchone()[0]
    assert mismatched == 0


def test_pseudonyms_follow_input_order_across_batches(tmp_path, settings):
    f = write_ndjson(tmp_path / "in.ndjson", [patient(f"p{i}") for i in range(7)])
    db = _db(tmp_path)
    import_paths(db, settings, [f], NOW, batch_size=3)
    rows = db.execute("SELECT fhir_id, pseudonym FROM patients ORDER BY id").fetchall()
    assert rows == [(f"p{i}", f"P-{i + 1:05d}") for i in range(7)]


def test_reimport_in_batches_changes_nothing(tmp_path, settings):
    lines = ([patient(f"p{i}") for i in range(5)] + [order(f"m{i}", f"p{i}") for i in range(5)]
             + [dispense(f"d{i}", f"m{i}") for i in range(5)])
    f = write_ndjson(tmp_path / "in.ndjson", lines)
    db = _db(tmp_path)
    import_paths(db, settings, [f], NOW, batch_size=2)
    before = [db.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
              for t in ("patients", "medication_requests", "dispenses")]
    again = import_paths(db, settings, [f], NOW.replace(hour=13), batch_size=2)
    after = [db.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
             for t in ("patients", "medication_requests", "dispenses")]
    assert after == before
    assert (again.patients, again.orders, again.dispenses) == (5, 5, 5)
    assert (again.patients_new, again.patients_changed, again.orders_new, again.orders_changed,
            again.dispenses_new, again.dispenses_changed) == (0, 0, 0, 0, 0, 0)


def test_rows_are_written_in_batches_of_at_most_batch_size(tmp_path, settings, monkeypatch):
    seen: dict[str, list[int]] = {}
    for name in ("upsert_patients", "upsert_medication_requests", "upsert_dispenses"):
        real = getattr(records, name)

        def spy(db, rows, *args, _real=real, _name=name, **kwargs):
            seen.setdefault(_name, []).append(len(rows))
            return _real(db, rows, *args, **kwargs)

        monkeypatch.setattr(records, name, spy)
    lines = ([patient(f"p{i}") for i in range(7)] + [order(f"m{i}", f"p{i}") for i in range(7)]
             + [dispense(f"d{i}", f"m{i}") for i in range(7)])
    import_paths(_db(tmp_path), settings, [write_ndjson(tmp_path / "in.ndjson", lines)], NOW, batch_size=3)
    assert seen == {"upsert_patients": [3, 3, 1], "upsert_medication_requests": [3, 3, 1],
                    "upsert_dispenses": [3, 3, 1]}


def test_a_failure_in_a_late_batch_rolls_the_whole_import_back(tmp_path, settings, monkeypatch):
    real = records.upsert_dispenses
    calls = []

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "upsert_dispenses", fail_second)
    lines = ([patient(f"p{i}") for i in range(4)] + [order(f"m{i}", f"p{i}") for i in range(4)]
             + [dispense(f"d{i}", f"m{i}") for i in range(4)])
    db = _db(tmp_path)
    with pytest.raises(RuntimeError, match="disk full"):
        import_paths(db, settings, [write_ndjson(tmp_path / "in.ndjson", lines)], NOW, batch_size=2)
    assert counts(db) == {"patients": 0, "medication_requests": 0, "dispenses": 0}


def test_dry_run_in_batches_writes_nothing_and_counts_everything(tmp_path, settings):
    lines = [patient(f"p{i}") for i in range(5)] + [order(f"m{i}", f"p{i}") for i in range(5)]
    db = _db(tmp_path)
    report = import_paths(db, settings, [write_ndjson(tmp_path / "in.ndjson", lines)], NOW, dry_run=True,
                          batch_size=2)
    assert report.dry_run and (report.patients_new, report.orders_new) == (5, 5)
    assert counts(db) == {"patients": 0, "medication_requests": 0, "dispenses": 0}


def test_lines_the_type_sniffer_cannot_tell_are_read_in_full_once(tmp_path, settings):
    contained = order("mc", "p0", medicationCodeableConcept=None, medicationReference={"reference": "#med"},
                      contained=[{"resourceType": "Medication", "id": "med",
                                  "code": {"text": "lisinopril 10 MG Oral Tablet"}}])
    lines = [
        contained,                                                    # two resourceTypes: not sniffable
        '{"resourceType": "MedicationRequest", "id": "cut", ',        # sniffed, then unreadable
        json.dumps({"wrapper": {"resourceType": "Patient", "id": "x"}}),   # no top-level resourceType
        patient("p0"),
    ]
    assert sniff_type(json.dumps(contained).encode()) is None
    db = _db(tmp_path)
    report = import_paths(db, settings, [write_ndjson(tmp_path / "in.ndjson", lines)], NOW, batch_size=1)
    assert sorted(s.line for s in report.skipped) == [2, 3]           # each reported once
    assert "invalid JSON" in next(s.reason for s in report.skipped if s.line == 2)
    assert "not a FHIR resource" in next(s.reason for s in report.skipped if s.line == 3)
    assert counts(db) == {"patients": 1, "medication_requests": 1, "dispenses": 0}
    assert report.orders == 1


def test_a_refused_row_in_a_batch_undoes_only_itself_and_numbers_stay_consecutive(tmp_path):
    db = _db(tmp_path)
    with transaction(db):
        ids, pc = records.upsert_patients(db, [{"fhir_id": "a", "birth_year": 1970, "deceased": 0},
                                               {"fhir_id": "b", "birth_year": 2 ** 70, "deceased": 0},
                                               {"fhir_id": "c", "birth_year": 1980, "deceased": 0}], NOW.isoformat())
    assert set(ids) == {"a", "c"} and pc.inserted == 2 and set(pc.rejected) == {"b"}
    assert db.execute("SELECT fhir_id, pseudonym FROM patients ORDER BY id").fetchall() == [
        ("a", "P-00001"), ("c", "P-00002")]
