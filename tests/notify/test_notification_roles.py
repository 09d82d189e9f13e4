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
    assert seen["dose_reminder"].message == NOTIFICATION_WITHHELD and seen["dose_reminder"].patient == "P-00007"
    assert seen["job_failed"].message != NOTIFICATION_WITHHELD                 # no patient in it
    told = {n.kind: n for n in console.notifications(actor=nurse)}
    assert told["dose_reminder"].message != NOTIFICATION_WITHHELD
    assert all(n.message == NOTIFICATION_WITHHELD for n in console.notifications() if n.patient)   # no actor: none
    snapshot = console.snapshot(views={"notifications"}, actor=auditor)
    assert {n.kind: n.message for n in snapshot.notifications}["dose_reminder"] == NOTIFICATION_WITHHELD

    cli = CliRunner(env={"MEDJOBS_USER": "audit.lee", "MEDJOBS_PASSWORD_FILE": str(password_file(tmp_path))})
    shown = cli.invoke(main, ["--config", str(notify_settings.source), "notifications", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert told["dose_reminder"].message not in shown.output and "withheld" in shown.output
