"""Pilot tests of the Sign-off tab: a reviewer types the password in the dialog key by key and signs; the
signature shows with printed name, UTC and clinic time and meaning (21 CFR 11.50); a config change shows it
stale; refusals show in the dialog; the SVG snapshot at 120x40 with the fixed clock."""

from __future__ import annotations

import json

import pytest
import yaml

from medjobs_tui.clock import FixedClock
from medjobs_tui.config import load_settings
from medjobs_tui.console import CUSTODIAN, Actor, Console
from medjobs_tui.console.signoff import STALE_NOTE
from medjobs_tui.tui.app import MedJobsApp
from medjobs_tui.tui.screens import DetailScreen
from medjobs_tui.tui.signoff_tab import SIGNOFF_KEY, SIGNOFF_TAB, SignScreen
from tests.conftest import PASSWORD
from tests.tui.conftest import NOW
from tests.tui.pilot import burst, cell, key_names, ready_for_snapshot, select, settle, type_in, wait_until

SIZE = (120, 40)
LEAD = Actor("tess.lead", "reviewer", "technical lead")


def add_reviewers(console: Console) -> None:
    """An admin and a reviewer per review role, each with a printed name."""
    console.create_first_admin(CUSTODIAN, "ada.admin", PASSWORD)
    admin = Actor("ada.admin", "admin")
    for name, role, full in (("tess.lead", "technical lead", "Tess Lead"), ("sam.security", "security officer",
                                                                             "Sam Security"),
                             ("cora.compliance", "compliance officer", "Cora Compliance"),
                             ("pat.manager", "project manager", "Pat Manager")):
        console.add_user(admin, name, "reviewer", PASSWORD, role, full)
    console.add_user(admin, "olly.operator", "operator", PASSWORD)


def preview_text(app) -> str:
    return str(app.query_one("#signoff-preview").render())


async def open_tab(pilot, app) -> None:
    await settle(pilot)
    await pilot.press(SIGNOFF_KEY)
    assert app.active_tab == SIGNOFF_TAB
    await wait_until(pilot, lambda: app.table(SIGNOFF_TAB).row_count == 12, what="the sign-off items")


async def sign_in_dialog(pilot, app, item: str, password: str, *, name: str | None = None, comment: str = "") -> None:
    select(app, SIGNOFF_TAB, item)
    await pilot.press("s")
    await wait_until(pilot, lambda: isinstance(app.screen, SignScreen), what="the signing dialog")
    assert "Signer: Tess Lead (tess.lead, technical lead)." in str(app.screen.query_one("#sign-statement").render())
    if name is not None:
        await type_in(pilot, name)
        await pilot.press("enter")
    await type_in(pilot, password)
    await pilot.press("enter")        # to the meaning: the checklist's default is chosen
    await pilot.press("enter")        # chosen; on to the comment
    await type_in(pilot, comment)
    await pilot.press("enter")        # signs


async def test_a_reviewer_types_name_and_password_in_the_dialog_signs_and_reads_the_signature(clinic):
    add_reviewers(clinic.console)
    app = MedJobsApp(clinic.console, LEAD, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app)
        item = "technical_review.code_review"
        assert cell(app, SIGNOFF_TAB, item, "status") == "unsigned"
        await sign_in_dialog(pilot, app, item, PASSWORD, name="tess.lead", comment="all diffs read")
        await wait_until(pilot, lambda: not isinstance(app.screen, SignScreen), what="the dialog to close")
        await wait_until(pilot, lambda: cell(app, SIGNOFF_TAB, item, "status") == "signed", what="the signature")
        assert (cell(app, SIGNOFF_TAB, item, "signer"), cell(app, SIGNOFF_TAB, item, "meaning"),
                cell(app, SIGNOFF_TAB, item, "when")) == ("Tess Lead", "reviewed", "11-29 07:55")
        select(app, SIGNOFF_TAB, item)
        await pilot.pause()
        assert ("Signature: Tess Lead (tess.lead, technical lead) · reviewed · 2026-11-29 12:55:00 UTC · "
                "2026-11-29 07:55:00 EST") in preview_text(app)
        # the next signing of this session takes the password only: the dialog has no user name field
        item2 = "technical_review.tests_passing"
        select(app, SIGNOFF_TAB, item2)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, SignScreen), what="the signing dialog")
        assert not app.screen.query("#sign-user")
        await type_in(pilot, PASSWORD)
        await pilot.press("enter", "down", "enter", "enter")   # password, then "approved" instead of "reviewed"
        await wait_until(pilot, lambda: cell(app, SIGNOFF_TAB, item2, "status") == "signed", what="the 2nd one")
        assert cell(app, SIGNOFF_TAB, item2, "meaning") == "approved"
        # enter opens the item's history: the signature with its components and comment
        select(app, SIGNOFF_TAB, item)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen), what="the item's history")
        shown = " ".join(getattr(value, "plain", str(value)) for _, value in app.screen.fields)
        assert "with user name + password" in shown and "comment: all diffs read" in shown
    state = clinic.console.signoff_state()
    assert [s.components for i in state.items for s in i.history] == ["user name + password", "password"]


