"""The dashboard's sign-in screen and automatic logoff (Pilot tests on the injected clock).

45 CFR 164.312(d) person authentication: the console opens on a sign-in screen and acts as whoever signs in.
45 CFR 164.312(a)(2)(iii) automatic logoff: after security.idle_timeout without input the dashboard locks;
nothing of the clinic shows, the runner goes on, and only the user's password unlocks it (audited).
"""

from __future__ import annotations

import pytest

from medjobs_tui.console import Actor, Console
from medjobs_tui.console.identity import write_demo_users
from medjobs_tui.store import runs as store_runs
from medjobs_tui.tui.app import MedJobsApp, build_dashboard
from medjobs_tui.tui.login import LockScreen, LoginScreen
from tests.conftest import ADMIN_NAME, PASSWORD, make_user
from tests.tui.pilot import burst, first_paint, key_names, notices, settle, wait_until

SIZE = (120, 40)


def audit_rows(settings, action_prefix):
    console = Console(settings)
    try:
        return [(r[0], r[1], r[2]) for r in console.db.execute(
            "SELECT actor, action, outcome FROM audit_log WHERE action LIKE ? ORDER BY id", [action_prefix + "%"])]
    finally:
        console.close()


async def type_in(pilot, text: str) -> None:
    for ch in text:
        await pilot.press(ch if ch != "-" else "minus")


async def sign_in(pilot, user: str, password: str) -> None:
    app = pilot.app
    app.screen.query_one("#login-user").value = user
    app.screen.query_one("#login-password").value = password
    app.screen.query_one("#login-password").focus()
    await pilot.press("enter")


async def test_the_dashboard_opens_on_the_sign_in_screen_and_shows_nothing_before(settings):
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        await pilot.press("2", "t", "ctrl+p")           # no tab switch, no trigger, no palette behind the sign-in
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen) and app.refresh_count == 0 and app.runner is None
        assert store_runs.recent_runs(app.operations.db) == []


async def test_a_wrong_password_is_refused_and_audited_then_the_right_one_opens_the_console(settings):
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "nurse.kim", "not-the-password-at-all")
        await wait_until(pilot, lambda: "wrong user name or password" in str(
            app.screen.query_one("#login-error").render()), what="refusal")
        assert app.actor is None and isinstance(app.screen, LoginScreen)
        await sign_in(pilot, "nurse.kim", PASSWORD)
        await wait_until(pilot, lambda: app.actor is not None, what="sign-in")
        await first_paint(pilot)
        assert app.actor.username == "nurse.kim" and app.actor.role == "operator"
        assert app.runner is not None                   # an operator's console embeds the runner
        assert "nurse.kim (operator)" in app.sub_title
    assert audit_rows(settings, "signin") == [("nurse.kim", "signin", "denied"), ("nurse.kim", "signin", "ok")]


async def test_a_person_types_the_name_presses_tab_types_the_password_and_is_signed_in(settings):
    """Typed as a person types: tab moves to the password field (the password never lands in the
    visible name field), shift+tab goes back, enter signs in."""
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await type_in(pilot, "nurse.kim")
        await pilot.press("tab")
        assert app.focused is app.screen.query_one("#login-password")
        await pilot.press("shift+tab")
        assert app.focused is app.screen.query_one("#login-user")
        await pilot.press("tab")
        await type_in(pilot, PASSWORD)
        assert app.screen.query_one("#login-user").value == "nurse.kim"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.actor is not None, what="sign-in")
        assert app.actor.username == "nurse.kim"


@pytest.mark.parametrize("between", ["tab", "enter"])
async def test_a_burst_of_name_tab_or_enter_password_enter_as_the_screen_opens_signs_in(settings, between):
    """The whole sign-in typed in one burst, the first key arriving as the sign-in screen mounts: the tab or
    enter after the name is not lost (the password never lands in the visible name field) and enter signs in."""
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await burst(pilot, *key_names("nurse.kim"), between, *key_names(PASSWORD), "enter")
        await wait_until(pilot, lambda: app.actor is not None or "wrong" in str(
            app.screen.query_one("#login-error").render()), what="the sign-in's answer")
        assert app.actor is not None and app.actor.username == "nurse.kim", (
            app.screen.query_one("#login-user").value, str(app.screen.query_one("#login-error").render()))
    assert audit_rows(settings, "signin") == [("nurse.kim", "signin", "ok")]


