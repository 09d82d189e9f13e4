"""The Doses tab's key `d` records the selected dose as taken, through the console (role-checked, audited),
as `medjobs dose taken` does; the row then says 'taken'."""

from __future__ import annotations

from datetime import date

from textual.widgets import Static

from medjobs_tui.console import Actor
from medjobs_tui.tui.app import MedJobsApp
from medjobs_tui.tui.screens.prompts import ConfirmScreen
from tests.tui.pilot import cell, notices, select, settle, wait_until

SIZE = (120, 40)
TODAY = date(2026, 11, 29)   # the fixed clock's clinic-local day (07:55 New York)


def a_due_8_oclock_dose(clinic):
    """A dose due at 08:00 today (not yet recorded) and its Doses-tab row key."""
    dose = next(d for d in clinic.console.doses(clinic.actor, TODAY)
                if d.local.strftime("%H:%M") == "08:00" and d.status == "due")
    return dose, f"{dose.order}@{dose.at.isoformat()}"


async def on_the_doses_tab(pilot, key: str) -> None:
    """Open the Doses tab and put the cursor on row ``key``."""
    await settle(pilot)
    await pilot.press("6")
    await settle(pilot)
    select(pilot.app, "doses", key)


async def test_d_records_the_selected_dose_as_taken(clinic):
    dose, key = a_due_8_oclock_dose(clinic)
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await on_the_doses_tab(pilot, key)
        await pilot.press("d")                                      # asks first: one key must not record a dose
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        assert str(app.screen.query_one("#confirm-detail", Static).content) == (
            f"{dose.patient}, {dose.medication}, order {dose.order}, due Sun 29 Nov 08:00 EST")   # not late: no more
        await pilot.press("n")
        await settle(pilot)
        assert clinic.console.dose_history(dose.order, dose.at) == []     # no: nothing recorded
        await pilot.press("d", "y")
        await wait_until(pilot, lambda: cell(app, "doses", key, "status") == "taken", what="taken status")
        assert any(f"Dose of order {dose.order} due 2026-11-29 08:00 EST recorded as taken" in n
                   for n in notices(app))
    history = clinic.console.dose_history(dose.order, dose.at)
    assert [(h["status"], h["recorded_by"]) for h in history] == [("taken", clinic.actor.username)]


async def test_d_on_a_dose_hours_past_due_says_how_late_and_how_to_record_its_real_time(clinic):
    """Found by a fresh user: at 18:33 `d` on the 08:00 dose asked only "taken now?", no drug, no word of 10 h."""
    from datetime import timedelta

    dose, key = a_due_8_oclock_dose(clinic)
    clinic.clock.set(dose.at + timedelta(hours=10, minutes=33))
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await on_the_doses_tab(pilot, key)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        detail = str(app.screen.query_one("#confirm-detail", Static).content)
        assert detail.startswith(f"{dose.patient}, {dose.medication}, order {dose.order}")
        assert "Due 10 h 33 min ago" in detail
        assert f"medjobs dose taken {dose.order} 2026-11-29T08:00-05:00 --at" in detail
        await pilot.press("n")


async def test_d_is_refused_for_a_role_that_may_not_record_doses(clinic):
    reviewer = Actor("rita", "reviewer")   # may see doses, may not record them
    doses = clinic.console.doses(reviewer, TODAY)
    dose = doses[0]
    key = f"{dose.order}@{dose.at.isoformat()}"
    app = MedJobsApp(clinic.console, reviewer, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        select(app, "doses", key)
        assert app.check_action("dose_taken", ()) is False          # not offered to a reviewer
        app.action_dose_taken()                                      # asked anyway (and confirmed): the console refuses
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: any("may not record what happened to a dose" in n for n in notices(app)),
                         what="refusal toast")
    assert clinic.console.dose_history(dose.order, dose.at) == []


async def test_d_again_on_a_taken_dose_records_nothing_twice(clinic):
    dose, key = a_due_8_oclock_dose(clinic)
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await on_the_doses_tab(pilot, key)
        await pilot.press("d", "y")
        await wait_until(pilot, lambda: cell(app, "doses", key, "status") == "taken", what="taken status")
        await pilot.press("d", "y")
        await wait_until(pilot, lambda: any("already recorded taken by" in n for n in notices(app)), what="refusal")
    assert len(clinic.console.dose_history(dose.order, dose.at)) == 1


def test_a_dose_in_another_zone_is_named_in_the_patients_time_and_the_clinics():
    from zoneinfo import ZoneInfo

    from medjobs_tui.tui.commands import dose_words

    key = "61@2026-11-30T03:00:00+00:00"           # 20:00 MST for a patient in Denver, 22:00 EST at the clinic
    assert dose_words(key, ZoneInfo("America/New_York"), "20:00 MST") == "order 61, due 20:00 MST (Sun 29 Nov 22:00 EST)"
    assert dose_words(key, ZoneInfo("America/New_York"), "22:00 EST") == "order 61, due Sun 29 Nov 22:00 EST"
