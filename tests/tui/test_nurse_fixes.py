"""Pilot tests of what a nurse found in tmux: a lock screen no one could leave once its user was disabled, no key
to lock on purpose, signing dialogs opened for items of another review role, a dose "taken" question that did not
say the dose was taken already, `status:missed` refused on the Doses tab, and words on the lock screen and header."""

from __future__ import annotations

from medjobs_tui.console import Actor, Console
from medjobs_tui.tui.app import MedJobsApp, build_dashboard
from medjobs_tui.tui.login import LockScreen
from medjobs_tui.tui.screens.prompts import QuitScreen
from tests.conftest import ADMIN_NAME, PASSWORD, make_user
from tests.tui.pilot import first_paint, key_names, settle, type_in, wait_until

SIZE = (120, 40)


def audit_rows(settings, *actions: str) -> list[tuple[str, str, str, str | None]]:
    """(actor, action, outcome, detail) of every audit entry of ``actions``, oldest first."""
    console = Console(settings)
    try:
        marks = ",".join("?" * len(actions))
        return [(r[0], r[1], r[2], r[3]) for r in console.db.execute(
            f"SELECT actor, action, outcome, detail FROM audit_log WHERE action IN ({marks}) ORDER BY id", list(actions))]
    finally:
        console.close()


def by_admin(settings, change) -> None:
    """An admin, at another console of the clinic, makes ``change(console, admin)``."""
    admin = Console(settings)
    try:
        change(admin, Actor(ADMIN_NAME, "admin"))
    finally:
        admin.close()


def text_of(app, selector: str) -> str:
    """The words of widget ``selector`` on the screen shown ("" when it is not there)."""
    found = app.screen.query(selector)
    return str(found.first().render()) if found else ""


async def signed_in(pilot, app, user: str) -> None:
    """Sign ``user`` in on the sign-in screen and wait for the first paint."""
    app.screen.query_one("#login-user").value = user
    app.screen.query_one("#login-password").value = PASSWORD
    app.screen.query_one("#login-password").focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.actor is not None, what="sign-in")
    await first_paint(pilot)


# ---------------------------------------------------------------------- 1. a disabled user's lock screen


async def test_a_disabled_users_lock_screen_says_so_and_another_user_signs_in_on_it(settings):
    """nurse.kim (operator, runner embedded) is disabled by an admin: the lock screen says her password can no longer
    unlock it and asks for another user's name and password; nurse.lee (operator) signs in and goes on with the
    runner still running here; her sign-in and the end of nurse.kim's session are audited."""
    make_user(settings, "nurse.kim", "operator")
    make_user(settings, "nurse.lee", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot, app, "nurse.kim")
        runner = app.runner
        by_admin(settings, lambda admin, by: admin.disable_user(by, "nurse.kim"))
        await wait_until(pilot, lambda: "can no longer unlock" in text_of(app, "#lock-intro"), what="the lock saying so")
        assert "disabled after signing in" in text_of(app, "#lock-intro")
        assert "an admin can enable it. The runner keeps running" in text_of(app, "#lock-intro")    # a full stop
        await pilot.press("tab")
        await type_in(pilot, "nurse.lee")
        await pilot.press("tab")
        await type_in(pilot, PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.locked, what="nurse.lee signed in")
        await settle(pilot)
        assert app.actor == Actor("nurse.lee", "operator") and not isinstance(app.screen, LockScreen)
        assert app.runner is runner and app.runs_jobs            # an operator's console runs the runner, as before
        assert "nurse.lee (operator)" in app.sub_title
    rows = audit_rows(settings, "signin", "session.logout")
    assert ("nurse.lee", "signin", "ok") in [r[:3] for r in rows]
    logout = next(r for r in rows if r[1] == "session.logout")
    assert logout[:3] == ("nurse.kim", "session.logout", "ok") and '"next": "nurse.lee"' in logout[3]


async def test_an_auditor_signing_in_on_a_disabled_operators_lock_screen_stops_the_runner_and_sees_no_doses(settings):
    """As a fresh sign-in: an auditor's console runs no runner and shows no patient's dose; the Audit tab is theirs."""
    make_user(settings, "nurse.kim", "operator")
    make_user(settings, "audrey", "auditor")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot, app, "nurse.kim")
        await pilot.press("6")                                   # the Doses tab, filled with patients' doses
        await wait_until(pilot, lambda: app.table("doses").row_count > 0, what="the doses")
        await pilot.press("0")                                   # then the Overview: the Doses tab hidden, kept
        by_admin(settings, lambda admin, by: admin.disable_user(by, "nurse.kim"))
        await wait_until(pilot, lambda: "can no longer unlock" in text_of(app, "#lock-intro"), what="the lock saying so")
        app.screen.query_one("#lock-user").value = "audrey"
        app.screen.query_one("#lock-password").value = PASSWORD
        app.screen.query_one("#lock-password").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.locked, what="audrey signed in")
        await settle(pilot, 2)
        assert app.table("doses").row_count == 0                 # nothing of the operator's rows left, shown or not
        await wait_until(pilot, lambda: "NO RUNNER" in app.sub_title, what="the header without this console's runner")
        assert not app.runs_jobs
        assert app.audit_tab and "audrey (auditor)" in app.sub_title
    assert ("runner", "runner.stop", "ok") in [r[:3] for r in audit_rows(settings, "runner.stop")]


