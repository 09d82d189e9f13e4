"""The closed-form use of a daily plan (``clinical.supply.DailyUsage``) gives the same figures as enumerating
every dose instant (``plan_usage(..., closed_form=False)``), for random daily plans around daylight-saving
changes in America/New_York (spring gap 2026-03-08, fall back 2026-11-01)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from medjobs_tui.clinical.dosing import DailySeries, DosePlan, Step, local_to_utc, step_doses
from medjobs_tui.clinical.supply import DailyUsage, PlannedUsage, assess_supply, Count, Fill, plan_usage

NY = ZoneInfo("America/New_York")
UTC = timezone.utc

# clock times that hit both DST edges: the spring gap (02:00-02:59 does not exist on 03-08) and the repeated hour
# (01:00-01:59 twice on 11-01), plus ordinary times
CLOCK = st.sampled_from(["00:00", "00:30", "01:00", "01:30", "01:59", "02:00", "02:15", "02:30", "02:59", "03:00",
                         "06:00", "08:00", "09:00", "12:00", "13:30", "16:00", "20:00", "22:00", "23:00", "23:59"])
# instants within ~70 days of either clock change, at any minute
AROUND = st.sampled_from([datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)])
OFFSET_MIN = st.integers(min_value=-70 * 24 * 60, max_value=70 * 24 * 60)


@st.composite
def daily_plans(draw) -> DosePlan:
    times = tuple(sorted(draw(st.lists(CLOCK, min_size=1, max_size=5))))     # duplicates allowed: two at a time
    around = draw(AROUND)
    start = around + timedelta(minutes=draw(OFFSET_MIN)) if draw(st.booleans()) else None
    end = None
    inclusive = False
    if draw(st.booleans()):
        base = start or around
        # mostly within a few months; sometimes around the 3-year look-ahead of PlannedUsage (its horizon)
        days = draw(st.one_of(st.integers(min_value=0, max_value=120 * 24 * 60),
                              st.integers(min_value=1050 * 24 * 60, max_value=1130 * 24 * 60)))
        end = base + timedelta(minutes=days)
        inclusive = draw(st.booleans())
    every = draw(st.sampled_from([1, 1, 1, 2, 3]))
    dose = draw(st.sampled_from([0.5, 1, 1, 2, 2.5, 3, 5, 10]))
    max_per_day = None
    if draw(st.booleans()) and every == 1:
        max_per_day = float(len(times) + draw(st.integers(min_value=1, max_value=2)))
    return DosePlan((Step(index=0, sequence=0, cadence="daily", times=times, every=every, start=start, end=end,
                          end_inclusive=inclusive, dose=dose, dose_unit="tablet", max_per_day=max_per_day),))


def _at(draw_offset: int, around: datetime) -> datetime:
    return around + timedelta(minutes=draw_offset)


@settings(max_examples=400, deadline=None)
@given(plan=daily_plans(), around=AROUND, t0=OFFSET_MIN, span_min=st.integers(min_value=0, max_value=100 * 24 * 60),
       quantity=st.one_of(st.integers(min_value=0, max_value=400), st.integers(min_value=1000, max_value=6000)),
       days_supply=st.sampled_from([None, 7, 30, 90]))
def test_closed_form_equals_enumeration_for_daily_plans(plan, around, t0, span_min, quantity, days_supply):
    now = _at(t0, around)
    closed = plan_usage(plan, NY, now)
    enumerated = plan_usage(plan, NY, now, closed_form=False)
    assert isinstance(closed, DailyUsage) and isinstance(enumerated, PlannedUsage)
    assert closed.per_day == enumerated.per_day and closed.end == enumerated.end
    later = now + timedelta(minutes=span_min)
    assert abs(closed.units(now, later) - enumerated.units(now, later)) < 1e-9
    assert closed.units(later, now) == enumerated.units(later, now) == 0.0
    # run-out from any instant, for any whole quantity (tablets): the same instant (or both None / the horizon)
    assert closed.run_out(now, quantity) == enumerated.run_out(now, quantity)
    assert closed.days_supply(quantity, now) == enumerated.days_supply(quantity, now)
    # and what the supply jobs compute from them: a fill some days ago plus a staff count
    fills = [Fill(at=now - timedelta(days=10), quantity=quantity, days_supply=days_supply)]
    count = Count(at=now - timedelta(days=3), quantity=quantity / 2)
    for kw in (dict(fills=fills), dict(fills=fills, count=count)):
        a = assess_supply(now=later, usage=closed, order_quantity=quantity, order_days=days_supply,
                          order_start=now, **kw)
        b = assess_supply(now=later, usage=enumerated, order_quantity=quantity, order_days=days_supply,
                          order_start=now, **kw)
        assert (a.days_remaining, a.basis, a.covers_course, a.mismatch, a.fill_days_supply) == \
            (b.days_remaining, b.basis, b.covers_course, b.mismatch, b.fill_days_supply)
        assert (a.current_supply is None) == (b.current_supply is None)
        if a.current_supply is not None:
            assert abs(a.current_supply - b.current_supply) < 1e-9


@settings(max_examples=200, deadline=None)
@given(plan=daily_plans(), around=AROUND, t0=OFFSET_MIN, span_min=st.integers(min_value=0, max_value=6 * 24 * 60))
def test_daily_series_lists_the_same_instants_as_step_doses(plan, around, t0, span_min):
    step = plan.steps[0]
    lo = _at(t0, around)
    hi = lo + timedelta(minutes=span_min)
    series = DailySeries(step, NY)
    listed = series.instants(lo, hi)
    enumerated = step_doses(step, NY, lo, hi)
    # one entry per scheduled (day, time); step_doses merges entries that meet at one instant into one dose
    assert sorted(set(listed)) == [d.at for d in enumerated]
    assert len(listed) == sum(d.count for d in enumerated) == series.count(lo, hi)


def test_spring_gap_doses_meet_and_are_both_counted():
    # 02:00 and 02:30 on 2026-03-08 both become 03:00 EDT: one instant, two administrations, two tablets
    step = Step(index=0, sequence=0, cadence="daily", times=("02:00", "02:30"), dose=1,
                start=local_to_utc(date(2026, 3, 7), time(0, 0), NY))
    usage = plan_usage(DosePlan((step,)), NY, step.start)
    gap_day = local_to_utc(date(2026, 3, 8), time(0, 0), NY)
    assert usage.units(gap_day, gap_day + timedelta(days=1)) == 2
    # 3 tablets from 03-07 00:00: 03-07 02:00 and 02:30, then 03-08 03:00 needs two: it is the run-out dose
    assert usage.run_out(step.start, 3) == local_to_utc(date(2026, 3, 8), time(3, 0), NY)


def test_a_supply_outlasting_the_look_ahead_lasts_to_the_horizon_in_both():
    # once a day, open-ended: the look-ahead reads doses up to 18 pieces of 62 days (1,116 days); 1,100 tablets
    # run out on day 1,100; 1,120 and 1,200 last past it -> reported as lasting to the horizon (3 x 366 days)
    start = local_to_utc(date(2026, 1, 1), time(0, 0), NY)
    step = Step(index=0, sequence=0, cadence="daily", times=("09:00",), dose=1, start=start)
    horizon = start + timedelta(days=PlannedUsage.HORIZON_DAYS)
    for quantity, expected in ((1_100, local_to_utc(date(2029, 1, 5), time(9, 0), NY)), (1_120, horizon),
                               (1_200, horizon)):
        closed = plan_usage(DosePlan((step,)), NY, start).run_out(start, quantity)
        enumerated = plan_usage(DosePlan((step,)), NY, start, closed_form=False).run_out(start, quantity)
        assert closed == enumerated == expected
    # within it: the dose after the last covered one
    assert plan_usage(DosePlan((step,)), NY, start).run_out(start, 30) == \
        local_to_utc(date(2026, 1, 31), time(9, 0), NY)


@settings(max_examples=200, deadline=None)
@given(plan=daily_plans(), day_offset=st.integers(min_value=-70, max_value=70), around=AROUND,
       since_min=st.integers(min_value=-3 * 24 * 60, max_value=2 * 24 * 60))
def test_a_days_doses_from_the_series_are_the_enumerated_ones(plan, day_offset, around, since_min):
    # a local day's window [local midnight, next local midnight), narrowed by when the order entered the store
    step = plan.steps[0]
    day = around.astimezone(NY).date() + timedelta(days=day_offset)
    start, end = local_to_utc(day, time(0, 0), NY), local_to_utc(day + timedelta(days=1), time(0, 0), NY)
    start = max(start, start + timedelta(minutes=since_min))
    expected = [d.at for d in step_doses(step, NY, start, end)] if start < end else []
    assert (DailySeries(step, NY).on_day(day, start, end) if start < end else []) == expected
