"""The whole FHIR Timing (clinical/timing.py + clinical/dosing.py plans): worked examples and properties.

Every expected instant below is written by hand from FHIR R4 Timing (hl7.org/fhir/R4/datatypes.html#Timing)
and the clinic's tables of the repository's config.yaml (QD 09:00, BID 08:00/20:00, Q8H 06:00/14:00/22:00;
event table MORN 08:00, HS 21:00, meals CM 08:00 / CD 12:00 / CV 18:00). Zone America/New_York:
EST = UTC-5 (from 2026-11-01 02:00), EDT = UTC-4 (from 2026-03-08 02:00).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from medjobs_tui.clinical.dosing import DosePlan, Step, local_to_utc, plan_doses
from medjobs_tui.clinical.timing import DosageError, event_clock_time, interpret_dosages, is_prn
from medjobs_tui.config import DEFAULT_EVENT_TIMES
from medjobs_tui.fhir.mapping import FieldError, parse_fhir_time

NY = ZoneInfo("America/New_York")
ADMIN = yaml.safe_load((Path(__file__).resolve().parents[2] / "config.yaml").read_text())["clinic"][
    "administration_times"]


def _parse(value, path):
    try:
        return parse_fhir_time(value, NY, path)
    except FieldError as exc:
        raise DosageError(exc.path, exc.problem) from None


def interpret(dosages, authored: str | None = None):
    start = parse_fhir_time(authored, NY, "authoredOn")[0] if authored else None
    return interpret_dosages(dosages, zone=NY, authored_on=start, admin_times=ADMIN,
                             event_times=DEFAULT_EVENT_TIMES, parse_instant=_parse)


def local(y, mo, d, h, mi=0) -> datetime:
    """An aware UTC instant given as New York wall-clock time (fold 0)."""
    return local_to_utc(date(y, mo, d), time(h, mi), NY)


def doses(it, start: datetime, end: datetime):
    return [(d.at, d.dose) for d in plan_doses(it.plan, NY, start, end)]


def at_local(instants):
    return [i.astimezone(NY).strftime("%Y-%m-%d %H:%M") for i in instants]


def repeat(**r):
    return [{"timing": {"repeat": r}}]


NOV, JAN = local(2026, 11, 1, 0), local(2027, 1, 1, 0)


# --------------------------------------------------------------------------------- periodUnit honoured


def test_weekly_methotrexate_on_mondays_is_weekly_never_daily():
    # 1 per 1 wk on Mondays at 09:00, from Sunday 2026-11-01: Mondays of November are 2, 9, 16, 23, 30
    it = interpret([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk", "dayOfWeek": ["mon"],
                                           "timeOfDay": ["09:00:00"]}},
                     "doseAndRate": [{"doseQuantity": {"value": 4, "unit": "tablet"}}]}], "2026-11-01")
    assert it.understood and it.warnings == []
    got = doses(it, NOV, local(2026, 12, 1, 0))
    assert at_local(a for a, _ in got) == ["2026-11-02 09:00", "2026-11-09 09:00", "2026-11-16 09:00",
                                           "2026-11-23 09:00", "2026-11-30 09:00"]
    assert {d for _, d in got} == {4}
    assert it.summary["doses_per_day"] == pytest.approx(1 / 7)


def test_one_every_four_weeks_reminds_every_28_days_not_every_day():
    # the case {frequency 1, period 4, periodUnit wk, timeOfDay [09:00]}: anchored at the start
    # (Monday 2026-11-02 08:00): 11-02, 11-02 + 28 d = 11-30, 11-30 + 28 d = 12-28
    it = interpret(repeat(frequency=1, period=4, periodUnit="wk", timeOfDay=["09:00:00"]), "2026-11-02T08:00:00-05:00")
    assert at_local(a for a, _ in doses(it, NOV, JAN)) == ["2026-11-02 09:00", "2026-11-30 09:00", "2026-12-28 09:00"]
    assert it.summary["doses_per_day"] == pytest.approx(1 / 28)


def test_every_other_day_and_monthly():
    qod = interpret(repeat(frequency=1, period=2, periodUnit="d"), "2026-11-29")
    assert at_local(a for a, _ in doses(qod, NOV, local(2026, 12, 6, 0))) == [
        "2026-11-29 09:00", "2026-12-01 09:00", "2026-12-03 09:00", "2026-12-05 09:00"]
    # monthly on the 31st: months without one give their last day (Feb 28, Apr 30)
    mo = interpret(repeat(frequency=1, period=1, periodUnit="mo"), "2026-01-31")
    assert at_local(a for a, _ in doses(mo, local(2026, 1, 1, 0), local(2026, 5, 1, 0))) == [
        "2026-01-31 09:00", "2026-02-28 09:00", "2026-03-31 09:00", "2026-04-30 09:00"]


def test_q8h_takes_the_clinic_table_and_q5h_is_anchored_at_the_first_dose():
    q8 = interpret(repeat(frequency=1, period=8, periodUnit="h"), "2026-11-29")
    assert at_local(a for a, _ in doses(q8, local(2026, 11, 29, 0), local(2026, 11, 30, 0))) == [
        "2026-11-29 06:00", "2026-11-29 14:00", "2026-11-29 22:00"]
    # no Q5H row: every 5 h of elapsed time from the first dose at 07:00
    q5 = interpret(repeat(frequency=1, period=5, periodUnit="h"), "2026-11-29T07:00:00-05:00")
    assert at_local(a for a, _ in doses(q5, local(2026, 11, 29, 0), local(2026, 11, 30, 0))) == [
        "2026-11-29 07:00", "2026-11-29 12:00", "2026-11-29 17:00", "2026-11-29 22:00"]
    assert q5.summary["doses_per_day"] == pytest.approx(24 / 5)


def test_interval_schedule_keeps_its_spacing_across_fall_back():
    # q5h from 2026-10-31 22:00 EDT (02:00 UTC 11-01): 02:00, 07:00, 12:00, 17:00 UTC; local 22:00 EDT,
    # 02:00 EST (the clock fell back at 02:00 EDT = 06:00 UTC), 07:00 EST, 12:00 EST
    it = interpret(repeat(frequency=1, period=5, periodUnit="h"), "2026-10-31T22:00:00-04:00")
    got = [a for a, _ in doses(it, datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 1, 18,
                                                                                           tzinfo=timezone.utc))]
    assert got == [datetime(2026, 11, 1, h, tzinfo=timezone.utc) for h in (2, 7, 12, 17)]
    assert at_local(got) == ["2026-10-31 22:00", "2026-11-01 02:00", "2026-11-01 07:00", "2026-11-01 12:00"]


# --------------------------------------------------------------------------------- when + offset, times


@pytest.mark.parametrize("code, offset, want", [
    ("MORN", 0, ["08:00"]), ("HS", 0, ["21:00"]), ("HS", 30, ["21:30"]),
    ("ACM", 0, ["07:30"]), ("ACM", 45, ["07:15"]),      # 45 min before breakfast 08:00
    ("PCV", 60, ["19:00"]),                              # 60 min after dinner 18:00
    ("AC", 15, ["07:45", "11:45", "17:45"]),              # before each meal 08:00, 12:00, 18:00
    ("CD", 0, ["12:00"]),
])
def test_event_codes_and_offsets(code, offset, want):
    assert event_clock_time(code, offset, DEFAULT_EVENT_TIMES) == want


def test_when_schedules_and_frequency_mismatch_reported_once_times_win():
    it = interpret(repeat(frequency=2, period=1, periodUnit="d", when=["ACM", "HS"]), "2026-11-29")
    assert at_local(a for a, _ in doses(it, local(2026, 11, 29, 0), local(2026, 11, 30, 0))) == [
        "2026-11-29 07:30", "2026-11-29 21:00"]
    # frequency 1 but two times: the two times are followed, and doses per day say 2 (supply, adherence)
    it = interpret(repeat(frequency=1, period=1, periodUnit="d", timeOfDay=["08:00:00", "20:00:00"]))
    assert it.summary["doses_per_day"] == 2.0 and it.summary["times_of_day"] == ["08:00", "20:00"]
    assert len(it.warnings) == 1 and it.warnings[0][0] == "dosageInstruction[0].timing.repeat.frequency"


def test_timing_code_as_today_and_qod():
    assert interpret([{"timing": {"code": {"coding": [{"code": "TID"}]}}}]).summary["times_of_day"] == [
        "08:00", "14:00", "20:00"]
    qod = interpret([{"timing": {"code": {"coding": [{"code": "QOD"}]}}}], "2026-11-29")
    assert at_local(a for a, _ in doses(qod, local(2026, 11, 29, 0), local(2026, 12, 3, 0))) == [
        "2026-11-29 09:00", "2026-12-01 09:00"]


# --------------------------------------------------------------------------------- bounds and count


def test_bounds_end_given_as_a_date_includes_that_whole_day():
    # BID from 11-29 to 12-01 (a date): 29th, 30th and 1st, 2 a day = 6 doses (not 4)
    it = interpret(repeat(frequency=2, period=1, periodUnit="d",
                          boundsPeriod={"start": "2026-11-29", "end": "2026-12-01"}))
    assert len(doses(it, NOV, JAN)) == 6
    assert at_local(a for a, _ in doses(it, NOV, JAN))[-1] == "2026-12-01 20:00"


def test_a_dose_exactly_at_the_end_instant_is_included():
    it = interpret(repeat(frequency=2, period=1, periodUnit="d",
                          boundsPeriod={"start": "2026-11-29", "end": "2026-11-30T20:00:00-05:00"}))
    assert at_local(a for a, _ in doses(it, NOV, JAN)) == [
        "2026-11-29 08:00", "2026-11-29 20:00", "2026-11-30 08:00", "2026-11-30 20:00"]


def test_bounds_duration_two_a_day_for_three_days_stops():
    # from 10:00 on 11-29: 3 days end at 10:00 on 12-02: 20:00, then 08:00+20:00 twice, then 08:00 = 6 doses
    it = interpret(repeat(frequency=2, period=1, periodUnit="d", boundsDuration={"value": 3, "code": "d"}),
                   "2026-11-29T10:00:00-05:00")
    assert at_local(a for a, _ in doses(it, NOV, JAN)) == [
        "2026-11-29 20:00", "2026-11-30 08:00", "2026-11-30 20:00", "2026-12-01 08:00", "2026-12-01 20:00",
        "2026-12-02 08:00"]


def test_count_stops_after_that_many_doses():
    it = interpret(repeat(frequency=1, period=8, periodUnit="h", count=4), "2026-11-29T07:00:00-05:00")
    # Q8H table 06:00/14:00/22:00 from 07:00: 14:00, 22:00, 06:00 and 14:00 the next day, then none
    assert at_local(a for a, _ in doses(it, NOV, JAN)) == [
        "2026-11-29 14:00", "2026-11-29 22:00", "2026-11-30 06:00", "2026-11-30 14:00"]


def test_a_schedule_starting_in_the_future_gives_nothing_before_it():
    it = interpret(repeat(frequency=1, period=1, periodUnit="d", boundsPeriod={"start": "2026-12-10"}),
                   "2026-11-20")
    assert doses(it, NOV, local(2026, 12, 10, 0)) == []
    assert at_local(a for a, _ in doses(it, NOV, local(2026, 12, 12, 0))) == ["2026-12-10 09:00", "2026-12-11 09:00"]


# --------------------------------------------------------------------------------- several instructions


def test_prednisone_taper_reminds_the_dose_of_the_step_in_force():
    taper = [{"sequence": n, "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                                   "boundsDuration": {"value": 7, "unit": "days"}}},
              "doseAndRate": [{"doseQuantity": {"value": tabs, "unit": "tablet"}}]}
             for n, tabs in ((1, 4), (2, 2), (3, 1))]
    it = interpret(list(reversed(taper)), "2026-11-02")  # listed out of order: sequence decides
    got = doses(it, NOV, JAN)
    # 7 days of 4 (11-02..11-08), 7 of 2 (11-09..11-15), 7 of 1 (11-16..11-22), then nothing
    assert [d for _, d in got] == [4] * 7 + [2] * 7 + [1] * 7
    assert at_local([got[0][0], got[7][0], got[14][0], got[-1][0]]) == [
        "2026-11-02 09:00", "2026-11-09 09:00", "2026-11-16 09:00", "2026-11-22 09:00"]
    assert sum(d for _, d in got) == 7 * 4 + 7 * 2 + 7 * 1 == 49
    assert it.plan.end == local(2026, 11, 23, 0)


def test_same_sequence_applies_together():
    both = [{"sequence": 1, "timing": {"repeat": {"timeOfDay": ["08:00:00"]}},
             "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet"}}]},
            {"sequence": 1, "timing": {"repeat": {"timeOfDay": ["20:00:00"]}},
             "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]
    got = doses(interpret(both, "2026-11-29"), local(2026, 11, 29, 0), local(2026, 11, 30, 0))
    assert [(at_local([a])[0], d) for a, d in got] == [("2026-11-29 08:00", 2), ("2026-11-29 20:00", 1)]


def test_an_unbounded_step_followed_by_another_is_not_scheduled():
    it = interpret([{"sequence": 1, "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}},
                    {"sequence": 2, "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}}],
                   "2026-11-29")
    assert not it.understood and it.plan.steps == ()
    assert it.warnings[0][0] == "dosageInstruction[0]"


# --------------------------------------------------------------------------------- PRN and doses


def test_prn_in_every_form():
    assert is_prn({"asNeededBoolean": True})
    assert is_prn({"asNeededCodeableConcept": {"text": "pain"}, "timing": {"repeat": {"frequency": 1}}})
    assert is_prn({"text": "Take as needed."})
    assert is_prn({"text": "1 tablet q6h PRN"})
    assert not is_prn({"text": "Take as needed.", "timing": {"repeat": {"frequency": 1, "period": 1,
                                                                        "periodUnit": "d"}}})
    assert not is_prn({"text": "every four to six hours"})
    it = interpret([{"text": "Take as needed."}])
    assert it.prn and it.plan.steps == () and it.summary["doses_per_day"] is None


def test_dose_range_uses_its_upper_bound_and_says_so():
    it = interpret([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                     "doseAndRate": [{"doseRange": {"low": {"value": 1}, "high": {"value": 2, "unit": "tablet"}}}]}],
                   "2026-11-29")
    assert it.plan.steps[0].dose == 2 and it.plan.steps[0].dose_is_upper_bound
    assert any("upper bound" in w for _, w in it.warnings)


# --------------------------------------------------------------------------------- never on a guess


@pytest.mark.parametrize("r, path", [
    ({"frequency": 3, "period": 1, "periodUnit": "wk"}, "dayOfWeek"),          # which 3 days?
    ({"frequency": 1, "period": 1, "periodUnit": "min"}, "periodUnit"),        # a rate, not reminders
    ({"frequency": 2, "period": 3, "periodUnit": "d"}, "period"),
    ({"frequency": 5, "period": 1, "periodUnit": "d"}, "frequency"),           # no 5-a-day row in the table
    ({"frequency": 4, "period": 1, "periodUnit": "h"}, "period"),              # every 15 minutes
    ({"timeOfDay": ["08:00:00"], "when": ["HS"]}, "when"),                      # invariant tim-10
    ({"when": ["XYZ"]}, "when[0]"),
    ({"frequency": 1, "period": 1, "periodUnit": "d", "boundsRange": {"low": {"value": 1}}}, "boundsRange"),
])
def test_not_understood_is_no_schedule_naming_the_element(r, path):
    it = interpret(repeat(**r), "2026-11-29")
    assert not it.understood and it.plan.steps == ()
    assert it.warnings[-1][0] == f"dosageInstruction[0].timing.repeat.{path}"


def test_a_schedule_that_counts_from_its_start_needs_one():
    it = interpret(repeat(frequency=1, period=1, periodUnit="wk"))  # which weekday? no start given
    assert not it.understood and "start" in it.warnings[0][0]


@pytest.mark.parametrize("r, path", [
    ({"frequency": 0, "period": 1, "periodUnit": "d"}, "frequency"),
    ({"frequency": 1, "period": -1, "periodUnit": "d"}, "period"),
    ({"frequency": 1, "period": float("nan"), "periodUnit": "d"}, "period"),
    ({"frequency": 1, "period": 1, "periodUnit": "fortnight"}, "periodUnit"),
])
def test_unusable_numbers_are_errors_with_their_path(r, path):
    with pytest.raises(DosageError) as err:
        interpret(repeat(**r))
    assert err.value.path == f"dosageInstruction[0].timing.repeat.{path}"


def test_a_plan_round_trips_through_json():
    it = interpret(repeat(frequency=1, period=1, periodUnit="wk", dayOfWeek=["mon", "thu"],
                          boundsPeriod={"start": "2026-11-02", "end": "2026-11-30T09:00:00-05:00"}))
    assert DosePlan.from_json(it.plan.to_json()) == it.plan


# --------------------------------------------------------------------------------- properties (hypothesis)

ZONES = [ZoneInfo(z) for z in ("America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Sao_Paulo")]
CLOCK = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


def _days(zone, first: date, n: int):
    return [first + timedelta(days=k) for k in range(n)]


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zone=st.sampled_from(ZONES), times=st.lists(CLOCK, min_size=1, max_size=6, unique=True),
       first=st.dates(date(2026, 1, 1), date(2026, 12, 1)), n=st.integers(1, 40))
def test_daily_plans_give_each_local_time_once_a_day_across_dst(zone, times, first, n):
    step = Step(index=0, sequence=0, cadence="daily", times=tuple(sorted(times)))
    lo = local_to_utc(first, time(0, 0), zone)
    hi = local_to_utc(first + timedelta(days=n), time(0, 0), zone)
    doses = plan_doses(DosePlan((step,)), zone, lo, hi)
    got = [d.at for d in doses]
    assert all(a < b for a, b in zip(got, got[1:]))                   # strictly increasing
    assert all(lo <= a < hi for a in got)                              # inside the window
    per_day: dict[date, int] = {}
    for d in doses:
        per_day[d.at.astimezone(zone).date()] = per_day.get(d.at.astimezone(zone).date(), 0) + d.count
    # every local day has exactly len(times) administrations: none skipped in a gap, none doubled in a fold (a
    # time in the gap moves to the first valid instant, still that day; two that meet there are one instant)
    assert per_day == {d: len(times) for d in _days(zone, first, n)}
    assert sum(d.count > 1 for d in doses) <= 1 * n                    # meetings happen only on gap days


@hsettings(max_examples=100, deadline=None)
@given(zone=st.sampled_from(ZONES), weekdays=st.sets(st.integers(0, 6), min_size=1), every=st.integers(1, 4),
       time_of_day=CLOCK, start=st.dates(date(2026, 1, 1), date(2026, 11, 1)), weeks=st.integers(1, 20))
def test_weekly_plans_give_the_right_count_per_week_inside_the_bounds(zone, weekdays, every, time_of_day, start,
                                                                      weeks):
    monday = start - timedelta(days=start.weekday())
    begin = local_to_utc(monday, time(0, 0), zone)
    end = local_to_utc(monday + timedelta(weeks=weeks), time(0, 0), zone)
    step = Step(index=0, sequence=0, cadence="weekly", times=(time_of_day,), weekdays=tuple(sorted(weekdays)),
                every=every, start=begin, end=end)
    got = [d.at for d in plan_doses(DosePlan((step,)), zone, begin - timedelta(days=30), end + timedelta(days=30))]
    assert all(a < b for a, b in zip(got, got[1:]))
    assert all(begin <= a < end for a in got)
    for w in range(weeks):
        week = [a for a in got if (a.astimezone(zone).date() - monday).days // 7 == w]
        assert len(week) == (len(weekdays) if w % every == 0 else 0)
    assert step.doses_per_day() == pytest.approx(len(weekdays) / (7 * every))


@hsettings(max_examples=100, deadline=None)
@given(zone=st.sampled_from(ZONES), hours=st.sampled_from([1, 2, 3, 4.5, 5, 7, 8, 36]),
       start=st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1), timezones=st.just(timezone.utc)),
       count=st.one_of(st.none(), st.integers(1, 30)))
def test_interval_plans_are_evenly_spaced_and_count_bounded(zone, hours, start, count):
    start = start.replace(second=0, microsecond=0)
    step = Step(index=0, sequence=0, cadence="interval", hours=hours, start=start, count=count)
    got = [d.at for d in plan_doses(DosePlan((step,)), zone, start - timedelta(days=1), start + timedelta(days=10))]
    assert got and got[0] == start
    assert all(b - a == timedelta(hours=hours) for a, b in zip(got, got[1:]))
    if count is not None:
        assert len(got) == min(count, len([k for k in range(10_000) if k * hours < 240]))


@hsettings(max_examples=100, deadline=None)
@given(zone=st.sampled_from(ZONES), times=st.lists(CLOCK, min_size=1, max_size=4, unique=True),
       start=st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1), timezones=st.just(timezone.utc)),
       hours=st.integers(1, 24 * 20), inclusive=st.booleans())
def test_every_instant_lies_inside_the_bounds_and_none_inside_is_missing(zone, times, start, hours, inclusive):
    start = start.replace(second=0, microsecond=0)
    end = start + timedelta(hours=hours)
    step = Step(index=0, sequence=0, cadence="daily", times=tuple(sorted(times)), start=start, end=end,
                end_inclusive=inclusive)
    got = [d.at for d in plan_doses(DosePlan((step,)), zone, start - timedelta(days=2), end + timedelta(days=2))]
    inside = (lambda a: start <= a <= end) if inclusive else (lambda a: start <= a < end)
    assert all(inside(a) for a in got)
    first = start.astimezone(zone).date() - timedelta(days=1)
    expected = {local_to_utc(first + timedelta(days=k), time.fromisoformat(t), zone)
                for k in range(hours // 24 + 3) for t in times}
    assert got == sorted({a for a in expected if inside(a)})


def test_two_times_in_the_spring_gap_meet_as_one_dose_of_both():
    # 2026-03-08 New York: 02:00-03:00 does not exist. 02:00 and 02:30 (1 tablet each) both go to 03:00 EDT
    # (07:00 UTC): one instant, 2 tablets, count 2 -- nothing skipped, one reminder
    step = Step(index=0, sequence=0, cadence="daily", times=("02:00", "02:30"), dose=1, dose_unit="tablet")
    day = plan_doses(DosePlan((step,)), NY, local(2026, 3, 8, 0), local(2026, 3, 9, 0))
    assert [(d.at, d.dose, d.count) for d in day] == [(datetime(2026, 3, 8, 7, tzinfo=timezone.utc), 2, 2)]
