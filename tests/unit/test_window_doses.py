"""``clinical.dosing.WindowDoses`` (each daily pattern's doses computed once for many orders) gives exactly what
``plan_doses`` gives each order alone: random plans sharing one instance (same and different times, doses, units,
starts just before, long before and inside the window, ends, every k days, counts, tapers), windows around
daylight-saving changes (New York's spring gap and repeated hour; Lord Howe's half-hour change)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from medjobs_tui.clinical.dosing import DosePlan, Step, WindowDoses, plan_doses

UTC = timezone.utc
ZONES = st.sampled_from([ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")])
AROUND = st.sampled_from([datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC),
                          datetime(2026, 4, 4, 15, tzinfo=UTC), datetime(2026, 6, 1, 12, tzinfo=UTC)])
CLOCK = st.sampled_from(["00:00", "01:30", "02:00", "02:15", "02:30", "03:00", "08:00", "09:00", "12:00", "20:00",
                         "23:59"])


@st.composite
def steps(draw, around: datetime, index: int = 0) -> Step:
    times = tuple(sorted(draw(st.lists(CLOCK, min_size=1, max_size=4))))        # duplicates: two at one time
    start = None
    if draw(st.integers(0, 3)):
        # long before, just before (within the two days that send a plan to plan_doses) or inside the window
        start = around + timedelta(minutes=draw(st.integers(-10 * 24 * 60, 2 * 24 * 60)))
    end = None
    if draw(st.booleans()):
        end = around + timedelta(minutes=draw(st.integers(-3 * 24 * 60, 3 * 24 * 60)))
    count = draw(st.sampled_from([None, None, None, 3])) if start is not None else None
    return Step(index=index, sequence=index, cadence="daily", times=times, every=draw(st.sampled_from([1, 1, 2, 3])),
                start=start, end=end, end_inclusive=draw(st.booleans()), count=count,
                dose=draw(st.sampled_from([None, 1.0, 2.0, 0.5])), dose_unit=draw(st.sampled_from(["tablet", "mL"])))


@st.composite
def plans(draw, around: datetime) -> DosePlan:
    if draw(st.integers(0, 5)) == 0:          # a taper: two steps one after the other (not a pattern)
        return DosePlan((draw(steps(around, 0)), draw(steps(around, 1))))
    return DosePlan((draw(steps(around)),))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), around=AROUND, zone=ZONES, span_h=st.integers(0, 30), lead=st.sampled_from([0, 15, 90]))
def test_window_doses_equal_plan_doses_for_every_plan(data, around, zone, span_h, lead):
    shared = WindowDoses()
    start = around - timedelta(hours=24)
    for _ in range(6):
        plan = data.draw(plans(around))
        end = start + timedelta(hours=span_h, minutes=data.draw(st.sampled_from([0, lead])))
        # twice: the second answer comes from the shared pattern and must not have been altered by the first caller
        first = shared.doses(plan, zone, start, end)
        first.clear()
        assert shared.doses(plan, zone, start, end) == plan_doses(plan, zone, start, end)


def test_orders_of_one_pattern_with_different_doses_or_ends_each_get_their_own():
    zone = ZoneInfo("America/New_York")
    start, end = datetime(2026, 3, 7, 14, tzinfo=UTC), datetime(2026, 3, 9, 14, tzinfo=UTC)
    begun = start - timedelta(days=30)
    one = Step(index=0, sequence=0, cadence="daily", times=("02:30", "09:00"), start=begun, dose=1.0,
               dose_unit="tablet")
    two = Step(index=0, sequence=0, cadence="daily", times=("02:30", "09:00"), start=begun, dose=2.0,
               dose_unit="tablet")
    ended = Step(index=0, sequence=0, cadence="daily", times=("02:30", "09:00"), start=begun, dose=1.0,
                 dose_unit="tablet", end=datetime(2026, 3, 8, 12, tzinfo=UTC))
    shared = WindowDoses()
    got = [shared.doses(DosePlan((s,)), zone, start, end) for s in (one, two, ended)]
    assert [d.dose for d in got[0]] == [1.0] * 5          # 03-07 09:00 EST, 03-08 03:00 and 09:00, 03-09 02:30, 09:00
    assert [d.dose for d in got[1]] == [2.0] * 5
    # 03-08 02:30 does not exist in New York: given at 03:00 EDT (07:00 UTC); the 09:00 dose that day is past the end
    assert [d.at.isoformat() for d in got[2]] == ["2026-03-07T14:00:00+00:00", "2026-03-08T07:00:00+00:00"]
    for s, doses in zip((one, two, ended), got):
        assert doses == plan_doses(DosePlan((s,)), zone, start, end)