@pytest.mark.parametrize("between", ["tab", "enter"])
async def test_a_signing_typed_in_one_burst_keeps_each_field_and_signs(clinic, between):
    """Name, password, meaning and comment typed in one burst (a fast typist or a password manager): the
    password never lands in the visible name field, and the signature is made with the chosen meaning."""
    add_reviewers(clinic.console)
    app = MedJobsApp(clinic.console, LEAD, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app)
        item = "technical_review.code_review"
        select(app, SIGNOFF_TAB, item)
        meaning = ["enter"] if between == "enter" else ["tab"]     # enter chooses the default; tab keeps it
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, SignScreen), what="the signing dialog")
        await burst(pilot, *key_names("tess.lead"), between, *key_names(PASSWORD), between, *meaning,
                    *key_names("read it"), "enter")
        await wait_until(pilot, lambda: cell(app, SIGNOFF_TAB, item, "status") == "signed" or (
            isinstance(app.screen, SignScreen) and "Signing" not in str(app.screen.query_one("#sign-error").render())
            and app.screen.query_one("#sign-error").render().plain), what="the signature or a refusal")
        assert cell(app, SIGNOFF_TAB, item, "status") == "signed", (
            app.screen.query_one("#sign-user").value if isinstance(app.screen, SignScreen) else "")
    signature = next(s for i in clinic.console.signoff_state().items if i.id == item for s in i.history)
    assert (signature.components, signature.meaning, signature.comment) == ("user name + password", "reviewed", "read it")


async def test_after_the_dashboard_locks_the_next_signing_takes_both_components_again(clinic):
    from medjobs_tui.tui.login import LockScreen

    add_reviewers(clinic.console)
    app = MedJobsApp(clinic.console, LEAD, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app)
        await sign_in_dialog(pilot, app, "technical_review.code_review", PASSWORD, name="tess.lead")
        await wait_until(pilot, lambda: cell(app, SIGNOFF_TAB, "technical_review.code_review", "status") == "signed",
                         what="the signature")
        app.lock_now("user")
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen), what="the lock screen")
        await type_in(pilot, PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.locked, what="unlocked")
        await settle(pilot)
        select(app, SIGNOFF_TAB, "technical_review.tests_passing")
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, SignScreen), what="the signing dialog")
        assert app.screen.query("#sign-user"), "a new session after the lock: the user name is asked again"


async def test_a_wrong_password_is_refused_in_the_dialog_and_audited(clinic):
    add_reviewers(clinic.console)
    app = MedJobsApp(clinic.console, LEAD, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app)
        await sign_in_dialog(pilot, app, "technical_review.code_review", "not-my-password", name="tess.lead")
        await wait_until(pilot, lambda: "wrong user name or password" in str(
            app.screen.query_one("#sign-error").render()), what="the refusal")
        assert isinstance(app.screen, SignScreen) and app.screen.query_one("#sign-password").value == ""
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SignScreen)
        assert cell(app, SIGNOFF_TAB, "technical_review.code_review", "status") == "unsigned"
    refused = clinic.console.db.execute(
        "SELECT detail FROM audit_log WHERE action = 'signoff.sign' AND outcome = 'denied'").fetchall()
    assert [json.loads(r[0])["reason"] for r in refused] == ["credentials"]


