"""The alerts the clinical jobs keep: critical supply (opened per critical order, resolved when refilled) and
major interactions (opened per patient and pair of orders, resolved when the pair leaves the medication list).
Pseudonyms and ids only in the alerts and their notices."""

from __future__ import annotations

import re
from datetime import timedelta

from medjobs_tui.clock import iso
from medjobs_tui.store import clinical as store
from medjobs_tui.store.db import transaction
from tests.jobs.conftest import NOW

SCOPE = re.compile(r"^orders? [\d+]+ \(P-\d+\)$")


def _alerts(clinic, kind):
    return clinic.rows("SELECT * FROM alerts WHERE kind = ? ORDER BY id", [kind])


def _no_names(clinic, texts):
    names = [r["fhir_id"] for r in clinic.rows("SELECT fhir_id FROM patients WHERE fhir_id IS NOT NULL")]
    products = [r["medication_text"] for r in clinic.rows("SELECT medication_text FROM medication_requests")]
    for text in texts:
        assert not any(n and n in text for n in names)
        assert not any(p in text for p in products)


def test_a_critical_order_opens_one_supply_alert_and_a_refill_resolves_it(clinic):
    summary = clinic.run("supply_monitor")
    alerts = _alerts(clinic, "supply_critical")
    assert summary["critical"] > 0 and summary["alerts_opened"] == len(alerts) == summary["critical"]
    assert all(SCOPE.match(a["scope"]) and a["state"] == "open" and a["count"] == 1 for a in alerts)
    _no_names(clinic, [a["summary"] for a in alerts] + [a["scope"] for a in alerts])
    # the next run the same day sees the same orders: no new row, no new count; the next day counts once more
    clinic.run("supply_monitor", now=NOW + timedelta(hours=1))
    assert [a["count"] for a in _alerts(clinic, "supply_critical")] == [1] * len(alerts)
    clinic.run("supply_monitor", now=NOW + timedelta(days=1))
    first_ids = {a["id"] for a in alerts}
    next_day = [a for a in _alerts(clinic, "supply_critical") if a["id"] in first_ids and a["state"] == "open"]
    assert next_day and all(a["count"] == 2 for a in next_day)
    alerts = next_day

    scheduled = {r["medication_request_id"] for r in clinic.rows(
        "SELECT medication_request_id FROM supply_status WHERE daily_usage IS NOT NULL")}   # a count tells their supply
    refilled = next(a for a in alerts if int(a["scope"].split()[1]) in scheduled)
    order_id = int(refilled["scope"].split()[1])
    later = NOW + timedelta(days=1, hours=2)
    with transaction(clinic.db):
        store.insert_supply_count(clinic.db, medication_request_id=order_id, quantity=200.0, counted_at=iso(later),
                                  source="staff")
    after = clinic.run("supply_monitor", now=later)
    row = clinic.rows("SELECT * FROM alerts WHERE id = ?", [refilled["id"]])[0]
    assert row["state"] == "resolved" and row["resolved_at"] == iso(later)
    assert row["resolved_reason"].startswith(f"supply refilled: order {order_id} has ")
    assert after["alerts_resolved"] >= 1
    notice = clinic.rows("SELECT audience, message FROM notifications WHERE idempotency_key = ?",
                         [f"alert_resolved:{refilled['id']}"])
    assert len(notice) == 1 and notice[0]["audience"] == "staff" and "supply refilled" in notice[0]["message"]
    _no_names(clinic, [notice[0]["message"]])
    # the opening notice is the job's own supply_critical one: no second notice
    assert clinic.scalar("SELECT count(*) FROM notifications WHERE idempotency_key LIKE 'alert_opened:%'") == 0


def test_an_order_no_longer_active_resolves_its_supply_alert(clinic):
    clinic.run("supply_monitor")
    alert = _alerts(clinic, "supply_critical")[0]
    order_id = int(alert["scope"].split()[1])
    clinic.db.execute("UPDATE medication_requests SET status = 'stopped' WHERE id = ?", [order_id])
    clinic.run("supply_monitor", now=NOW + timedelta(hours=1))
    row = clinic.rows("SELECT * FROM alerts WHERE id = ?", [alert["id"]])[0]
    assert (row["state"], row["resolved_reason"]) == ("resolved", f"order {order_id} is no longer active")


def test_a_major_interaction_opens_an_alert_per_patient_and_pair_resolved_when_the_pair_is_gone(clinic):
    seeded = clinic.report.interacting_patients
    summary = clinic.run("interaction_check")
    alerts = _alerts(clinic, "interaction_major")
    assert len(alerts) == summary["by_severity"]["contraindicated"] + summary["by_severity"]["major"] == 3
    assert {a["scope"].split("(")[1].rstrip(")") for a in alerts} == set(seeded.values())
    assert all(SCOPE.match(a["scope"]) and a["severity"] == "critical" for a in alerts)   # contraindicated
    assert all("contraindicated interaction" in a["summary"] for a in alerts)
    _no_names(clinic, [a["summary"] for a in alerts])
    clinic.run("interaction_check", now=NOW + timedelta(hours=1))
    assert [(a["id"], a["count"], a["state"]) for a in _alerts(clinic, "interaction_major")] == [
        (a["id"], 1, "open") for a in alerts]

    gone = alerts[0]
    first_order = int(gone["scope"].split()[1].split("+")[0])
    clinic.db.execute("UPDATE medication_requests SET status = 'stopped' WHERE id = ?", [first_order])
    again = clinic.run("interaction_check", now=NOW + timedelta(hours=2))
    assert again["major_alerts_resolved"] == 1
    row = clinic.rows("SELECT * FROM alerts WHERE id = ?", [gone["id"]])[0]
    assert row["state"] == "resolved"
    assert row["resolved_reason"].endswith("the interacting pair is no longer on the active medication list")
    assert [a["state"] for a in _alerts(clinic, "interaction_major")[1:]] == ["open", "open"]
