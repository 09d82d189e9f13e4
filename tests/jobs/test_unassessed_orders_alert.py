"""A supply monitor or refill check run that could not assess some orders (``orders_failed``) goes on, but does
not pass for a clean success: it raises the job's ``orders_unassessed`` staff alert naming the job, the run and the
orders by number only, bumped by each such run and resolved by the first run of that job that assesses every order.
Found by a reviewer: a run with failed orders looked like any other succeeded run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from medjobs_tui.jobs import refill_check, supply_monitor
from tests.jobs.conftest import NOW


def _fail_orders(monkeypatch, orders: set[int]) -> None:
    real = supply_monitor.assess_order

    def assess(o, *args, **kwargs):
        if o["id"] in orders:
            raise OverflowError("date value out of range")
        return real(o, *args, **kwargs)

    monkeypatch.setattr(supply_monitor, "assess_order", assess)
    monkeypatch.setattr(refill_check, "assess_order", assess)


def _scheduled(clinic, n: int) -> list[int]:
    return [r["id"] for r in clinic.rows(
        "SELECT mr.id FROM medication_requests mr JOIN patients p ON p.id = mr.patient_id WHERE p.deceased = 0"
        " AND mr.status = 'active' AND mr.schedule_status = 'scheduled' AND mr.dose_quantity > 0 ORDER BY mr.id"
        " LIMIT ?", [n])]


def _alerts(clinic, job: str) -> list[dict]:
    return clinic.rows("SELECT * FROM alerts WHERE kind = 'orders_unassessed' AND job_name = ? ORDER BY id", [job])


@pytest.mark.parametrize("job", ["supply_monitor", "refill_check"])
def test_a_run_with_unassessed_orders_alerts_staff_and_a_clean_run_resolves_it(clinic, job, monkeypatch):
    failing = _scheduled(clinic, 2)
    _fail_orders(monkeypatch, set(failing))
    summary = clinic.run(job, run_id=41)
    assert summary["orders_failed"] == 2 and summary["unassessed_alert"] == "opened"
    [alert] = _alerts(clinic, job)
    assert alert["state"] == "open" and alert["scope"] == f"job {job}" and alert["severity"] == "high"
    assert alert["summary"] == (f"run 41 of job {job}: supply of 2 order(s) could not be assessed "
                                f"(orders {failing[0]} {failing[1]})")
    notice = clinic.rows("SELECT message FROM notifications WHERE idempotency_key = ?", [f"alert_opened:{alert['id']}"])
    assert len(notice) == 1 and "run 41" in notice[0]["message"]
    pseudonyms = {r["pseudonym"] for r in clinic.rows("SELECT pseudonym FROM patients")}
    assert not any(p in alert["summary"] or p in notice[0]["message"] for p in pseudonyms)   # order numbers only

    assert clinic.run(job, NOW + timedelta(hours=1), run_id=42)["unassessed_alert"] == "bumped"
    assert _alerts(clinic, job)[0]["count"] == 2 and "run 42" in _alerts(clinic, job)[0]["summary"]

    monkeypatch.undo()
    summary = clinic.run(job, NOW + timedelta(hours=2), run_id=43)
    assert summary["orders_failed"] == 0 and summary["unassessed_alert"] == "resolved"
    [alert] = _alerts(clinic, job)
    assert alert["state"] == "resolved" and alert["resolved_reason"] == f"run 43 of job {job} assessed every order"
    assert clinic.run(job, NOW + timedelta(hours=3), run_id=44)["unassessed_alert"] is None


def test_the_alert_names_a_few_orders_and_counts_the_rest(clinic, monkeypatch):
    failing = _scheduled(clinic, 9)
    _fail_orders(monkeypatch, set(failing))
    clinic.run("supply_monitor", run_id=7)
    [alert] = _alerts(clinic, "supply_monitor")
    assert alert["summary"].endswith(f"(orders {' '.join(map(str, failing[:6]))} and 3 more)")


def test_every_unassessed_order_keeps_its_supply_row_even_beyond_those_named(clinic, monkeypatch):
    """Found while adding the alert: only the first FAILED_ORDERS_NAMED failed orders were kept, so the 21st
    failing order's supply row was pruned and its critical-supply alert resolved as "no longer active"."""
    clinic.run("supply_monitor")
    every = _scheduled(clinic, supply_monitor.FAILED_ORDERS_NAMED + 3)
    before = {r["medication_request_id"] for r in clinic.rows("SELECT medication_request_id FROM supply_status")}
    assert set(every) <= before
    _fail_orders(monkeypatch, set(every))
    summary = clinic.run("supply_monitor", NOW + timedelta(hours=1))
    assert summary["orders_failed"] == len(every) and len(summary["failed_orders"]) == supply_monitor.FAILED_ORDERS_NAMED
    after = {r["medication_request_id"] for r in clinic.rows("SELECT medication_request_id FROM supply_status")}
    assert set(every) <= after
