"""A MedicationRequest that is no order to give its medication (FHIR R4: ``doNotPerform`` true, a modifier element;
an ``intent`` of proposal, plan, directive or option) is imported with a warning and never acted on: no reminder,
no supply or refill check, no interaction. Found by a clinical reviewer: both were reminded like a prescription."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from medjobs_tui.config import load_settings
from medjobs_tui.fhir import import_paths
from medjobs_tui.jobs import get_handler
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.store import connect
from medjobs_tui.store import clinical as store_clinical
from tests.conftest import STORE_KEY, write_config

NOW = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)


def order(oid: str, **extra) -> dict:
    return {"resourceType": "MedicationRequest", "id": oid, "status": "active", "intent": "order",
            "subject": {"reference": "Patient/p"}, "authoredOn": "2026-11-01",
            "medicationCodeableConcept": {"text": "Lisinopril 10 MG Oral Tablet"},
            "dispenseRequest": {"quantity": {"value": 30}},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": 1}}]}], **extra}


@pytest.mark.parametrize("extra, path", [({"doNotPerform": True}, "doNotPerform"), ({"intent": "proposal"}, "intent"),
                                         ({"intent": "plan"}, "intent"), ({"intent": "option"}, "intent")])
def test_a_request_that_is_no_order_to_give_is_never_acted_on(tmp_path, extra, path):
    settings = load_settings(write_config(tmp_path))
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path, STORE_KEY)
    f = tmp_path / "in.ndjson"
    f.write_text("".join(json.dumps(r) + "\n" for r in (
        {"resourceType": "Patient", "id": "p"}, order("given"), order("not-given", **extra))))
    report = import_paths(db, settings, [f], NOW)
    assert report.orders == 2 and [w.line for w in report.warnings if f"MedicationRequest {path}" in w.reason] == [3]
    assert {r[0]: r[1] for r in db.execute("SELECT fhir_id, schedule_status FROM medication_requests")} == {
        "given": "scheduled", "not-given": "inactive"}
    assert [o["fhir_id"] for o in store_clinical.active_orders(db)] == ["given"]   # what every job reads
    for name in ("medication_reminder", "supply_monitor", "refill_check"):
        job = settings.jobs[name]
        summary = get_handler(job.job_type)(JobContext(db=db, settings=settings, job_name=name, job=job, now=NOW))
        assert summary.get("orders_checked", 1) <= 1, (name, summary)
    db.close()


def test_the_import_report_counts_an_active_order_not_to_give_apart_from_the_active_ones(tmp_path):
    """Found by a reviewer: an active doNotPerform request was counted among the active orders."""
    settings = load_settings(write_config(tmp_path))
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path, STORE_KEY)
    f = tmp_path / "in.ndjson"
    f.write_text("".join(json.dumps(r) + "\n" for r in (
        {"resourceType": "Patient", "id": "p"}, order("given"), order("do-not", doNotPerform=True),
        order("proposed", intent="proposal"), order("stopped", status="stopped"),
        order("stopped-do-not", status="stopped", doNotPerform=True))))
    for dry_run in (True, False):
        report = import_paths(db, settings, [f], NOW, dry_run=dry_run)
        assert (report.orders_active, report.orders_not_to_give, report.orders_stopped) == (1, 2, 2)
        assert report.orders == 5                              # every request once: active + not to give + stopped
        assert "Medication requests: 5 (1 active, 2 active but not to give, 2 stopped or other status;" in (
            "\n".join(report.summary_lines()))
        assert report.as_dict()["orders_not_to_give"] == 2
    db.close()
