"""A notification about a patient (a dose reminder, an interaction alert) carries that patient's medication: its
message is shown to the roles that may read patients' data (operator, admin, reviewer), never to the auditor,
in the console, the CLI and the dashboard's data alike; notifications about jobs are shown to every viewer."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner

from medjobs_tui.cli import main
from medjobs_tui.clock import FixedClock
from medjobs_tui.console import Console
from medjobs_tui.console.operations import NOTIFICATION_WITHHELD
from tests.conftest import FIXED_NOW, make_user, password_file
from tests.notify.conftest import add_patient, queue_dose_reminder, queue_staff_alert


def test_the_auditor_sees_no_message_about_a_patient_and_staff_see_it(notify_settings, db, tmp_path):
    clock = FixedClock(FIXED_NOW)
    queue_dose_reminder(db, clock.now(), add_patient(db), clock.now() + timedelta(hours=1))
    queue_staff_alert(db, clock.now(), run_id=9)
    console = Console(notify_settings, clock=clock)
    auditor = make_user(notify_settings, "audit.lee", "auditor")
    nurse = make_user(notify_settings, "nurse.kim", "operator")
    seen = {n.kind: n for n in console.notifications(actor=auditor)}
    assert seen["dose_reminder"].message == NOTIFICATION_WITHHELD and seen["dose_reminder"].patient is None
    assert seen["job_failed"].message != NOTIFICATION_WITHHELD                 # no patient in it
    told = {n.kind: n for n in console.notifications(actor=nurse)}
    assert told["dose_reminder"].message != NOTIFICATION_WITHHELD and told["dose_reminder"].patient == "P-00007"
    assert all(n.message == NOTIFICATION_WITHHELD for n in console.notifications() if n.patient)   # no actor: none
    snapshot = console.snapshot(views={"notifications"}, actor=auditor)
    assert {n.kind: n.message for n in snapshot.notifications}["dose_reminder"] == NOTIFICATION_WITHHELD

    cli = CliRunner(env={"MEDJOBS_USER": "audit.lee", "MEDJOBS_PASSWORD_FILE": str(password_file(tmp_path))})
    shown = cli.invoke(main, ["--config", str(notify_settings.source), "notifications", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert told["dose_reminder"].message not in shown.output and "withheld" in shown.output


def test_an_alert_about_a_patients_medication_is_withheld_from_the_auditor_everywhere(notify_settings, db, tmp_path):
    from medjobs_tui.console.alerts import ALERT_WITHHELD
    from medjobs_tui.notify.alerts import raise_alert, resolve_alert

    clock = FixedClock(FIXED_NOW)
    supply = raise_alert(db, kind="supply_critical", scope="order 45 (P-00012)", summary="1 day(s) of supply left",
                         now=clock.now()).alert_id
    pair = raise_alert(db, kind="interaction_major", scope="orders 65+66 (P-00014)",
                       summary="contraindicated interaction between orders 65 and 66", now=clock.now()).alert_id
    resolve_alert(db, pair, "order 66 stopped", clock.now())
    raise_alert(db, kind="run_dead", scope="run 9", summary="run 9 of backup is dead", now=clock.now(),
                job_name="backup")
    console = Console(notify_settings, clock=clock)
    auditor = make_user(notify_settings, "audit.lee", "auditor")
    reviewer = make_user(notify_settings, "tech.lead", "reviewer")
    seen = {a.kind: a for a in console.alerts(auditor, "all", evaluate=False)}
    assert (seen["supply_critical"].scope, seen["supply_critical"].summary) == ("order 45", ALERT_WITHHELD)
    assert (seen["interaction_major"].scope, seen["interaction_major"].summary,
            seen["interaction_major"].resolved_reason) == ("orders 65+66", ALERT_WITHHELD, ALERT_WITHHELD)
    assert seen["run_dead"].summary == "run 9 of backup is dead"                # no patient in it
    assert console.alert(auditor, supply).summary == ALERT_WITHHELD
    told = {a.kind: a for a in console.alerts(reviewer, "all", evaluate=False)}
    assert (told["supply_critical"].scope, told["supply_critical"].summary) == ("order 45 (P-00012)",
                                                                                "1 day(s) of supply left")
    assert told["interaction_major"].resolved_reason == "order 66 stopped"
    snapshot = console.snapshot(views={"alerts"}, actor=auditor)
    assert {a.kind: a.summary for a in snapshot.alerts}["supply_critical"] == ALERT_WITHHELD
    notes = console.notifications(actor=auditor)                     # the staff notices of the same alerts
    assert not [n.message for n in notes if "supply" in n.message or "interaction" in n.message
                or "P-000" in n.message or "order 66" in n.message]

    cli = CliRunner(env={"MEDJOBS_USER": "audit.lee", "MEDJOBS_PASSWORD_FILE": str(password_file(tmp_path))})
    shown = cli.invoke(main, ["--config", str(notify_settings.source), "alerts", "--state", "all", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert "P-00012" not in shown.output and "supply left" not in shown.output and "withheld" in shown.output


def test_the_report_and_the_audit_trail_carry_no_patients_medication_fact_of_an_alert(notify_settings, db, tmp_path):
    """Found by a reviewer: what Alerts withholds from the auditor, the report (which the auditor may write) told
    in full, and the audit entry of an acknowledgement named the alert's patient."""
    from medjobs_tui.notify.alerts import raise_alert

    clock = FixedClock(FIXED_NOW)
    supply = raise_alert(db, kind="supply_critical", scope="order 45 (P-00012)",
                         summary="1 day(s) of supply left (critical at 3 day(s) or less)", now=clock.now(),
                         notify=False).alert_id
    raise_alert(db, kind="interaction_major", scope="orders 65+66 (P-00014)",
                summary="contraindicated interaction (RULE-9) between orders 65 and 66", now=clock.now(), notify=False)
    raise_alert(db, kind="run_dead", scope="run 9", summary="run 9 of backup is dead", now=clock.now(),
                job_name="backup", notify=False)
    console = Console(notify_settings, clock=clock)
    nurse = make_user(notify_settings, "nurse.kim", "operator")
    auditor = make_user(notify_settings, "audit.lee", "auditor")
    text = console.validation_report(auditor, "md")
    steps = [line for line in text.splitlines() if "alert A-" in line]
    assert len(steps) == 3 and not [s for s in steps if "supply left" in s or "between orders" in s or "P-000" in s]
    assert any("run 9 of backup is dead" in s for s in steps)               # no patient in it: told as it is
    console.acknowledge_alert(nurse, supply)
    details = [str(e.detail) for e in console.audit_entries(auditor, action="alert.ack")]
    assert details and not [d for d in details if "P-00012" in d]
    assert '"scope": "order 45"' in details[0]
