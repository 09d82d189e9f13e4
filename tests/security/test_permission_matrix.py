"""The whole permission matrix: every operation of PERMISSIONS x every role, through the console's real
methods. Allowed: the operation runs (it may still fail for its own reasons, e.g. no such run). Refused:
a clear "may not" message and an audit entry with outcome denied. 45 CFR 164.312(a)(1) access control.

The cases are derived from PERMISSIONS, so an operation added there without a call in CALLS below fails
``test_every_operation_has_a_matrix_call`` (add one), and every CLI command must name its operation(s)
in CLI_OPERATIONS.
"""

from __future__ import annotations

from unittest import mock

import click
import pytest

from medjobs_tui.cli import main
from medjobs_tui.console import CUSTODIAN, ROLES, SERVICE_ROLES, Actor, Console, PermissionDenied, SignInFailed
from medjobs_tui.console.operations import ACTION_WORDS, PERMISSIONS
from medjobs_tui.clock import FixedClock
from medjobs_tui.config import load_settings
from tests.conftest import FIXED_NOW, PASSWORD, write_config

ALL_ROLES = sorted(set(ROLES) | set(SERVICE_ROLES) | set().union(*PERMISSIONS.values()))
"""People's roles, the runner service identity, and the custodian (key holder at a clinic without users)."""


def actor_for(role: str) -> Actor:
    """The actor of ``role`` in the matrix clinic: a real user for people, the identity for services."""
    return Actor(f"u.{role}", role) if role in ROLES else Actor(role, role)


def _selftest_refused_or_allowed(console: Console, actor: Actor):
    """``Console.selftest`` with the exercise itself stubbed (it takes seconds; tests/engine/test_selftest.py
    runs it): the role check and its audit entry are the real ones."""
    with mock.patch("medjobs_tui.console.selftest.run_selftest", return_value=None):
        return console.selftest(actor)