async def test_keys_pressed_one_by_one_from_the_first_instant_sign_in(settings):
    """As a person types, from the moment the app starts (no pause first): pilot.press for every
    character, tab between the fields, enter; with the name given on the command line only the password."""
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*key_names("nurse.kim"), "tab", *key_names(PASSWORD))
        assert app.screen.query_one("#login-user").value == "nurse.kim"
        assert app.screen.query_one("#login-password").value == PASSWORD
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.actor is not None, what="sign-in")
    app = build_dashboard(settings, username="nurse.kim", refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await burst(pilot, *key_names(PASSWORD), "enter")
        await wait_until(pilot, lambda: app.actor is not None, what="sign-in with the name given")


async def test_before_sign_in_the_command_palette_and_dashboard_keys_stay_closed(settings):
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        for action in ("command_palette", "trigger", "retry", "cancel", "show_tab", "help"):
            assert not app.check_action(action, ())


async def test_an_auditors_console_only_watches_no_runner_is_embedded(settings):
    make_user(settings, "audrey", "auditor")
    app = build_dashboard(settings, username="audrey", refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#login-password").has_focus   # the name is filled in already
        await sign_in(pilot, "audrey", PASSWORD)
        await wait_until(pilot, lambda: app.actor is not None, what="sign-in")
        await first_paint(pilot)
        assert app.runner is None


async def signed_in_then(pilot, app, change) -> None:
    """Sign in as nurse.kim and wait for the first paint; then an admin, from another console of the clinic,
    makes ``change(console, admin actor)`` to the account."""
    await sign_in(pilot, "nurse.kim", PASSWORD)
    await wait_until(pilot, lambda: app.actor is not None, what="sign-in")
    await first_paint(pilot)
    admin = Console(app.operations.settings)
    try:
        change(admin, Actor(ADMIN_NAME, "admin"))
    finally:
        admin.close()


def lock_intro(app) -> str:
    """The lock screen's words, once it is up and composed ("" before)."""
    if not isinstance(app.screen, LockScreen) or not app.screen.query("#lock-intro"):
        return ""
    return str(app.screen.query_one("#lock-intro").render())


async def test_a_user_disabled_while_signed_in_is_locked_out_of_the_open_dashboard(settings):
    """An admin disables the user in another window: the dashboard's next refresh re-reads the account, locks
    the screen saying why, and the user's own name and password no longer sign in on it (the generic answer)."""
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in_then(pilot, app, lambda admin, by: admin.disable_user(by, "nurse.kim"))
        await wait_until(pilot, lambda: "disabled after signing in" in lock_intro(app), what="lock saying why")
        assert app.locked
        app.screen.query_one("#lock-user").value = "nurse.kim"
        app.screen.query_one("#lock-password").value = PASSWORD
        app.screen.query_one("#lock-password").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: "wrong user name or password" in str(
            app.screen.query_one("#lock-error").render()), what="refusal")
        assert app.locked and isinstance(app.screen, LockScreen)
    rows = audit_rows(settings, "s")
    assert ("nurse.kim", "session.lock", "ok") in rows and ("nurse.kim", "signin", "denied") in rows


async def test_a_demoted_user_is_locked_and_goes_on_with_the_new_role_after_unlocking(settings):
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in_then(pilot, app, lambda admin, by: admin.set_user_role(by, "nurse.kim", "auditor"))
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen), what="lock")
        await wait_until(pilot, lambda: "role changed from operator to auditor" in lock_intro(app), what="lock saying why")
        app.screen.query_one("#lock-password").value = PASSWORD
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.locked, what="unlock")
        assert app.actor.role == "auditor"


