"""An import that never falls over: hostile values are reported with file, line and JSON path and skip
their record alone; good records always land; unreadable files do not stop the others; dry runs write
nothing; every import, failed ones included, is audited.

The property test at the end feeds generated hostile records (hypothesis) next to good ones through the
importer and asserts it never raises, every good record lands, and nothing unstorable reaches the store.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from medjobs_tui.config import load_settings
from medjobs_tui.fhir import FhirImportError, import_paths
from medjobs_tui.fhir import values
from medjobs_tui.store import connect, records, transaction
from tests.conftest import STORE_KEY

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
TABLES = ("patients", "medication_requests", "dispenses")


@pytest.fixture(scope="module")
def settings():
    return load_settings(REPO / "config.yaml")


def patient(pid: str = "p", **extra) -> dict:
    return {"resourceType": "Patient", "id": pid, "birthDate": "1960-04-02", **extra}


def order(oid: str = "m", pid: str = "p", **extra) -> dict:
    return {"resourceType": "MedicationRequest", "id": oid, "status": "active",
            "subject": {"reference": f"Patient/{pid}"},
            "medicationCodeableConcept": {"text": "lisinopril 10 MG Oral Tablet"},
            "authoredOn": "2026-11-01T09:00:00-05:00",
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}],
            "dispenseRequest": {"quantity": {"value": 30}, "numberOfRepeatsAllowed": 3,
                                "expectedSupplyDuration": {"value": 30, "code": "d"}}, **extra}


def dispense(did: str = "d", oid: str = "m", **extra) -> dict:
    return {"resourceType": "MedicationDispense", "id": did, "status": "completed",
            "authorizingPrescription": [{"reference": f"MedicationRequest/{oid}"}],
            "quantity": {"value": 30}, "daysSupply": {"value": 30, "code": "d"},
            "whenHandedOver": "2026-11-02T10:00:00-05:00", **extra}


def counts(db) -> dict[str, int]:
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def write_ndjson(path: Path, lines: list) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def set_path(doc: dict, path: tuple, value) -> dict:
    """A deep copy of ``doc`` with ``value`` at ``path`` (keys and list indexes; missing dicts created)."""
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        if isinstance(key, int):
            node = node[key]
        else:
            node = node.setdefault(key, {})
    node[path[-1]] = value
    return doc


REPEAT = ("dosageInstruction", 0, "timing", "repeat")
DOSE = ("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "value")

# Each hostile value of the issue, where it was seen, and the JSON path the report must name.
HOSTILE = [
    ("repeats 1e30 as a JSON integer", "order", ("dispenseRequest", "numberOfRepeatsAllowed"), 10 ** 30,
     "dispenseRequest.numberOfRepeatsAllowed: a whole number beyond 64 bits"),
    ("repeats 1e30", "order", ("dispenseRequest", "numberOfRepeatsAllowed"), 1e30,
     "dispenseRequest.numberOfRepeatsAllowed: outside 0..100"),
    ("authoredOn in 9999 with an offset", "order", ("authoredOn",), "9999-12-31T23:00:00-05:00",
     "authoredOn: a date outside the years 1900-2200"),
    ("authoredOn in year 1", "order", ("authoredOn",), "0001-01-01T00:00:00+05:00",
     "authoredOn: a date outside the years 1900-2200"),
    ("dose of -2", "order", DOSE, -2, "doseQuantity.value: must be greater than 0"),
    ("dose of 0", "order", DOSE, 0, "doseQuantity.value: must be greater than 0"),
    ("frequency 1e9", "order", REPEAT + ("frequency",), 1e9, "repeat.frequency: outside 1..100"),
    ("frequency 2.5", "order", REPEAT + ("frequency",), 2.5, "repeat.frequency: not a whole number"),
    ("period 0", "order", REPEAT + ("period",), 0, "repeat.period: must be greater than 0"),
    ("period -1", "order", REPEAT + ("period",), -1, "repeat.period: must be greater than 0"),
    ("Infinity (1e999)", "order", ("dispenseRequest", "quantity", "value"), float("inf"),
     "dispenseRequest.quantity.value: not a finite number"),
    ("NaN", "order", REPEAT + ("period",), float("nan"), "repeat.period: not a finite number"),
    ("-Infinity supply", "order", ("dispenseRequest", "expectedSupplyDuration", "value"), float("-inf"),
     "expectedSupplyDuration.value: not a finite number"),
    ("zero fill", "order", ("dispenseRequest", "quantity", "value"), 0,
     "dispenseRequest.quantity.value: must be greater than 0"),
    ("bounds end in 2300", "order", REPEAT + ("boundsPeriod",), {"start": "2026-11-01", "end": "2300-01-01"},
     "boundsPeriod.end: a date outside the years 1900-2200"),
    ("offset of two days", "order", REPEAT + ("offset",), 2880, "repeat.offset: outside 0..1440"),
    ("count 0", "order", REPEAT + ("count",), 0, "repeat.count: outside 1..10000"),
    ("birthDate 1850", "patient", ("birthDate",), "1850-01-01", "birthDate: a date outside the years 1900-2200"),
    ("deceased in 9999", "patient", ("deceasedDateTime",), "9999-01-01", "deceasedDateTime: a date outside"),
    ("big integer in an extension", "patient", ("extension",), [{"url": "x", "valueInteger": 2 ** 64}],
     "extension[0].valueInteger: a whole number beyond 64 bits"),
    ("lone surrogate in a status", "order", ("status",), "\ud800x",
     "status: text that is not valid Unicode (a lone surrogate escape)"),
    ("dose of 1e30 tablets", "order", DOSE, 1e30, "doseQuantity.value: more than 100,000"),
    ("fill of a million", "order", ("dispenseRequest", "quantity", "value"), 1e6,
     "dispenseRequest.quantity.value: more than 100,000"),
    ("days supply of 1e9", "dispense", ("daysSupply", "value"), 1e9, "daysSupply.value: more than 100,000"),
    ("screen-clearing escape code in a medication name", "order", ("medicationCodeableConcept", "text"),
     "\u001b[2J\u001b[31mEVIL", "medicationCodeableConcept.text: text with control characters"),
    ("bell and backspace in a dose unit", "order", DOSE[:-1] + ("unit",), "tab\u0007\u0008let",
     "doseQuantity.unit: text with control characters"),
    ("C1 control (CSI) in a patient extension", "patient", ("extension",), [{"url": "x", "valueString": "a\u009bb"}],
     "extension[0].valueString: text with control characters"),
    ("negative dispense", "dispense", ("quantity", "value"), -30, "quantity.value: must be greater than 0"),
    ("days supply 0", "dispense", ("daysSupply", "value"), 0, "daysSupply.value: must be greater than 0"),
    ("handed over in 9999", "dispense", ("whenHandedOver",), "9999-12-31T23:59:59-12:00",
     "whenHandedOver: a date outside the years 1900-2200"),
]


@pytest.mark.parametrize("name, kind, path, value, reason", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_value_skips_its_record_only_with_file_line_and_path(tmp_path, settings, name, kind, path,
                                                                      value, reason):
    builders = {"patient": lambda: patient("h"), "order": lambda: order("h"), "dispense": lambda: dispense("h")}
    bad = set_path(builders[kind](), path, value)
    lines = [patient(), order(), dispense()]
    if kind == "order":
        bad["subject"] = {"reference": "Patient/p"}
    if kind == "dispense":
        bad["authorizingPrescription"] = [{"reference": "MedicationRequest/m"}]
    lines.insert(1, bad)  # line 2, between the good ones
    f = write_ndjson(tmp_path / "in.ndjson", lines)
    other = write_ndjson(tmp_path / "other.ndjson", [patient("p2"), order("m2", "p2")])
    db = connect(tmp_path / "t.db", STORE_KEY)

    report = import_paths(db, settings, [f, other], NOW)

    assert len(report.skipped) == 1, [str(s) for s in report.skipped]
    skipped = report.skipped[0]
    assert (skipped.file, skipped.line) == (str(f), 2)
    assert reason in skipped.reason
    assert counts(db) == {"patients": 2, "medication_requests": 2, "dispenses": 1}  # every good record landed
    assert not db.conn.in_transaction


def test_json_nested_100000_deep_is_reported_and_skipped(tmp_path, settings):
    deep = '{"resourceType": "Patient", "id": "q", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    f = write_ndjson(tmp_path / "in.ndjson", [patient(), deep, order()])
    doc = tmp_path / "deep.json"
    doc.write_text('{"resourceType": "Bundle", "type": "collection", "entry": ' + "[" * 100_000 + "]" * 100_000 + "}")
    db = connect(tmp_path / "t.db", STORE_KEY)

    report = import_paths(db, settings, [f, doc], NOW)

    assert sorted((s.file, s.line, s.reason) for s in report.skipped) == sorted([
        (str(f), 2, "JSON nested deeper than 64 levels; not read"),
        (str(doc), None, "JSON nested deeper than 64 levels; not read"),
    ])
    assert counts(db)["medication_requests"] == 1


def test_nesting_limit_counts_brackets_outside_strings_only():
    assert not values.nesting_exceeds('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')
    assert values.nesting_exceeds("[" * 65 + "]" * 65)
    assert not values.nesting_exceeds("[" * 64 + "]" * 64)
    assert not values.nesting_exceeds('{"a": "\\"[[[[", "b": [1]}', limit=2)


def test_hostile_entry_of_a_bundle_is_skipped_with_its_path(tmp_path, settings):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": patient()}, {"resource": order("h", authoredOn="9999-01-01")}, {"resource": order()}]}
    f = tmp_path / "b.json"
    f.write_text(json.dumps(bundle))
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW)
    assert [s.reason for s in report.skipped] == [
        "MedicationRequest entry[1].resource.authoredOn: a date outside the years 1900-2200"]
    assert counts(db)["medication_requests"] == 1


def test_an_id_that_is_not_a_fhir_id_is_skipped(tmp_path, settings):
    f = write_ndjson(tmp_path / "in.ndjson", [patient(), order("x" * 65), order("has space"), order()])
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW)
    assert [(s.line, s.reason) for s in report.skipped] == [
        (2, "MedicationRequest id: not a FHIR id (1-64 letters, digits, '-' or '.')"),
        (3, "MedicationRequest id: not a FHIR id (1-64 letters, digits, '-' or '.')")]
    assert counts(db)["medication_requests"] == 1


def test_a_resource_type_that_is_no_fhir_type_is_counted_never_echoed(tmp_path, settings):
    """Found by a fresh user: the report's "Ignored resources" line repeated an unknown ``resourceType`` as typed,
    free text that may be anything (here a name and a phone number)."""
    f = write_ndjson(tmp_path / "in.ndjson", [
        patient(), {"resourceType": "Jane Doe 555-0100", "id": "x1"}, {"resourceType": "Condition", "id": "c1"},
        {"resourceType": "Smith", "id": "x2"}])
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW)
    assert report.ignored == {"Condition": 1, "(not a FHIR R4 resource type)": 2}
    text = "\n".join(report.summary_lines())
    assert "Jane" not in text and "555" not in text and "Smith" not in text and "Condition 1" in text


def test_orders_of_a_hostile_patient_say_their_patient_was_skipped(tmp_path, settings):
    f = write_ndjson(tmp_path / "in.ndjson", [patient(birthDate="1066-10-14"), order()])
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW)
    assert [s.line for s in report.skipped] == [1, 2]
    assert "its Patient was skipped" in report.skipped[1].reason


def test_an_unreadable_file_does_not_stop_the_others(tmp_path, settings, monkeypatch):
    bad = write_ndjson(tmp_path / "a.ndjson", [patient("x")])
    good = write_ndjson(tmp_path / "b.ndjson", [patient(), order()])
    real = Path.open  # the reader streams NDJSON through Path.open (read_bytes goes through it too)

    def open_(self, *args, **kwargs):
        if self.name == "a.ndjson":
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [bad, good], NOW)
    assert [(s.file, s.line) for s in report.skipped] == [(str(bad), None)]
    assert "cannot read the file (Permission denied)" in report.skipped[0].reason
    assert report.files == 1 and counts(db) == {"patients": 1, "medication_requests": 1, "dispenses": 0}


def test_a_row_the_store_refuses_is_rolled_back_alone(tmp_path, settings):
    """Second line of defence behind the value gate: a row SQLite refuses undoes only itself."""
    db = connect(tmp_path / "t.db", STORE_KEY)
    with transaction(db):
        ids, pc = records.upsert_patients(db, [{"fhir_id": "a", "birth_year": 1970, "deceased": 0},
                                               {"fhir_id": "b", "birth_year": 2 ** 70, "deceased": 0},
                                               {"fhir_id": "c", "birth_year": 1980, "deceased": 0}], "2026-11-29")
    assert pc.rejected == {"b": "OverflowError"} and pc.inserted == 2 and set(ids) == {"a", "c"}
    assert [r[0] for r in db.execute("SELECT pseudonym FROM patients ORDER BY id")] == ["P-00001", "P-00002"]


def test_a_mapping_surprise_skips_the_record_not_the_import(tmp_path, settings, monkeypatch):
    from medjobs_tui.fhir import importer

    def boom(res, *args, **kwargs):
        if res["id"] == "h":
            raise ZeroDivisionError("value that must not be shown 12345")
        return real(res, *args, **kwargs)

    real = importer.map_request
    monkeypatch.setattr(importer, "map_request", boom)
    f = write_ndjson(tmp_path / "in.ndjson", [patient(), order("h"), order()])
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW)
    assert [str(s) for s in report.skipped] == [
        f"{f}:2: MedicationRequest (resource): could not be read (ZeroDivisionError); not imported"]
    assert counts(db)["medication_requests"] == 1


def test_dry_run_reports_and_writes_nothing(tmp_path, settings):
    f = write_ndjson(tmp_path / "in.ndjson", [patient(), order(), order("h", authoredOn="9999"), dispense()])
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW, dry_run=True)
    assert report.dry_run and report.patients == 1 and report.orders_new == 1 and report.dispenses_new == 1
    assert len(report.skipped) == 1
    assert report.summary_lines()[0].startswith("DRY RUN: nothing was written")
    assert counts(db) == {"patients": 0, "medication_requests": 0, "dispenses": 0}
    real = import_paths(db, settings, [f], NOW)
    assert (real.patients_new, real.orders_new, real.dispenses_new) == (1, 1, 1)


# ------------------------------------------------------------------------------------------------
# console: audited, failed imports included; CLI --dry-run


def _audit(db) -> list[tuple]:
    return [tuple(r) for r in db.execute("SELECT action, outcome, detail FROM audit_log ORDER BY id")]


def test_every_import_is_audited_failed_and_dry_runs_included(tmp_path, clinic_config, clock):
    from medjobs_tui.console import Actor, Console

    console = Console(load_settings(clinic_config), clock=clock)
    actor = Actor("nurse", "operator")
    f = write_ndjson(tmp_path / "in.ndjson", [patient(), order(), order("h", authoredOn="9999")])
    console.import_fhir(actor, [f], dry_run=True)
    console.import_fhir(actor, [f])
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(FhirImportError):
        console.import_fhir(actor, [tmp_path / "x.csv"])
    rows = _audit(console.db)
    assert [(a, o) for a, o, _ in rows] == [("data.import_dry_run", "ok"), ("data.import", "ok"),
                                          ("data.import", "error")]
    assert json.loads(rows[0][2])["dry_run"] is True and json.loads(rows[1][2])["skipped"] == 1
    assert json.loads(rows[2][2]) == {"error": "FhirImportError", "files": 1}
    console.close()


def test_cli_import_dry_run(tmp_path, clinic_config):
    from click.testing import CliRunner

    from medjobs_tui.cli import main
    from tests.conftest import make_user, password_file

    f = write_ndjson(tmp_path / "in.ndjson", [patient(), order()])
    make_user(load_settings(clinic_config), "nurse", "operator")
    result = CliRunner().invoke(main, ["--config", str(clinic_config), "--user", "nurse", "import", "--dry-run",
                                       str(f)], env={"MEDJOBS_PASSWORD_FILE": str(password_file(tmp_path))})
    assert result.exit_code == 0, result.output
    assert "DRY RUN: nothing was written" in result.output and "Patients: 1 (1 new" in result.output
    db = connect(load_settings(clinic_config).database_path, STORE_KEY)
    assert counts(db)["patients"] == 0


# ------------------------------------------------------------------------------------------------
# property: hostile records never make the import raise, and never keep a good record out

HOSTILE_SCALARS = [
    float("nan"), float("inf"), float("-inf"), 2 ** 63, -(2 ** 63) - 1, 10 ** 30, 1e308, -1e308, 1e-320,
    0, -0.0, -1, -2, 1e9, 2.5, True, False, None, "", " ", "9999-12-31T23:00:00-05:00",
    "0001-01-01T00:00:00+14:00", "2026-02-30", "2026-13-01", "99999", "1e30", "NaN", "\x00", "\ud800x",
    "x" * 5000, [], {}, [[[[]]]], {"value": float("nan")}, {"reference": None}, {"coding": "x"},
    {"value": 10 ** 40, "unit": "d"}, {"start": "9999", "end": "0001"}, ["25:00:00"], ["mon", 1],
]

ORDER_PATHS = [
    ("status",), ("subject",), ("subject", "reference"), ("authoredOn",), ("medicationCodeableConcept",),
    ("medicationCodeableConcept", "coding"), ("medicationReference",), ("contained",), ("dosageInstruction",),
    ("dosageInstruction", 0), ("dosageInstruction", 0, "timing"), ("dosageInstruction", 0, "timing", "code"),
    REPEAT, REPEAT + ("frequency",), REPEAT + ("frequencyMax",), REPEAT + ("period",), REPEAT + ("periodMax",),
    REPEAT + ("periodUnit",), REPEAT + ("timeOfDay",), REPEAT + ("when",), REPEAT + ("dayOfWeek",),
    REPEAT + ("boundsPeriod",), REPEAT + ("boundsDuration",), REPEAT + ("count",), REPEAT + ("offset",),
    ("dosageInstruction", 0, "asNeededBoolean"), ("dosageInstruction", 0, "asNeededCodeableConcept"),
    ("dosageInstruction", 0, "doseAndRate"), ("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity"), DOSE,
    ("dispenseRequest",), ("dispenseRequest", "quantity"), ("dispenseRequest", "quantity", "value"),
    ("dispenseRequest", "numberOfRepeatsAllowed"), ("dispenseRequest", "expectedSupplyDuration"),
    ("dispenseRequest", "expectedSupplyDuration", "value"), ("dispenseRequest", "expectedSupplyDuration", "unit"),
    ("requester",), ("id",), ("resourceType",),
]
PATIENT_PATHS = [("birthDate",), ("deceasedBoolean",), ("deceasedDateTime",), ("id",), ("extension",),
                 ("name",), ("telecom",), ("communication",)]
DISPENSE_PATHS = [("status",), ("quantity",), ("quantity", "value"), ("daysSupply",), ("daysSupply", "value"),
                  ("daysSupply", "unit"), ("whenHandedOver",), ("authorizingPrescription",),
                  ("authorizingPrescription", 0), ("subject",), ("id",)]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
hostile_value = st.sampled_from(HOSTILE_SCALARS) | json_values


@st.composite
def hostile_record(draw, n: int):
    kind = draw(st.sampled_from(["patient", "order", "dispense", "garbage"]))
    if kind == "garbage":
        return draw(json_values), None
    hid = f"h{n}"
    base = {"patient": patient(hid), "order": order(hid, draw(st.sampled_from(["g0", "g1", hid]))),
            "dispense": dispense(hid, draw(st.sampled_from(["g0", "g1", hid])))}[kind]
    paths = {"patient": PATIENT_PATHS, "order": ORDER_PATHS, "dispense": DISPENSE_PATHS}[kind]
    doc = base
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        value = draw(hostile_value)
        if path == ("id",) and isinstance(value, str) and value.startswith("g"):
            value = "h" + value  # a hostile record never takes a good record's id
        try:
            doc = set_path(doc, path, value)
        except (TypeError, IndexError, KeyError, AttributeError):
            pass  # an earlier mutation replaced a parent with a scalar or an empty list
    return doc, kind


def _good_records() -> list[dict]:
    out: list[dict] = []
    for i in range(2):
        out += [patient(f"g{i}"), order(f"g{i}", f"g{i}"), dispense(f"g{i}", f"g{i}")]
    return out


@hsettings(max_examples=150, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_hostile_records_never_break_the_import_and_good_records_always_land(data):
    settings = load_settings(REPO / "config.yaml")
    hostile = [data.draw(hostile_record(n)) for n in range(data.draw(st.integers(1, 8)))]
    good = _good_records()
    lines = [json.dumps(doc) for doc, _ in hostile] + [json.dumps(d) for d in good]
    order_of_lines = data.draw(st.permutations(range(len(lines))))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        f = tmp / "mixed.ndjson"
        f.write_text("\n".join(lines[i] for i in order_of_lines) + "\n")
        bundle = tmp / "bundle.json"
        bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                      "entry": [{"resource": doc} for doc, _ in hostile]}))
        db = connect(tmp / "t.db", STORE_KEY)

        report = import_paths(db, settings, [f, bundle], NOW)  # must never raise

        stored = {t: {r[0] for r in db.execute(f"SELECT fhir_id FROM {t}")} for t in TABLES}
        assert {"g0", "g1"} <= stored["patients"]
        assert {"g0", "g1"} <= stored["medication_requests"]
        assert {"g0", "g1"} <= stored["dispenses"]
        for table in TABLES:
            for row in db.execute(f"SELECT * FROM {table}"):
                for value in row:
                    assert not (isinstance(value, float) and not math.isfinite(value))
        for (text,) in db.execute("SELECT authored_on FROM medication_requests WHERE authored_on IS NOT NULL"):
            assert values.YEAR_MIN - 1 <= int(text[:4]) <= values.YEAR_MAX
        assert all(s.file in (str(f), str(bundle)) for s in report.skipped)
        assert not db.conn.in_transaction
        db.close()


def test_tabs_and_line_breaks_of_narrative_text_are_not_control_characters(tmp_path, settings):
    """FHIR narrative and dosage text carry tabs and CR LF line breaks: those records still land."""
    good = order("n", dosageInstruction=[{**order()["dosageInstruction"][0], "text": "Take 1\ttablet\r\ndaily"}])
    f = write_ndjson(tmp_path / "in.ndjson", [patient(), good])
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW)
    assert report.skipped == []
    assert counts(db)["medication_requests"] == 1


SECRET = "123-45-6789"
"""An identifier-shaped value (an SSN) planted in free-text fields: no warning or reason may repeat it."""


@pytest.mark.parametrize("where, value", [
    (("dosageInstruction", 0, "timing"), {"code": {"coding": [{"code": SECRET}]}}),
    (("dosageInstruction", 0, "timing"), {"code": {"coding": [{"code": SECRET}]}, "repeat": {"frequency": 1}}),
    (("dosageInstruction", 0, "timing", "repeat"), {"when": [SECRET]}),
    (("dosageInstruction", 0, "timing", "repeat"), {"timeOfDay": [SECRET]}),
    (("dosageInstruction", 0, "timing", "repeat"), {"frequency": 1, "period": 1, "periodUnit": SECRET}),
    (("dosageInstruction", 0, "timing", "repeat"), {"dayOfWeek": [SECRET], "frequency": 1, "period": 1,
                                                    "periodUnit": "d"}),
    (("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity"), {"value": 1, "unit": SECRET}),
    (("dispenseRequest", "quantity"), {"value": 30, "unit": SECRET}),
    (("intent",), SECRET),
    (("status",), SECRET),
    (("subject",), {"reference": SECRET}),
    (("medicationReference",), {"reference": SECRET}),
    (("dosageInstruction", 0, "timing", "repeat", "boundsPeriod"), {"start": SECRET}),
])
def test_import_warnings_and_reasons_never_quote_a_value_from_the_data(tmp_path, settings, where, value):
    """The importer promises that its reasons name the field, never its value: a free-text value may be
    anything a person typed, an SSN included. Codes are named only from a fixed vocabulary."""
    doc = set_path(order(), where, value)
    if where == ("medicationReference",):
        doc.pop("medicationCodeableConcept")
    f = write_ndjson(tmp_path / "in.ndjson", [patient(), doc, dispense(quantity={"value": 30, "unit": SECRET})])
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [f], NOW, dry_run=True)
    text = "\n".join(report.summary_lines())
    assert SECRET not in text and "6789" not in text


def test_a_timing_code_with_no_table_row_is_named_only_when_it_is_a_standard_abbreviation(tmp_path, settings):
    """The reviewer's case: a Timing.code holding an SSN was echoed as "no row 123-45-6789 ...". A standard
    TimingAbbreviation the clinic's table lacks is still named (staff need to know which row to add)."""
    free = set_path(order("m1"), ("dosageInstruction", 0, "timing"), {"code": {"coding": [{"code": SECRET}]}})
    known = set_path(order("m2"), ("dosageInstruction", 0, "timing"), {"code": {"coding": [{"code": "QOD"}]}})
    table = settings.clinic.administration_times
    settings = settings.model_copy(deep=True)
    settings.clinic.administration_times.pop("QD", None)                       # QOD's clock times are the QD row
    assert "QD" in table
    f = write_ndjson(tmp_path / "in.ndjson", [patient(), free, known])
    report = import_paths(connect(tmp_path / "t.db", STORE_KEY), settings, [f], NOW, dry_run=True)
    reasons = [w.reason for w in report.warnings]
    assert any("no standard timing abbreviation" in r and "not repeated" in r for r in reasons)
    assert any("no row QD in the clinic's administration-time table" in r for r in reasons)
    assert SECRET not in "\n".join(report.summary_lines())
