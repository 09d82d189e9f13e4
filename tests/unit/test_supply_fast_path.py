"""The supply jobs' fast path gives what the reference path gives.

- ``store.clinical.fill_summaries`` (the fills summarised in SQL) equals the ``clinical.supply.FillSummary`` that
  ``assess_supply`` makes of the dispenses ``store.clinical.dispenses_by_order`` lists and the staff count
  ``latest_supply_counts`` gives, for random dispenses (same instants, NULL quantities, counts before, between
  and after fills); so ``assess_order`` on it equals ``assess_supply`` on the fills.
- The shared dose-day tables of ``clinical.dosing.DailySeries`` (memoised look-ups shared by every order with the
  same clock times and zone) answer as a fresh enumeration does, in any order of questions, exact dose instants
  included (where "at or after" and "after" differ).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from medjobs_tui.clinical.dosing import DailySeries, DosePlan, Step, step_doses
from medjobs_tui.clinical.supply import Count, Fill, assess_supply, plan_usage
from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.jobs.medication_reminder import order_plan, order_zone
from medjobs_tui.jobs.supply_monitor import assess_order
from medjobs_tui.store import clinical as store
from medjobs_tui.store import connect, transaction
from tests.conftest import STORE_KEY

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORDERS = 3

DISPENSE = st.tuples(st.integers(0, ORDERS - 1), st.integers(0, 12),              # order, hour (ties likely)
                     st.sampled_from([None, 10.0, 30.0, 0.5, 60.0]), st.sampled_from([None, 7.0, 30.0]),
                     st.booleans())                                                  # handed over (else NULL)
COUNT = st.tuples(st.integers(0, ORDERS - 1), st.integers(0, 12), st.sampled_from([0.0, 5.0, 12.5]))


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fills")
    db = connect(folder / "store.db", STORE_KEY)
    with transaction(db):
        pid = store.insert_patient(db, pseudonym="P-00001", source="demo", birth_year=1950, deceased=False,
                                   timezone=None, reminders_opt_out=False, created_at=iso(T0))
        for _ in range(ORDERS):
            store.insert_medication_request(
                db, fhir_id=None, patient_id=pid, status="active", schedule_status="scheduled", timing_code="BID",
                medication_text="Metformin 500 MG Oral Tablet",
                times_of_day=["08:00", "20:00"], dose_quantity=1.0, dose_unit="tablet", authored_on=iso(T0),
                created_at=iso(T0), updated_at=iso(T0), dispense_quantity=60.0, expected_supply_days=30.0)
    yield db
    db.close()


def _reference(db) -> dict[int, tuple]:
    counts = store.latest_supply_counts(db)
    out = {}
    for mr, rows in store.dispenses_by_order(db).items():
        fills = sorted((Fill(at=parse_iso(r["handed_over_at"]), quantity=r["quantity"], days_supply=r["days_supply"])
                        for r in rows), key=lambda f: f.at)
        c = counts.get(mr)
        added = sum(f.quantity or 0.0 for f in fills if f.at > parse_iso(c["counted_at"])) if c else 0.0
        out[mr] = (len(fills), fills[-1], added)
    return out


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dispenses=st.lists(DISPENSE, max_size=12), counts=st.lists(COUNT, max_size=5))
def test_fill_summaries_in_sql_equal_the_fills_summarised_in_python(db, dispenses, counts):
    ids = [r[0] for r in db.execute("SELECT id FROM medication_requests ORDER BY id").fetchall()]
    pid = db.execute("SELECT id FROM patients").fetchone()[0]
    with transaction(db):
        db.execute("DELETE FROM dispenses")
        db.execute("DELETE FROM supply_counts")
        for order, hour, quantity, days, handed in dispenses:
            store.insert_dispense(db, medication_request_id=ids[order], patient_id=pid, quantity=quantity,
                                  days_supply=days, handed_over_at=iso(T0 + timedelta(hours=hour)) if handed else None,
                                  created_at=iso(T0))
        for order, hour, quantity in counts:
            store.insert_supply_count(db, medication_request_id=ids[order], quantity=quantity,
                                      counted_at=iso(T0 + timedelta(hours=hour)))
    found = store.fill_summaries(db)
    expected = _reference(db)
    assert set(found) == set(expected)
    for mr, (n, last, added) in expected.items():
        f = found[mr]
        assert (f["fills"], parse_iso(f["handed_over_at"]), f["quantity"], f["days_supply"]) == \
            (n, last.at, last.quantity, last.days_supply)
        assert sum(q or 0.0 for q in f["added"]) == added
    # and the job's assessment from the summaries is assess_supply's from the fills, for every order
    supply_counts = store.latest_supply_counts(db)
    now = T0 + timedelta(days=3)
    for order in store.active_orders(db, store.ORDER_PLAN_COLUMNS):
        rows = store.dispenses_by_order(db).get(order["id"], [])
        fills = [Fill(at=parse_iso(r["handed_over_at"]), quantity=r["quantity"], days_supply=r["days_supply"])
                 for r in rows]
        c = supply_counts.get(order["id"])
        count = Count(at=parse_iso(c["counted_at"]), quantity=float(c["quantity"])) if c else None
        settings = _Settings()
        plan = order_plan(order, settings)
        reference = assess_supply(now=now, usage=plan_usage(plan, order_zone(order, settings), now), fills=fills,
                                  count=count, order_quantity=order["dispense_quantity"],
                                  order_days=order["expected_supply_days"],
                                  order_start=min(s.start for s in plan.steps))
        assert assess_order(order, supply_counts, found, now, settings, {}) == reference


class _Settings:
    """The two settings ``order_plan``/``order_zone`` read: the clinic zone and its administration times."""

    zone = NY

    class clinic:
        administration_times = {"BID": ["08:00", "20:00"]}


CLOCK = st.sampled_from(["00:30", "01:30", "02:00", "02:30", "03:00", "08:00", "20:00", "23:30"])


@hsettings(max_examples=150, deadline=None)
@given(times=st.lists(CLOCK, min_size=1, max_size=3, unique=True), start_h=st.integers(-100, 100),
       asks=st.lists(st.tuples(st.integers(-60 * 24, 60 * 24), st.booleans(), st.booleans()), min_size=1, max_size=8),
       every=st.sampled_from([1, 1, 2]))
def test_shared_day_tables_answer_as_a_fresh_enumeration(times, start_h, asks, every):
    # around the spring gap (2026-03-08) in New York; several series of the same times share one table
    around = datetime(2026, 3, 8, 7, tzinfo=UTC)
    step = Step(index=0, sequence=0, cadence="daily", times=tuple(sorted(times)), every=every,
                start=around + timedelta(hours=start_h), dose=1.0)
    other = Step(index=0, sequence=0, cadence="daily", times=tuple(sorted(times)),
                 start=around + timedelta(hours=start_h + 37), dose=1.0)
    series, series2 = DailySeries(step, NY), DailySeries(other, NY)
    lo_all, hi_all = around - timedelta(days=62), around + timedelta(days=62)
    instants = [d.at for d in step_doses(step, NY, lo_all, hi_all)]
    for minutes, exact, second in asks:
        t = around + timedelta(minutes=minutes)
        if exact and instants:
            t = instants[minutes % len(instants)]          # a dose instant itself: >= and > differ there
        s = series2 if second else series
        p, q = s.index_at_or_after(t), s.index_after(t)
        assert s.instant(p) >= t > s.instant(p - 1)
        assert s.instant(q) > t >= s.instant(q - 1)
    # what the jobs ask of it: the doses in a window and the k-th dose, as step_doses enumerates them
    t0 = around + timedelta(minutes=asks[0][0])
    t1 = t0 + timedelta(days=5)
    enumerated = step_doses(step, NY, t0, t1)
    assert series.count(t0, t1) == sum(d.count for d in enumerated)
    if enumerated:
        assert series.nth_from(t0, 0) == enumerated[0].at
    assert plan_usage(DosePlan((step,)), NY, t0).run_out(t0, 3) == \
        plan_usage(DosePlan((step,)), NY, t0, closed_form=False).run_out(t0, 3)