async def test_the_sign_in_screen_points_to_the_demo_users_file_only_when_there_is_one(settings):
    app = build_dashboard(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.screen.query("#login-demo-hint")
    path = write_demo_users(settings.database_path, [("demo.admin", "admin", None, "x" * 12)])
    app = build_dashboard(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert str(path) in str(app.screen.query_one("#login-demo-hint").render())


async def test_idle_timeout_locks_the_screen_hides_the_clinic_and_only_the_password_unlocks(seeded_clinic):
    c = seeded_clinic
    actor = make_user(c.settings, "nurse.kim", "operator", clock=c.clock)
    app = MedJobsApp(c.console, actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.toast("backup succeeded")
        await pilot.pause()
        assert "refill_check" in app.export_screenshot() and notices(app) == ["backup succeeded"]
        c.clock.advance(c.settings.security.idle_timeout - 1)
        app.check_idle_lock()
        assert not app.locked                            # not yet: one second short
        c.clock.advance(1)
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen), what="the lock screen")
        await pilot.pause()
        shown = app.export_screenshot()
        assert "locked" in shown
        for hidden in ("refill_check", "E-TEST", "dead"):
            assert hidden not in shown                   # no run details
        assert notices(app) == []                        # no notification text
        app.toast("run 7 of backup succeeded")
        await pilot.pause()
        assert notices(app) == []                        # nor any new one while locked                  # no run details, no notification text
        seen = app.refresh_count
        await settle(pilot, 2)                           # refreshes go on underneath
        assert app.refresh_count > seen and isinstance(app.screen, LockScreen)
        await pilot.press("2", "t")                      # keys of the console do nothing while locked
        assert isinstance(app.screen, LockScreen)
        app.screen.query_one("#lock-password").value = "not-the-password-at-all"
        await pilot.press("enter")
        await wait_until(pilot, lambda: str(app.screen.query_one("#lock-error").render()) == "wrong password",
                         what="refusal (it asked only for the password)")
        assert app.locked
        await type_in(pilot, PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.locked, what="unlock")
        await pilot.pause()
        assert "refill_check" in app.export_screenshot()
    assert audit_rows(c.settings, "session.") == [
        ("nurse.kim", "session.lock", "ok"), ("nurse.kim", "session.unlock", "denied"),
        ("nurse.kim", "session.unlock", "ok"), ("nurse.kim", "session.quit", "ok")]   # the app's end, recorded


async def test_input_keeps_the_dashboard_unlocked(clinic):
    actor = make_user(clinic.settings, "nurse.kim", "operator", clock=clinic.clock)
    app = MedJobsApp(clinic.console, actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(3):
            clinic.clock.advance(clinic.settings.security.idle_timeout - 10)
            await pilot.press("down")                    # a key press is input: the idle time starts again
            app.check_idle_lock()
            assert not app.locked


async def test_admins_and_auditors_get_an_audit_tab_with_the_sign_ins_others_do_not(settings):
    make_user(settings, "audrey", "auditor")
    make_user(settings, "nurse.kim", "operator")
    for user, has_tab in (("audrey", True), ("nurse.kim", False)):
        app = build_dashboard(settings, username=user, refresh_interval=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, user, PASSWORD)
            await wait_until(pilot, lambda: app.actor is not None, what="sign-in")
            await first_paint(pilot)
            assert app.audit_tab is has_tab and bool(app.query("#audit-table")) is has_tab
            assert (("u", "Switch to the Audit tab (the newest audit entries)", "everywhere") in app.help_keys()) \
                is has_tab
            if has_tab:
                await pilot.press("u")                       # its key, as a person would
                await wait_until(pilot, lambda: app.active_tab == "audit", what="the Audit tab")
                table = app.table("audit")
                await wait_until(pilot, lambda: any(
                    str(table.get_cell(k, "action")) == "signin" for k in table.rows),
                    what="the sign-in in the Audit tab")
                key = next(iter(table.rows))
                assert [str(table.get_cell(key, c)) for c in ("actor", "role", "action", "outcome")] == [
                    "audrey", "auditor", "signin", "ok"]
            else:
                await pilot.press("u")
                await pilot.pause()
                assert app.active_tab == "overview"          # stays on the first tab: there is no Audit tab


async def test_the_log_view_keeps_the_embedded_runners_lines_from_before_it_was_first_opened(settings, monkeypatch):
    import logging

    from medjobs_tui.console import logbook as book

    monkeypatch.setattr(book, "_BOOK", None)            # a fresh process: no Log view opened yet
    make_user(settings, "nurse.kim", "operator")
    app = build_dashboard(settings, refresh_interval=0.1)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, "nurse.kim", PASSWORD)
            await wait_until(pilot, lambda: app.runner is not None, what="the embedded runner")
            logging.getLogger("medjobs_tui.engine.runner").error("run 99 of backup attempt 3 failed: now dead")
            await pilot.press("l")                      # the Log view, opened after the line was written
            await wait_until(pilot, lambda: any("run 99 of backup" in line.message
                                                for line in app.operations.log_lines("INFO")), what="the line")
    finally:
        if book._BOOK is not None:
            logging.getLogger("medjobs_tui").removeHandler(book._BOOK)


async def test_an_emergency_access_notice_stays_on_screen_until_the_admin_closes_it(settings):
    from medjobs_tui.console import CUSTODIAN
    from medjobs_tui.tui.screens import DetailScreen

    console = Console(settings)
    console.emergency_admin(CUSTODIAN, "ada.admin", PASSWORD)        # the recovery key gave ada the admin role
    console.close()
    app = build_dashboard(settings, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "ada.admin", PASSWORD)
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen), what="the notice")
        await pilot.pause(1)
        assert isinstance(app.screen, DetailScreen)                   # not a toast that goes away by itself
        fields = app.screen.query_one("#detail-fields")
        text = "".join(seg.text for line in fields.render_lines(fields.region.reset_offset) for seg in line)
        assert "EMERGENCY ACCESS" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, DetailScreen), what="closed")


async def test_a_busy_dashboard_locks_at_the_session_lifetime_and_the_password_starts_it_again(clinic):
    """Input keeps the idle lock away but not the absolute limit: security.session_lifetime after the password
    was typed the dashboard locks saying why; unlocking starts the lifetime again."""
    actor = make_user(clinic.settings, "nurse.kim", "operator", clock=clinic.clock)
    app = MedJobsApp(clinic.console, actor, refresh_interval=0.1)
    lifetime, idle = clinic.settings.security.session_lifetime, clinic.settings.security.idle_timeout
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        spent = 0.0
        while spent + idle - 10 < lifetime:              # busy all along: never idle long enough to lock
            clinic.clock.advance(idle - 10)
            spent += idle - 10
            await pilot.press("down")
            app.check_idle_lock()
            assert not app.locked
        clinic.clock.advance(lifetime - spent)
        await pilot.press("down")
        app.check_idle_lock()
        await wait_until(pilot, lambda: "security.session_lifetime" in lock_intro(app), what="lock saying why")
        await type_in(pilot, PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.locked, what="unlock")
        clinic.clock.advance(idle - 10)
        await pilot.press("down")
        app.check_idle_lock()
        assert not app.locked                            # the lifetime counts from the unlock
    assert ("nurse.kim", "session.lock", "ok") in audit_rows(clinic.settings, "session.")