CALLS = {
    "data.import": lambda c, a, t: c.import_fhir(a, [t / "missing.ndjson"]),
    "data.import_dry_run": lambda c, a, t: c.import_fhir(a, [t / "missing.ndjson"], dry_run=True),
    "data.demo": lambda c, a, t: c.write_demo(a, patients=12),
    "data.replace": lambda c, a, t: c.write_demo(a, patients=12, replace=True),
    "runner.run": lambda c, a, t: c.authorise(a, "runner.run", "runner"),      # what `medjobs run` checks
    "error.read": lambda c, a, t: c.error_detail(a, "E-000000"),
    "job.trigger": lambda c, a, t: c.trigger(a, "backup"),
    "job.pause": lambda c, a, t: c.pause(a, "backup"),
    "job.resume": lambda c, a, t: c.resume(a, "backup"),
    "run.retry": lambda c, a, t: c.retry(a, 999),
    "run.cancel": lambda c, a, t: c.cancel(a, 999),
    "view.operations": lambda c, a, t: c.authorise(a, "view.operations", "view"),  # CLI views, dashboard sign-in
    "evidence.read": lambda c, a, t: c.read_evidence(a, 999),
    "signin": lambda c, a, t: c.sign_in(a.username, PASSWORD),
    "session.login": lambda c, a, t: c.open_session(a.username, PASSWORD),
    "session.logout": lambda c, a, t: c.end_session(a, "no-such-token"),
    "session.lock": lambda c, a, t: c.lock(a),
    "session.unlock": lambda c, a, t: c.unlock(a, PASSWORD),
    "session.quit": lambda c, a, t: c.quit_console(a, runner_stopped=False),        # the dashboard's q
    "runner.stop": lambda c, a, t: c.runner_stopping(a, "matrix"),                 # `medjobs run` stopping
    "password.change": lambda c, a, t: c.change_password(a, PASSWORD, PASSWORD),
    "user.add": lambda c, a, t: c.add_user(a, f"new.{a.username}", "operator", PASSWORD),
    "user.disable": lambda c, a, t: c.disable_user(a, "u.target"),
    "user.enable": lambda c, a, t: c.enable_user(a, "u.target"),
    "user.passwd": lambda c, a, t: c.set_user_password(a, "u.target"),
    "user.role": lambda c, a, t: c.set_user_role(a, "u.target", "auditor"),
    "user.name": lambda c, a, t: c.set_user_full_name(a, "u.target", "Una Target"),
    "user.list": lambda c, a, t: c.list_users(a),
    "user.unlock": lambda c, a, t: c.unlock_user(a, "u.target"),
    "audit.list": lambda c, a, t: c.audit_list(a),
    "report.write": lambda c, a, t: c.validation_report(a),
    "audit.verify": lambda c, a, t: c.audit_verify(a),
    "dose.read": lambda c, a, t: c.doses(a, FIXED_NOW.date()),
    "backup.verify": lambda c, a, t: c.verify_backup_file(a, t / "missing.db"),
    "backup.list": lambda c, a, t: c.list_backups(a),
    "store.restore": lambda c, a, t: c.restore(a, t / "missing.db"),
    "interactions.import": lambda c, a, t: c.import_interactions(a, t / "missing.csv"),
    "interactions.ack": lambda c, a, t: c.acknowledge_interaction(a, 999),
    "clinic.init": lambda c, a, t: c.create_first_admin(a, "first.admin", PASSWORD),
    "clinic.recover": lambda c, a, t: c.emergency_admin(a, "new.admin", PASSWORD),
    "key.recover": lambda c, a, t: c.key_file_recovered(a, "medjobs.recovery.json"),
    "key.rotate": lambda c, a, t: c.rotate_store_key(a),
    "dose.record": lambda c, a, t: c.record_dose(a, 999, "2026-11-29 08:00", "taken"),
    "patient.prefs": lambda c, a, t: c.set_patient_prefs(a, "P-09999", lead_minutes=5),
    "patient.read": lambda c, a, t: c.interaction_alerts(a),
    "order.critical": lambda c, a, t: c.set_order_critical(a, 999),
    "supply.record": lambda c, a, t: c.record_supply_count(a, 999, 30, "tablets"),
    "view.export": lambda c, a, t: c.export_table(a, "queue", ["run"], [["1"]], t / "runs.csv"),
    "signoff.read": lambda c, a, t: c.signoff_items(a),
    "signoff.sign": lambda c, a, t: c.sign_item(a, "technical_review.code_review", "reviewed", PASSWORD,
                                                username=a.username),
    "signoff.revoke": lambda c, a, t: c.revoke_item(a, "technical_review.code_review", "matrix", PASSWORD,
                                                    username=a.username),
    "alert.list": lambda c, a, t: c.alerts(a),
    "alert.ack": lambda c, a, t: c.acknowledge_alert(a, 999),
    "selftest.run": lambda c, a, t: _selftest_refused_or_allowed(c, a),
}
"""How each operation is performed through the console (``c`` console, ``a`` actor, ``t`` a tmp folder)."""

