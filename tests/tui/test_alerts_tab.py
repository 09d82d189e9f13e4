"""Pilot tests and the SVG snapshot of the Alerts tab: the Overview's count leads to it, `a` acknowledges the
selected alert and the screen says by whom; a role that may not acknowledge is not offered the key."""

from __future__ import annotations

from datetime import timedelta

from medjobs_tui.console import Actor
from medjobs_tui.notify.alerts import raise_alert, resolve_alert
from medjobs_tui.store import connect
from medjobs_tui.tui.app import MedJobsApp
from medjobs_tui.tui.screens.prompts import ConfirmScreen
from medjobs_tui.tui.tables import tab_keys
from tests.conftest import STORE_KEY
from tests.tui.pilot import cell, ready_for_snapshot, select, settle, wait_until

SIZE = (120, 40)
ALERTS_KEY = next(key for key, spec in tab_keys() if spec.id == "alerts")


def dead_run_alert(app: MedJobsApp) -> str:
    """The row key of the seeded clinic's dead-run alert (refill_check's run 5 died)."""
    return next(a for a in app.latest.alerts if a.kind == "run_dead").id.__str__()


def add_history(clinic) -> None:
    """Two more alerts beside the dead run's: critical supply acknowledged earlier, a dead-man's switch resolved."""
    db = connect(clinic.settings.database_path, STORE_KEY)
    try:
        earlier = clinic.clock.now() - timedelta(hours=2)
        supply = raise_alert(db, kind="supply_critical", scope="order 3 (P-00002)", now=earlier, notify=False,
                             summary="order 3 (P-00002): 1 day(s) of supply left (critical at 3 day(s) or less)",
                             ref="2026-11-29")
        db.execute("UPDATE alerts SET state = 'acknowledged', acknowledged_by = 'ann.admin', acknowledged_at = ?"
                   " WHERE id = ?", [earlier.isoformat(), supply.alert_id])
        missed = raise_alert(db, kind="schedule_missed", scope="job backup", job_name="backup",
                             now=earlier - timedelta(hours=1), summary="job backup: 1 scheduled tick(s) since "
                             "2026-11-29 08:00 UTC not recorded (last tick recorded 2026-11-28 08:00 UTC)")
        resolve_alert(db, missed.alert_id, "job backup: schedule ticks again (tick of 2026-11-29 09:00 UTC recorded)",
                      earlier)
    finally:
        db.close()


async def test_a_from_the_overview_opens_the_alerts_and_a_acknowledges_the_selected_one(seeded_clinic):
    c = seeded_clinic
    app = MedJobsApp(c.console, c.actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert str(app.query_one("#goto-alerts").label) == "1 open alert (a)"
        await pilot.press("a")
        await wait_until(pilot, lambda: app.active_tab == "alerts", what="the Alerts tab")
        await settle(pilot)
        key = dead_run_alert(app)
        assert cell(app, "alerts", key, "kind") == "dead run"
        assert cell(app, "alerts", key, "status") == "open"
        assert "refill_check" in cell(app, "alerts", key, "summary")
        select(app, "alerts", key)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: cell(app, "alerts", key, "status") == "acknowledged by tester",
                         what="the acknowledged state on screen")
        assert any("acknowledged by tester" in n for n in [str(n.message) for n in app._notifications])
        preview = str(app.query_one("#alerts-preview").render())
        assert "acknowledged by tester at 11-29" in preview and "dead after attempt 3" in preview
    entries = c.console.db.execute("SELECT actor, action, target, outcome FROM audit_log WHERE action = 'alert.ack'"
                                   ).fetchall()
    assert entries == [("tester", "alert.ack", f"alert:{key}", "ok")]


async def test_an_auditor_sees_the_alerts_but_is_not_offered_acknowledge(seeded_clinic):
    c = seeded_clinic
    app = MedJobsApp(c.console, Actor("audrey.aud", "auditor"), refresh_interval=0.1, tab="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        key = dead_run_alert(app)
        select(app, "alerts", key)
        assert app.check_action("ack_alert", ()) is False
        await pilot.press("a")                           # not offered; pressed all the same: the console refuses
        await settle(pilot)
        assert cell(app, "alerts", key, "status") == "open"
        assert any("may not acknowledge alerts" in str(n.message) for n in app._notifications)
    assert c.console.db.execute("SELECT outcome FROM audit_log WHERE action = 'alert.ack'").fetchall() == [("denied",)]


async def test_a_a_on_the_overview_asks_before_acknowledging_showing_what_and_escape_leaves_it_open(seeded_clinic):
    c = seeded_clinic
    app = MedJobsApp(c.console, c.actor, refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await wait_until(pilot, lambda: app.active_tab == "alerts" and app.table("alerts").row_count > 0,
                         what="the Alerts tab with its rows")
        key = app.table("alerts").selected_key
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        assert cell(app, "alerts", key, "alert") == f"A-{key}"               # MedJobs' alerts: A-N (interactions: I-N)
        assert str(app.screen.query_one(".dialog-title").render()) == f"Acknowledge alert A-{key}?"
        shown = str(app.screen.query_one("#confirm-detail").render())
        assert "dead run" in shown and "refill_check" in shown, shown           # kind, scope, summary
        await pilot.press("enter")                          # enter on the focused button: No, the safe answer
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="the dialog closed")
        await pilot.press("a", "escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="the dialog closed")
        await settle(pilot)
        assert cell(app, "alerts", key, "status") == "open"
    assert c.console.db.execute("SELECT count(*) FROM audit_log WHERE action = 'alert.ack'").fetchone()[0] == 0


def test_alerts_tab(snap_compare, seeded_clinic):
    add_history(seeded_clinic)
    app = MedJobsApp(seeded_clinic.console, seeded_clinic.actor, refresh_interval=3600)
    assert snap_compare(app, terminal_size=SIZE, press=[ALERTS_KEY], run_before=ready_for_snapshot)
