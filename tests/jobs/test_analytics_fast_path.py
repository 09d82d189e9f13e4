"""analytics_rollup's fast path gives what the reference path gives.

- Each order's PDC equals the reference: every dispense of the order (``store.clinical.dispenses_by_order``, no
  cut-off), each fill's days supply under the plan, ``_pdc_of`` over them, for one day and for a back-fill, on the
  demo clinic (fills far outside the window, orders with one fill).
- Fills read from ``_fills_since`` on: a fill whose local date is the window's first, in the zones furthest from
  UTC, is read.
- ``clinical.adherence.covered_days`` with the PQA shift (a sum of span lengths) equals counting the covered
  days one by one, for random fills.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from medjobs_tui.clinical import adherence
from medjobs_tui.clinical.dosing import local_to_utc
from medjobs_tui.clock import iso
from medjobs_tui.jobs import analytics_rollup as ar
from medjobs_tui.jobs.medication_reminder import order_plan, order_zone
from medjobs_tui.store import clinical as store
from medjobs_tui.store.db import transaction


def _reference_pdcs(clinic, day: date) -> dict[int, float | None]:
    """order id -> PDC of ``day`` the reference way: all of the order's dispenses, each fill's days supply computed."""
    out = {}
    dispenses = store.dispenses_by_order(clinic.db)
    for order in store.active_orders(clinic.db, store.ORDER_PLAN_COLUMNS):
        if order["deceased"] or order["schedule_status"] != "scheduled":
            continue
        rows = [(d["handed_over_at"], d["quantity"], d["days_supply"]) for d in dispenses.get(order["id"], [])]
        fills = ar._fills(rows, order_plan(order, clinic.settings), order_zone(order, clinic.settings))
        out[order["id"]] = ar._round(ar._pdc_of(fills, day) if len(fills) > 1 else None)
    return out


def test_each_orders_pdc_equals_the_reference_for_a_day_and_a_back_fill(clinic):
    with transaction(clinic.db):
        # a fill long before any PDC window (not read by the fast path, but counted as a fill)
        order = clinic.rows("SELECT id, patient_id FROM medication_requests WHERE status = 'active'"
                            " AND schedule_status = 'scheduled' ORDER BY id LIMIT 1")[0]
        store.insert_dispense(clinic.db, medication_request_id=order["id"], patient_id=order["patient_id"],
                              quantity=30.0, days_supply=30.0, handed_over_at="2025-01-05T15:00:00+00:00",
                              created_at="2025-01-05T15:00:00+00:00")
    summary = clinic.run("analytics_rollup", days=40)
    last = date.fromisoformat(summary["day"])
    checked = 0
    for day in (last, last - timedelta(days=17), last - timedelta(days=39)):
        expected = _reference_pdcs(clinic, day)
        found = {r["medication_request_id"]: r["pdc_pct"]
                 for r in store.analytics_day(clinic.db, day.isoformat())["adherence"]}
        assert found and all(found[k] == expected[k] for k in found)
        checked += sum(1 for v in found.values() if v is not None)
    assert checked > 0                                  # PDCs were compared, not only NULLs


def test_fills_are_read_from_early_enough_for_every_zone():
    day = date(2026, 6, 30)
    window_start = day - timedelta(days=ar.PDC_WINDOW_DAYS - 1)
    since = ar._fills_since(day)
    for name in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York", "Asia/Kolkata"):
        # the first instant of the window's first local date in that zone is read
        first = local_to_utc(window_start, time(0, 0), ZoneInfo(name))
        assert since <= iso(first)
    assert since <= iso(datetime.combine(window_start, time(0, 0), tzinfo=timezone.utc) - timedelta(hours=14))


FILL = st.tuples(st.integers(0, 120), st.integers(-5, 40))


@settings(max_examples=300, deadline=None)
@given(fills=st.lists(FILL, max_size=8), start=st.integers(0, 60), length=st.integers(0, 100))
def test_shifted_coverage_is_the_days_counted_one_by_one(fills, start, length):
    base = date(2026, 1, 1)
    given_fills = [adherence.Fill(fill_date=base + timedelta(days=d), days_supply=n) for d, n in fills]
    period_start, period_end = base + timedelta(days=start), base + timedelta(days=start + length)
    covered: set[date] = set()
    for a, b in adherence.shifted_periods(given_fills):
        d = a
        while d <= b:
            if period_start <= d <= period_end:
                covered.add(d)
            d += timedelta(days=1)
    assert adherence.covered_days(given_fills, period_start, period_end) == len(covered)
