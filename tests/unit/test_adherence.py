"""Adherence (clinical/adherence.py) against the PQA worked example and the rules around it."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from medjobs_tui.clinical.adherence import (
    Fill,
    covered_days,
    days_in_period,
    dose_adherence,
    is_adherent,
    mpr,
    pdc,
    pdc_unshifted,
    pqa_eligible,
    shifted_periods,
)

from tests.conftest import SHARED_DATA as SHARED  # noqa: E402
WORKED = SHARED / "reference" / "pdc_worked_example.csv"
PERIOD_END = date(2023, 12, 31)   # end of the measurement year in the worked example (data/README.md)


@pytest.fixture
def worked_rows() -> list[dict[str, str]]:
    if not WORKED.exists():
        pytest.skip(f"needs ../shared/data ({WORKED} is absent)")
    with WORKED.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _fills(rows):
    return [Fill(date.fromisoformat(r["fill_date"]), int(r["days_supply"])) for r in rows]


@pytest.mark.shared_data
def test_worked_example_period_is_356_days(worked_rows):
    start = min(date.fromisoformat(r["fill_date"]) for r in worked_rows)
    assert start == date(2023, 1, 10)
    assert days_in_period(start, PERIOD_END) == 356


@pytest.mark.shared_data
def test_overlap_shift_matches_the_worked_example_row_by_row(worked_rows):
    spans = shifted_periods(_fills(worked_rows))
    for (start, end), row in zip(spans, worked_rows):
        assert start.isoformat() == row["pqa_adjusted_start"]
        assert end.isoformat() == row["adjusted_end"]
        assert min(end, PERIOD_END).isoformat() == row["counted_end_in_period"]


@pytest.mark.shared_data
def test_pdc_of_worked_example_is_89_3_percent(worked_rows):
    fills = _fills(worked_rows)
    start = fills[0].fill_date
    assert covered_days(fills, start, PERIOD_END) == 318
    assert round(pdc(fills, start, PERIOD_END), 1) == 89.3
    assert is_adherent(pdc(fills, start, PERIOD_END))


@pytest.mark.shared_data
def test_unshifted_pdc_of_worked_example_is_85_4_percent(worked_rows):
    fills = _fills(worked_rows)
    assert covered_days(fills, fills[0].fill_date, PERIOD_END, shift=False) == 304
    assert round(pdc_unshifted(fills, fills[0].fill_date, PERIOD_END), 1) == 85.4


@pytest.mark.shared_data
def test_mpr_of_worked_example_is_92_7_percent(worked_rows):
    fills = _fills(worked_rows)
    assert round(mpr(fills, fills[0].fill_date, PERIOD_END), 1) == 92.7


def test_coverage_never_passes_the_period_end():
    fills = [Fill(date(2023, 12, 1), 90)]
    assert covered_days(fills, date(2023, 12, 1), date(2023, 12, 31)) == 31
    assert pdc(fills, date(2023, 12, 1), date(2023, 12, 31)) == 100.0


def test_mpr_may_exceed_one_hundred_percent():
    fills = [Fill(date(2023, 1, 1), 30), Fill(date(2023, 1, 15), 30)]
    assert mpr(fills, date(2023, 1, 1), date(2023, 1, 30)) == 200.0


def test_no_fills_gives_no_pdc():
    assert pdc([], date(2023, 1, 1), date(2023, 3, 31)) is None


def test_pqa_needs_two_fills_on_different_dates():
    assert not pqa_eligible([Fill(date(2023, 1, 1), 30)])
    assert not pqa_eligible([Fill(date(2023, 1, 1), 30), Fill(date(2023, 1, 1), 30)])
    assert pqa_eligible([Fill(date(2023, 1, 1), 30), Fill(date(2023, 2, 1), 30)])


def test_adherence_threshold_is_80_percent_and_90_for_antiretrovirals():
    assert is_adherent(80.0) and not is_adherent(79.9)
    assert not is_adherent(85.0, antiretroviral=True) and is_adherent(90.0, antiretroviral=True)
    assert is_adherent(None) is None


def test_dose_adherence_is_taken_over_scheduled():
    assert dose_adherence(3, 4) == 75.0
    assert dose_adherence(0, 0) is None