async def test_q_on_a_disabled_users_lock_screen_quits_through_the_quit_question(settings):
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot, app, "nurse.kim")
        by_admin(settings, lambda admin, by: admin.disable_user(by, "nurse.kim"))
        await wait_until(pilot, lambda: "can no longer unlock" in text_of(app, "#lock-intro"), what="the lock saying so")
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the quit question")
        await pilot.press("y")
        await wait_until(pilot, lambda: app._exit_renderables is not None or not app.is_running, what="the exit")
    rows = audit_rows(settings, "session.quit")
    assert rows and rows[-1][:3] == ("nurse.kim", "session.quit", "ok") and '"stopped"' in rows[-1][3]


async def test_an_idle_locked_user_disabled_meanwhile_gets_the_same_way_out(clinic):
    actor = make_user(clinic.settings, "nurse.kim", "operator", clock=clinic.clock)
    make_user(clinic.settings, "nurse.lee", "operator", clock=clinic.clock)
    app = MedJobsApp(clinic.console, actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.lock_now("idle")                                     # as after the idle time
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen), what="the lock")
        by_admin(clinic.settings, lambda admin, by: admin.disable_user(by, "nurse.kim"))
        await wait_until(pilot, lambda: "can no longer unlock" in text_of(app, "#lock-intro"), what="the lock saying so")
        await pilot.press("tab", *key_names("nurse.lee"), "tab", *key_names(PASSWORD), "enter")
        await wait_until(pilot, lambda: not app.locked, what="nurse.lee signed in")
        assert app.actor.username == "nurse.lee"


async def test_a_demoted_operator_unlocks_as_auditor_and_this_console_runs_no_runner_any_more(settings):
    """After the unlock with a role that may not run a runner, the header no longer says this console runs it: the
    runner stopped as at quit (audited), as an auditor's console runs none from sign-in."""
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot, app, "nurse.kim")
        await wait_until(pilot, lambda: "runner: this console" in app.sub_title, what="the runner in the header")
        by_admin(settings, lambda admin, by: admin.set_user_role(by, "nurse.kim", "auditor"))
        await wait_until(pilot, lambda: "(auditor)" in text_of(app, "#lock-intro"), what="the lock with the new role")
        assert "(operator):" not in text_of(app, "#lock-intro")          # not the old role
        assert "to go on. The runner keeps running" in text_of(app, "#lock-intro")
        await type_in(pilot, PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.locked, what="the unlock")
        await wait_until(pilot, lambda: "runner: this console" not in app.sub_title and "NO RUNNER" in app.sub_title,
                         what="the header without this console's runner")
        assert not app.runs_jobs
    rows = audit_rows(settings, "runner.stop")
    assert rows and rows[-1][:3] == ("runner", "runner.stop", "ok") and "auditor" in rows[-1][3]


# ---------------------------------------------------------------------- 2. a key to lock on purpose


async def test_ctrl_l_locks_at_once_as_the_idle_lock_does_and_is_listed_in_help_and_footer(clinic):
    actor = make_user(clinic.settings, "nurse.kim", "operator", clock=clinic.clock)
    app = MedJobsApp(clinic.console, actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any(keys == "^l" and "Lock the screen" in what for keys, what, _ in app.help_keys())
        shown = app.active_bindings.get("ctrl+l")                # the footer offers it
        assert shown is not None and shown.binding.show and shown.enabled and shown.binding.description == "Lock"
        app.toast("backup succeeded")
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen), what="the lock screen")
        await pilot.pause()
        assert app.locked and not list(app._notifications)
        assert "nurse.kim locked it (ctrl+l)." in text_of(app, "#lock-intro")
        await type_in(pilot, PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.locked, what="the unlock")
    rows = audit_rows(clinic.settings, "session.lock")
    assert [r[:3] for r in rows] == [("nurse.kim", "session.lock", "ok")] and '"reason": "user"' in rows[0][3]


# ---------------------------------------------------------------------- 3. `s` on an item of another review role


async def test_s_on_an_item_of_another_review_role_refuses_at_once_naming_who_signs_it(clinic):
    """sam.security presses s on the technical lead's item: no dialog opens (his next keys are not typed into a
    password field), a notice names who signs it, and the panel under the table does not offer s on it."""
    from tests.tui.test_signoff_tab import add_reviewers, open_tab, preview_text
    from medjobs_tui.tui.signoff_tab import SIGNOFF_TAB, SignScreen
    from tests.tui.pilot import notices, select

    add_reviewers(clinic.console)
    app = MedJobsApp(clinic.console, Actor("sam.security", "reviewer", "security officer"), refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app)
        item = "technical_review.code_review"
        select(app, SIGNOFF_TAB, item)
        await pilot.pause()
        assert "s signs it" not in preview_text(app) and "the technical lead signs it" in preview_text(app)
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, SignScreen)
        assert any("is signed by the technical lead; sam.security is the security officer" in n for n in notices(app))
        own = next(i.id for i in app.latest_signoff.items if i.review_role == "security officer")
        select(app, SIGNOFF_TAB, own)
        await pilot.pause()
        assert "s signs it" in preview_text(app)