async def test_final_approval_is_locked_and_its_signing_refused_in_the_dialog(clinic):
    add_reviewers(clinic.console)
    app = MedJobsApp(clinic.console, LEAD, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app)
        item = "final_approval.technical_lead"
        assert cell(app, SIGNOFF_TAB, item, "status") == "locked"
        select(app, SIGNOFF_TAB, item)
        await pilot.pause()
        assert "opens when Technical Review and Compliance Review are complete" in preview_text(app)
        await sign_in_dialog(pilot, app, item, PASSWORD, name="tess.lead")
        await wait_until(pilot, lambda: "opens when Technical Review and Compliance Review are complete" in str(
            app.screen.query_one("#sign-error").render()), what="the refusal")
    assert clinic.console.signoff_state().item(item).status == "unsigned"


async def test_after_a_config_change_the_signature_shows_stale_and_stays_on_record(clinic):
    add_reviewers(clinic.console)
    clinic.console.sign_item(LEAD, "technical_review.code_review", "reviewed", PASSWORD, username="tess.lead")
    config = clinic.settings.source
    data = yaml.safe_load(config.read_text())
    data["jobs"]["backup"]["retry_policy"]["max_attempts"] = 5
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    console = Console(load_settings(config), clock=clinic.clock)
    app = MedJobsApp(console, LEAD, refresh_interval=0.1)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await open_tab(pilot, app)
            item = "technical_review.code_review"
            assert cell(app, SIGNOFF_TAB, item, "status") == "stale"
            assert cell(app, SIGNOFF_TAB, item, "signer") == "Tess Lead"
            select(app, SIGNOFF_TAB, item)
            await pilot.pause()
            assert STALE_NOTE in preview_text(app) and "Signature: Tess Lead" in preview_text(app)
    finally:
        console.close()


async def test_an_operator_has_no_sign_off_tab_and_no_sign_key(clinic):
    add_reviewers(clinic.console)
    app = MedJobsApp(clinic.console, Actor("olly.operator", "operator"), refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(SIGNOFF_KEY)
        await pilot.pause()
        assert app.active_tab != SIGNOFF_TAB and not app.signoff_tab
        assert not any(where == "Sign-off" for _, _, where in app.help_keys())   # no s (sign) nor x (revoke)
        assert not any(k == "s" and where != "Validation" for k, _, where in app.help_keys())  # s: the self-test only


def test_sign_off_tab(snap_compare, clinic):
    """The Sign-off tab of a technical lead: one item signed, one stale after a config change, Final Approval
    locked; the stale item selected (its signature and note under the table)."""
    add_reviewers(clinic.console)
    clinic.console.sign_item(LEAD, "technical_review.code_review", "reviewed", PASSWORD, username="tess.lead")
    clinic.console.sign_item(Actor("sam.security", "reviewer", "security officer"),
                             "technical_review.security_validated", "approved", PASSWORD, username="sam.security")
    config = clinic.settings.source
    data = yaml.safe_load(config.read_text())
    data["jobs"]["backup"]["timeout"] = 1200
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    clock = FixedClock(NOW)
    console = Console(load_settings(config), clock=clock)
    clock.advance(600)
    console.sign_item(LEAD, "technical_review.tests_passing", "reviewed", PASSWORD, username="tess.lead")
    app = MedJobsApp(console, LEAD, refresh_interval=3600)

    async def ready(pilot):
        await ready_for_snapshot(pilot)
        await pilot.press(SIGNOFF_KEY)
        await wait_until(pilot, lambda: pilot.app.table(SIGNOFF_TAB).row_count == 12, what="the items")
        select(pilot.app, SIGNOFF_TAB, "technical_review.code_review")
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=ready)
    finally:
        console.close()
