"""Reminder preferences from FHIR: the best-ranked Patient.telecom system becomes the preferred channel when
the clinic has a patient channel of that name; staff-set preferences are never overwritten by an import."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from medjobs_tui.config import load_settings
from medjobs_tui.fhir import import_paths
from medjobs_tui.fhir.preferences import preferred_channel
from medjobs_tui.store import connect, transaction
from medjobs_tui.store import preferences as store_prefs
from tests.conftest import STORE_KEY, write_config

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
CHANNELS = ["sms", "email"]


def test_the_lowest_rank_wins_and_its_value_is_never_read():
    p = {"telecom": [{"system": "email", "value": "x@example.org", "rank": 2},
                     {"system": "sms", "value": "555", "rank": 1}, {"system": "phone", "value": "556"}]}
    assert preferred_channel(p, CHANNELS, NOW) == "sms"


def test_no_rank_no_preference_and_unknown_channel_ignored():
    assert preferred_channel({"telecom": [{"system": "sms", "value": "555"}]}, CHANNELS, NOW) is None
    assert preferred_channel({"telecom": [{"system": "phone", "rank": 1}]}, CHANNELS, NOW) is None
    assert preferred_channel({"telecom": "junk"}, CHANNELS, NOW) is None
    assert preferred_channel({}, CHANNELS, NOW) is None


def test_an_ended_contact_point_is_not_used():
    p = {"telecom": [{"system": "sms", "rank": 1, "period": {"end": "2020-01-01"}},
                     {"system": "email", "rank": 2}]}
    assert preferred_channel(p, CHANNELS, NOW) == "email"


def test_import_sets_the_channel_but_never_over_staff(tmp_path):
    settings = load_settings(write_config(tmp_path, notifications={"channels": {
        "sms": {"url": "json://localhost:9/hook", "audience": ["patient"]}}}))
    f = tmp_path / "p.ndjson"
    f.write_text("\n".join(json.dumps({"resourceType": "Patient", "id": pid, "telecom": [
        {"system": "sms", "value": "555-0100", "rank": 1}]}) for pid in ("a", "b")) + "\n")
    db = connect(settings.database_path, STORE_KEY)
    with transaction(db):
        db.execute("INSERT INTO patients (pseudonym, fhir_id, source, created_at, updated_at)"
                   " VALUES ('P-00001', 'b', 'fhir', 'x', 'x')")
        store_prefs.set_preferences(db, 1, {"channel": "inbox"}, source="staff", at="x", by="nurse")

    report = import_paths(db, settings, [f], NOW)

    assert report.preferences == 1
    prefs = {pseudonym: (channel, source) for pseudonym, channel, source in db.execute(
        "SELECT p.pseudonym, pp.channel, pp.source FROM patient_preferences pp JOIN patients p ON p.id = pp.patient_id")}
    assert prefs == {"P-00001": ("inbox", "staff"), "P-00002": ("sms", "fhir")}
    assert "555-0100" not in json.dumps([list(r) for r in db.execute("SELECT * FROM patient_preferences")])
    assert import_paths(db, settings, [f], NOW).preferences == 0  # unchanged on re-import