# ---------------------------------------------------------------------- 4. `d` on a dose already taken


async def test_d_on_a_dose_already_taken_refuses_at_once_saying_by_whom_and_when(clinic):
    from medjobs_tui.tui.screens.prompts import ConfirmScreen
    from tests.tui.pilot import cell, notices
    from tests.tui.test_dose_key import a_due_8_oclock_dose, on_the_doses_tab

    dose, key = a_due_8_oclock_dose(clinic)
    clinic.console.record_dose(Actor("nurse.lee", "operator"), dose.order, dose.at, "taken")
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await on_the_doses_tab(pilot, key)
        assert cell(app, "doses", key, "status") == "taken"
        await pilot.press("d")
        await wait_until(pilot, lambda: any("already recorded taken by nurse.lee at 07:55 EST" in n
                                            for n in notices(app)), what="the refusal")
        assert not isinstance(app.screen, ConfirmScreen)          # no "taken now?" question that hides it
    assert len(clinic.console.dose_history(dose.order, dose.at)) == 1


# ---------------------------------------------------------------------- 5. `status:` words of the Doses tab


async def test_the_doses_tab_filters_by_its_own_statuses(clinic):
    from textual.widgets import Input

    from tests.tui.pilot import cell
    from tests.tui.test_dose_key import a_due_8_oclock_dose, on_the_doses_tab

    dose, key = a_due_8_oclock_dose(clinic)
    clinic.console.record_dose(clinic.actor, dose.order, dose.at, "taken")
    app = MedJobsApp(clinic.console, clinic.actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await on_the_doses_tab(pilot, key)
        for status in ("missed", "overdue", "due", "before_import", "taken"):
            await pilot.press("slash")
            app.query_one("#filter-input", Input).value = f"status:{status}"
            await pilot.press("enter")
            await pilot.pause()
            assert not app.query_one("#filter-input", Input).display, (status, str(app.query_one("#filter-error").render()))
        await settle(pilot)
        table = app.table("doses")
        assert table.row_count >= 1 and all(cell(app, "doses", k.value, "status") == "taken" for k in table.rows)


# ---------------------------------------------------------------------- 6. words


async def test_t_on_jobs_for_a_role_that_may_not_trigger_shows_the_consoles_refusal(clinic):
    from tests.tui.pilot import notices

    app = MedJobsApp(clinic.console, Actor("audrey", "auditor"), refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert "t" not in app.active_bindings or not app.active_bindings["t"].enabled   # not offered in the footer
        await pilot.press("t")
        await wait_until(pilot, lambda: any("audrey (auditor) may not trigger jobs" in n for n in notices(app)),
                         what="the refusal")
        assert clinic.console.runs(50) == [] or all(r.trigger != "manual" for r in clinic.console.runs(50))
    rows = audit_rows(clinic.settings, "job.trigger")
    assert rows and rows[-1][:3] == ("audrey", "job.trigger", "denied")


async def test_the_header_says_the_same_of_no_runner_to_a_reviewer_and_an_auditor(settings):
    make_user(settings, "demo.reviewer", "reviewer", review_role="technical lead")
    make_user(settings, "demo.auditor", "auditor")
    for size in ((120, 40), (80, 24)):
        said = []
        for user in ("demo.reviewer", "demo.auditor"):
            app = build_dashboard(settings, refresh_interval=0.1)
            async with app.run_test(size=size) as pilot:
                await signed_in(pilot, app, user)
                await pilot.pause()
                header = app.query_one("HeaderTitle").render().plain
                said.append(header.split(" · ")[0].split(" — ")[-1])
                assert user in header
        assert said[0] == said[1] == "NO RUNNER (runs wait)", (size, said)


async def test_an_operator_signing_in_on_a_disabled_auditors_lock_screen_gets_the_runner_as_at_sign_in(settings):
    make_user(settings, "audrey", "auditor")
    make_user(settings, "nurse.lee", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot, app, "audrey")
        assert app.runner is None and app.audit_tab
        by_admin(settings, lambda admin, by: admin.disable_user(by, "audrey"))
        await wait_until(pilot, lambda: "can no longer unlock" in text_of(app, "#lock-intro"), what="the lock saying so")
        await pilot.press("tab", *key_names("nurse.lee"), "tab", *key_names(PASSWORD), "enter")
        await wait_until(pilot, lambda: not app.locked, what="nurse.lee signed in")
        assert app.runner is not None and app.runs_jobs                 # an operator's console runs the runner
        await wait_until(pilot, lambda: "runner: this console" in app.sub_title, what="the runner in the header")
        await wait_until(pilot, lambda: not app.audit_tab and not app.query("#audit-table"), what="no Audit tab")