CLI_OPERATIONS = {
    "import": {"data.import", "data.import_dry_run"}, "demo": {"data.demo", "data.replace", "clinic.init"}, "run": {"runner.run", "runner.stop"},
    "trigger": {"job.trigger"}, "pause": {"job.pause"}, "resume": {"job.resume"}, "retry": {"run.retry"},
    "cancel": {"run.cancel"}, "jobs": {"view.operations"}, "runs": {"view.operations"},
    "runs show": {"view.operations"},
    "metrics": {"view.operations"}, "validation": {"view.operations"},
    "evidence": {"view.operations", "evidence.read"},
    "notifications": {"view.operations"}, "channels": {"view.operations"}, "log": {"view.operations"}, "error": {"error.read"},
    "check-config": set(),
    "login": {"signin", "session.login"}, "logout": {"session.logout"}, "whoami": {"signin"},
    "password": {"password.change"}, "user add": {"user.add"}, "user passwd": {"user.passwd"},
    "user role": {"user.role"}, "user name": {"user.name"}, "user disable": {"user.disable"}, "user enable": {"user.enable"},
    "user unlock": {"user.unlock"}, "user list": {"user.list"},
    "init": {"clinic.init"}, "recover": {"clinic.recover"}, "audit list": {"audit.list"}, "report": {"report.write"},
    "audit verify": {"audit.verify"}, "doses": {"dose.read"},
    "interactions import": {"interactions.import"}, "interactions list": {"patient.read"},
    "interactions ack": {"interactions.ack"}, "backup list": {"backup.list"}, "backup verify": {"backup.verify"}, "restore": {"store.restore"},
    "key rotate": {"key.rotate"}, "key recover": {"key.recover"},
    "dose taken": {"dose.record"}, "dose skipped": {"dose.record"}, "dose refused": {"dose.record"},
    "dose history": {"view.operations"},
    "patient prefs": {"patient.prefs", "patient.read"}, "order critical": {"order.critical"},
    "supply count": {"supply.record"},
    "signoff list": {"signoff.read"}, "signoff sign": {"signoff.sign"}, "signoff revoke": {"signoff.revoke"},
    "alerts": {"alert.list"}, "alerts ack": {"alert.ack"},
    "selftest": {"selftest.run", "view.operations"},
}
"""The operations each CLI command performs (``check-config`` reads only the config file; ``key recover``
acts as the custodian: the recovery key is its own credential)."""


def cli_commands(group: click.Group = main, prefix: str = "") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += cli_commands(cmd, f"{prefix}{name} ")
        else:
            out.append(prefix + name)
    return out


def test_every_operation_has_a_matrix_call_and_a_refusal_text():
    missing = sorted(set(PERMISSIONS) - set(CALLS))
    assert not missing, f"add a call for {missing} to CALLS in {__file__}"
    assert not sorted(set(PERMISSIONS) - set(ACTION_WORDS)), "every operation needs its words in ACTION_WORDS"


def test_every_cli_command_names_its_operations():
    commands = cli_commands()
    unmapped = sorted(set(commands) - set(CLI_OPERATIONS))
    assert not unmapped, f"say which operations these CLI commands perform in CLI_OPERATIONS: {unmapped}"
    unknown = sorted(op for cmd in commands for op in CLI_OPERATIONS[cmd] if op not in PERMISSIONS)
    assert not unknown, f"operations not in PERMISSIONS: {unknown}"


@pytest.fixture(scope="module")
def matrix_console(tmp_path_factory):
    """One clinic for the whole matrix (operations that change a user change ``u.target``, so every case
    meets the same users): a user per role, plus u.target."""
    settings = load_settings(write_config(tmp_path_factory.mktemp("matrix")))
    console = Console(settings, clock=FixedClock(FIXED_NOW))
    console.create_first_admin(CUSTODIAN, "u.admin", PASSWORD)
    for name, role in [(f"u.{r}", r) for r in ROLES if r != "admin"] + [("u.target", "operator")]:
        console.add_user(actor_for("admin"), name, role, PASSWORD)
    yield console
    console.close()


def denied_entries(console: Console) -> list[tuple]:
    return console.db.execute("SELECT actor, role, action FROM audit_log WHERE outcome = 'denied'").fetchall()


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("operation", sorted(PERMISSIONS))
def test_role_matrix(operation, role, matrix_console, tmp_path):
    console, actor = matrix_console, actor_for(role)
    call = CALLS.get(operation)
    if call is None:
        pytest.fail(f"no matrix call for {operation}: add one to CALLS")
    before = denied_entries(console)
    if role in PERMISSIONS[operation]:
        try:
            call(console, actor, tmp_path)
        except (PermissionDenied, SignInFailed) as exc:
            pytest.fail(f"{role} may {operation} but was refused: {exc}")
        except Exception:  # noqa: BLE001 - allowed, and then failed for its own reason (no such run...)
            pass
        return
    with pytest.raises((PermissionDenied, SignInFailed)) as refused:
        call(console, actor, tmp_path)
    message = str(refused.value)
    assert ("may not" in message and actor.username in message) or "wrong user name or password" in message
    new = denied_entries(console)[len(before):]
    assert new and all(entry[0] == actor.username for entry in new), new
