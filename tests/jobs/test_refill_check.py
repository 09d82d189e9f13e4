"""refill_check on the demo clinic: refill notices to patients, renewals to prescribers, once per fill."""

from __future__ import annotations

from datetime import timedelta

from tests.jobs.conftest import NOW


def test_renewal_goes_to_prescriber_when_no_fills_left(clinic):
    summary = clinic.run("refill_check")
    assert summary["renewal_needed"] >= len(clinic.report.renewal_orders) > 0
    for order_id in clinic.report.renewal_orders:
        rows = clinic.rows("SELECT kind, audience, message FROM notifications WHERE medication_request_id = ?"
                           " AND kind IN ('refill_due', 'renewal_needed')", [order_id])
        assert [(r["kind"], r["audience"]) for r in rows] == [("renewal_needed", "prescriber")]
        assert "no fills left" in rows[0]["message"]


def test_refill_due_goes_to_the_patient_with_fills_left(clinic):
    summary = clinic.run("refill_check")
    assert summary["refill_due"] > 0
    rows = clinic.rows("SELECT n.audience, mr.repeats_allowed,"
                       " (SELECT count(*) FROM dispenses d WHERE d.medication_request_id = mr.id) AS fills"
                       " FROM notifications n JOIN medication_requests mr ON mr.id = n.medication_request_id"
                       " WHERE n.kind = 'refill_due'")
    assert rows and {r["audience"] for r in rows} == {"patient"}
    assert all(r["repeats_allowed"] - (r["fills"] - 1) > 0 for r in rows)


def test_one_notice_per_fill_not_per_day(clinic):
    first = clinic.run("refill_check")
    assert first["notices_queued"] > 0
    assert clinic.run("refill_check", now=NOW + timedelta(hours=1), run_id=2)["notices_queued"] == 0
    # a day later the same orders are still due, with the same fill: no second notice (new ones may be due)
    next_day = clinic.run("refill_check", now=NOW + timedelta(days=1), run_id=3)
    assert next_day["notices_already_sent"] == first["notices_queued"]
    rows = clinic.rows("SELECT medication_request_id, idempotency_key FROM notifications"
                       " WHERE kind IN ('refill_due', 'renewal_needed')")
    assert all(":fill" in r["idempotency_key"] for r in rows)
    assert len(rows) == len({r["medication_request_id"] for r in rows}) == first["notices_queued"] + next_day[
        "notices_queued"]


def test_unknown_supply_gets_no_notice(clinic):
    summary = clinic.run("refill_check")
    assert summary["supply_unknown"] > 0
    assert clinic.scalar(
        "SELECT count(*) FROM notifications n WHERE n.kind IN ('refill_due', 'renewal_needed') AND"
        " n.medication_request_id NOT IN (SELECT medication_request_id FROM dispenses) AND"
        " n.medication_request_id NOT IN (SELECT medication_request_id FROM supply_counts)") == 0


def test_prn_and_deceased_orders_are_not_checked(clinic):
    summary = clinic.run("refill_check")
    assert summary["not_scheduled_skipped"] > 0 and summary["deceased_skipped"] > 0
    assert clinic.scalar(
        "SELECT count(*) FROM notifications n JOIN medication_requests mr ON mr.id = n.medication_request_id"
        " JOIN patients p ON p.id = mr.patient_id WHERE n.kind IN ('refill_due', 'renewal_needed')"
        " AND (mr.schedule_status != 'scheduled' OR p.deceased = 1)") == 0
