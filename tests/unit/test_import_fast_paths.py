"""The import's fast paths give the same answers as the careful ones (issue 10 item 3):

- a line orjson parses is walked for unstorable values only when its bytes could hold one
  (``values.plain_json``): raw control characters (DEL, C1), escapes (\\b, \\f, \\uXXXX) and whole numbers of
  19 digits or more still reach the careful walk and are reported with their JSON path;
- orders with the same dosage instructions share one reading (``mapping.map_dosage`` memo), and the row an
  order gets is the row it gets without the memo, whatever its start, for every kind of instruction;
- a file whose lines pass 1 found all of one pass's type is not read again by the other passes.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from medjobs_tui.fhir import import_paths, reader, values
from medjobs_tui.fhir.mapping import map_dosage
from medjobs_tui.store import connect
from tests.conftest import STORE_KEY
from tests.unit.test_import_hostile import NOW, counts, dispense, order, patient, settings, write_ndjson  # noqa: F401


def _raw_line(doc: dict) -> str:
    """A line as an exporter that writes UTF-8 as is (not \\u escapes) writes it."""
    return json.dumps(doc, ensure_ascii=False)


RAW_HOSTILE = [
    ("raw C1 control (CSI) in a medication name", order("h", medicationCodeableConcept={"text": "a\u009b2Jb"}),
     "medicationCodeableConcept.text: text with control characters"),
    ("raw DEL in a status", order("h", status="act\u007five"), "status: text with control characters"),
    ("2**63 (orjson reads it as a whole number)", order("h", dispenseRequest={"numberOfRepeatsAllowed": 2 ** 63}),
     "dispenseRequest.numberOfRepeatsAllowed: a whole number beyond 64 bits"),
    ("2**64 + 1 (orjson reads it as a float)", patient("h", extension=[{"url": "x", "valueInteger": 2 ** 64 + 1}]),
     "extension[0].valueInteger: a whole number beyond 64 bits"),
    ("-(2**63) - 1", patient("h", extension=[{"url": "x", "valueInteger": -(2 ** 63) - 1}]),
     "extension[0].valueInteger: a whole number beyond 64 bits"),
    ("escape code as \\u001b", order("h", medicationCodeableConcept={"text": "\u001b[2J"}),
     "medicationCodeableConcept.text: text with control characters"),
    ("backspace as \\b", order("h", note=[{"text": "x\by"}]), "note[0].text: text with control characters"),
    ("form feed as \\f", order("h", note=[{"text": "x\fy"}]), "note[0].text: text with control characters"),
]


@pytest.mark.parametrize("name, bad, reason", RAW_HOSTILE, ids=[r[0] for r in RAW_HOSTILE])
def test_values_orjson_lets_through_are_still_reported_with_their_path(tmp_path, settings, name, bad, reason):
    f = tmp_path / "in.ndjson"
    f.write_text("\n".join(_raw_line(d) for d in [patient(), bad, order(), dispense()]) + "\n", encoding="utf-8")
    db = connect(tmp_path / "t.db", STORE_KEY)

    report = import_paths(db, settings, [f], NOW)

    assert [(s.line, reason in s.reason) for s in report.skipped] == [(2, True)], [str(s) for s in report.skipped]
    assert counts(db) == {"patients": 1, "medication_requests": 1, "dispenses": 1}


def test_plain_json_passes_ordinary_export_lines_and_stops_at_each_risky_pattern():
    ordinary = json.dumps(order("m", note=[{"text": "Take 1\ttablet\r\ndaily, 10 µg"}]), ensure_ascii=False)
    assert values.plain_json(ordinary.encode())
    assert values.plain_json(b'{"a": "\\n\\t\\r\\/\\"", "b": 123456789012345678, "c": "caf\xc3\xa9"}')
    for risky in (b'"\\u0007"', b'"\\b"', b'"\\f"', '"\x7f"'.encode(), '"\x85"'.encode(), b"1234567890123456789",
                  b"-9223372036854775809", b'"id-0000000000000000000"'):
        assert not values.plain_json(risky), risky


def test_a_storable_found_skips_only_the_walk_never_the_semantic_rules():
    doc = order("m", authoredOn="9999-01-01")
    assert values.resource_problems("MedicationRequest", doc, storable=True) == [
        ("authoredOn", "a date outside the years 1900-2200")]
    found = reader.ReadResult()
    reader.read_ndjson_line("f", 1, json.dumps(doc).encode(), found)
    assert found.resources[0].storable
    reader.read_ndjson_line("f", 2, json.dumps(order("m", status="\u001b")).encode(), found)
    assert not found.resources[1].storable


# ------------------------------------------------------------------------------------------------
# dosage memo: same rows with and without it

REPEAT = {"frequency": 1, "period": 1, "periodUnit": "d"}
DOSAGES = [
    None,
    [],
    [{"timing": {"repeat": REPEAT}, "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}],
    [{"timing": {"repeat": {**REPEAT, "frequency": 2}}}],
    [{"timing": {"repeat": {**REPEAT, "timeOfDay": ["08:00", "20:00"]}}}],
    [{"timing": {"repeat": {**REPEAT, "boundsPeriod": {"end": "2026-12-31"}}}}],
    [{"timing": {"repeat": {**REPEAT, "boundsPeriod": {"start": "2026-10-01", "end": "2026-12-31"}}}}],
    [{"timing": {"repeat": {**REPEAT, "boundsDuration": {"value": 10, "code": "d"}}}}],
    [{"timing": {"repeat": {**REPEAT, "count": 5}}}],
    [{"timing": {"repeat": {"frequency": 1, "period": 2, "periodUnit": "d"}}}],
    [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk", "dayOfWeek": ["mon", "thu"]}}}],
    [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "mo"}}}],
    [{"timing": {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}}}],
    [{"sequence": 1, "timing": {"repeat": {**REPEAT, "frequency": 3, "boundsDuration": {"value": 3, "code": "d"}}}},
     {"sequence": 2, "timing": {"repeat": {**REPEAT, "boundsDuration": {"value": 3, "code": "d"}}}}],
    [{"sequence": 1, "timing": {"repeat": REPEAT}}, {"sequence": 2, "timing": {"repeat": REPEAT}}],
    [{"asNeededBoolean": True, "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "puff"}}]}],
    [{"timing": {"repeat": REPEAT}}, {"asNeededBoolean": True}],
    [{"timing": {"code": {"coding": [{"code": "BID"}]}}}],
    [{"timing": {"repeat": {"frequency": 2, "period": 3, "periodUnit": "d"}}}],
    [{"text": "take as needed for pain"}],
    [{"timing": {"repeat": {**REPEAT, "when": ["ACM"], "offset": 30}}}],
]
STARTS = [None, datetime(2026, 11, 1, 14, 0, tzinfo=timezone.utc), datetime(2026, 3, 8, 7, 30, 15, tzinfo=timezone.utc),
          datetime(2025, 12, 31, 23, 59, 59, 250000, tzinfo=timezone.utc)]


@pytest.mark.parametrize("dosages", DOSAGES, ids=[f"dosage{i}" for i in range(len(DOSAGES))])
def test_the_dosage_memo_gives_each_order_the_row_it_gets_without_it(settings, dosages):
    memo: dict = {}
    for start in STARTS * 2:   # the second round reads everything from the memo
        alone = map_dosage(copy.deepcopy(dosages), settings, start)
        remembered = map_dosage(copy.deepcopy(dosages), settings, start, memo)
        assert (remembered.row, remembered.warnings) == (alone.row, alone.warnings), start
    assert len(memo) == 1   # one reading for every start


def test_orders_sharing_instructions_get_their_own_start_in_the_store(tmp_path, settings):
    lines = [patient()] + [order(f"m{i}", authoredOn=(datetime(2026, 11, 1, 9, tzinfo=timezone.utc)
                                                      + timedelta(days=i)).isoformat()) for i in range(3)]
    f = write_ndjson(tmp_path / "in.ndjson", lines)
    db = connect(tmp_path / "t.db", STORE_KEY)
    assert import_paths(db, settings, [f], NOW).skipped == []
    plans = [json.loads(p)["steps"][0]["start"] for (p,) in
             db.execute("SELECT dose_plan FROM medication_requests ORDER BY fhir_id")]
    assert plans == ["2026-11-01T09:00:00+00:00", "2026-11-02T09:00:00+00:00", "2026-11-03T09:00:00+00:00"]


# ------------------------------------------------------------------------------------------------
# passes: a file is read again only by a pass that has lines in it


def test_a_file_of_one_type_is_read_only_by_the_passes_that_need_it(tmp_path, settings, monkeypatch):
    folder = tmp_path / "export"
    folder.mkdir()
    write_ndjson(folder / "Patient.ndjson", [patient(f"p{i}") for i in range(3)])
    write_ndjson(folder / "MedicationRequest.ndjson", [order(f"m{i}", f"p{i}") for i in range(3)])
    write_ndjson(folder / "MedicationDispense.ndjson", [dispense(f"d{i}", f"m{i}") for i in range(3)])
    write_ndjson(folder / "mixed.ndjson", [patient("q"), order("mq", "q"), dispense("dq", "mq")])
    reads: list[str] = []
    real = reader.ndjson_lines

    def counting(path: Path):
        reads.append(path.name)
        return real(path)

    monkeypatch.setattr("medjobs_tui.fhir.importer.ndjson_lines", counting)
    db = connect(tmp_path / "t.db", STORE_KEY)
    report = import_paths(db, settings, [folder], NOW)
    assert report.skipped == [] and counts(db) == {"patients": 4, "medication_requests": 4, "dispenses": 4}
    assert sorted(reads) == sorted(["MedicationDispense.ndjson"] * 2 + ["MedicationRequest.ndjson"] * 2
                                   + ["Patient.ndjson"] + ["mixed.ndjson"] * 3)
