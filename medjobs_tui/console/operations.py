"""The operations users perform (trigger, pause, resume, retry, cancel, and the views), for CLI and dashboard alike.

Every command checks the actor's role (a hidden key is not access control) and writes one audit
entry, allowed or denied. The dashboard and the CLI call only this layer; neither touches SQL.
"""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from medjobs_tui.clock import Clock, SystemClock, iso, parse_iso
from medjobs_tui.config import PRIORITIES, Settings
from medjobs_tui.clinical.dosing import dose_status, dose_text, local_to_utc
from medjobs_tui.console.models import (
    Actor, BackupRow, ChannelStatus, DeliveryRow, DoseConfirmation, DoseRow, EvidenceRow, JobMetrics, JobRow,
    NotificationRow, RestoreOutcome, RunFilter, RunRow, Snapshot,
)
from medjobs_tui.console.accounts import AccountsMixin
from medjobs_tui.console.signoff import SignoffMixin
from medjobs_tui.console.alerts import AlertsMixin
from medjobs_tui.console.errors import AccountRevoked, ConsoleError, PermissionDenied, Refused
from medjobs_tui.console.accounts import RESERVED_NAMES
from medjobs_tui.console.views import VIEWS, ConsoleViews, run_row
from medjobs_tui.engine import evidence as evidence_mod
from medjobs_tui.engine.metrics import job_metrics
from medjobs_tui.engine.recovery import LEASE_SECONDS
from medjobs_tui.engine.ticks import next_fire_time
from medjobs_tui.engine import validation as validation_mod
from medjobs_tui.engine.validation import JobValidation
from medjobs_tui.notify import outbox as notify_outbox
from medjobs_tui.notify.alerts import PATIENT_KINDS, interaction_label
from medjobs_tui.security import audit
from medjobs_tui.security.keys import Keys, finish_rotation, load_keys, start_rotation, write_key_file
from medjobs_tui.store import StoreError, ThreadLocalDB, outbox, rekey, transaction
from medjobs_tui.store import backup as store_backup
from medjobs_tui.store import dose_log as store_doses
from medjobs_tui.store import clinical
from medjobs_tui.store import interactions as store_interactions
from medjobs_tui.store import preferences as store_prefs
from medjobs_tui.store import pruning as store_pruning
from medjobs_tui.store import runs as store_runs
from medjobs_tui.store import users as store_users

if TYPE_CHECKING:
    from medjobs_tui.engine.runner import Runner

PRIORITY_NAMES = {rank: name for name, rank in PRIORITIES.items()}

MAX_DOSE_DAYS = 31
"""The Doses view lists at most this many days at a time."""

# Which roles may do what. Source: DESIGN.md "Roles". People hold ROLES; ``runner`` is the headless
# runner's service identity (it may only run jobs); ``custodian`` is whoever holds the machine's key file
# or the recovery key at a clinic with no one to sign in (init, emergency access), never a signed-in user.
PEOPLE = frozenset({"admin", "operator", "reviewer", "auditor"})
OWN_SESSION = frozenset({"session.lock", "session.unlock", "session.logout", "session.quit"})
"""Actions on the actor's own session, allowed to a user disabled or given another role since signing in:
locking, logging out and quitting end their access; unlocking checks the password again (and refuses a disabled
account) and returns the account as it is now."""


def _role_words(actor: Actor) -> str:
    return actor.role + (f" ({actor.review_role})" if actor.review_role else "")
NOTIFICATION_WITHHELD = "withheld: about a patient's medication (operators, admins and reviewers see it)"
"""What a role that may not read patients' data sees instead of a notification's message about a patient."""

PERMISSIONS: dict[str, frozenset[str]] = {
    "data.import": frozenset({"operator", "admin"}),
    "data.import_dry_run": frozenset({"operator", "admin"}),
    "data.demo": frozenset({"operator", "admin"}),
    "data.replace": frozenset({"admin"}),
    "runner.run": frozenset({"operator", "admin", "runner"}),
    "error.read": frozenset({"admin"}),
    "job.trigger": frozenset({"operator", "admin"}),
    "job.pause": frozenset({"operator", "admin"}),
    "job.resume": frozenset({"operator", "admin"}),
    "run.retry": frozenset({"operator", "admin"}),
    "run.cancel": frozenset({"operator", "admin"}),
    "dose.record": frozenset({"operator", "admin"}),
    "interactions.import": frozenset({"admin"}),
    "interactions.ack": frozenset({"operator", "admin"}),
    "patient.prefs": frozenset({"operator", "admin"}),
    "order.critical": frozenset({"operator", "admin"}),
    "supply.record": frozenset({"operator", "admin"}),
    "view.operations": PEOPLE,
    "evidence.read": PEOPLE,
    "signin": PEOPLE,
    "session.login": PEOPLE,
    "session.logout": PEOPLE,
    "session.lock": PEOPLE,
    "session.unlock": PEOPLE,
    # quitting the dashboard stops its embedded runner (reminders stop): a person's act, recorded with who
    "session.quit": PEOPLE,
    # the headless `medjobs run` stopping (Ctrl+C, SIGTERM), recorded by its service identity
    "runner.stop": frozenset({"operator", "admin", "runner"}),
    "password.change": PEOPLE,
    "user.add": frozenset({"admin"}),
    "user.disable": frozenset({"admin"}),
    "user.enable": frozenset({"admin"}),
    "user.passwd": frozenset({"admin"}),
    "user.role": frozenset({"admin"}),
    "user.name": frozenset({"admin"}),
    "user.list": frozenset({"admin"}),
    "user.unlock": frozenset({"admin"}),
    "clinic.init": frozenset({"custodian"}),
    "clinic.recover": frozenset({"custodian"}),
    "key.recover": frozenset({"custodian"}),
    "key.rotate": frozenset({"admin"}),
    # patient-level schedule (pseudonyms, orders, doses): clinic staff, not the auditor (who reads audit/evidence)
    "dose.read": frozenset({"operator", "admin", "reviewer"}),
    "patient.read": frozenset({"operator", "admin", "reviewer"}),
    "backup.verify": frozenset({"operator", "admin", "auditor"}),
    "backup.list": frozenset({"operator", "admin", "auditor"}),
    "store.restore": frozenset({"admin"}),
    "audit.verify": frozenset({"admin", "auditor"}),
    "audit.list": frozenset({"admin", "auditor"}),
    "report.write": frozenset({"admin", "reviewer", "auditor"}),
    # the self-test exercises the job machinery on a scratch copy and records evidence that backs the
    # Technical Review's items: the technical lead (reviewer) and admins produce it, operators may run it as
    # they run jobs; the auditor reads its result but does not make the evidence being audited
    "selftest.run": frozenset({"operator", "admin", "reviewer"}),
    "view.export": frozenset({"operator", "admin", "reviewer", "auditor"}),
    # sign-off (console/signoff.py): reviewers sign the items of their review role; the report's readers read
    "signoff.read": frozenset({"admin", "reviewer", "auditor"}),
    "signoff.sign": frozenset({"reviewer"}),
    "signoff.revoke": frozenset({"reviewer"}),
    "alert.list": PEOPLE,
    "alert.ack": frozenset({"operator", "admin"}),
}

ACTION_WORDS = {
    "data.import": "import patient data", "data.import_dry_run": "check an import of patient data",
    "data.demo": "write the demo clinic",
    "data.replace": "replace the clinic's data", "runner.run": "run the job runner",
    "error.read": "read error details", "job.trigger": "trigger jobs", "job.pause": "pause jobs",
    "job.resume": "resume jobs", "run.retry": "retry runs", "run.cancel": "cancel runs",
    "view.operations": "view operations", "evidence.read": "read evidence",
    "signin": "sign in", "session.login": "open a login session", "session.logout": "end a login session",
    "session.lock": "lock the dashboard", "session.unlock": "unlock the dashboard",
    "session.quit": "quit the dashboard", "runner.stop": "stop the job runner",
    "password.change": "change their own password",
    "user.add": "add users", "user.disable": "disable users", "user.enable": "enable users",
    "user.passwd": "set users' passwords", "user.role": "change users' roles", "user.list": "list users",
    "user.name": "change users' printed names",
    "user.unlock": "unlock users",
    "clinic.init": "create a clinic", "clinic.recover": "use emergency access",
    "key.recover": "rebuild a lost key file",
    "key.rotate": "rotate the store key",
    "dose.record": "record what happened to a dose",
    "supply.record": "record a supply count",
    "dose.read": "see patients' doses",
    "patient.read": "see patients' medication data (interaction alerts, reminder preferences)",
    "backup.verify": "verify backups", "backup.list": "list the backups", "store.restore": "restore the store from a backup",
    "audit.verify": "verify the audit trail", "audit.list": "list the audit trail",
    "report.write": "write the validation report",
    "selftest.run": "run the self-test",
    "interactions.import": "import the clinic's interaction list",
    "interactions.ack": "acknowledge interaction alerts",
    "patient.prefs": "set patients' reminder preferences",
    "order.critical": "mark orders time-critical",
    "view.export": "export views",
    "signoff.read": "read the sign-off checklists", "signoff.sign": "sign sign-off items",
    "signoff.revoke": "revoke sign-off signatures",
    "alert.list": "list alerts", "alert.ack": "acknowledge alerts",
}
"""How each action is named to a user who is refused it."""

TAMPERED_WARNING = ("# WARNING: this record does not match the SHA-256 stored when the run finished;"
                    " it was changed or damaged afterwards.\n")


class Console(AccountsMixin, SignoffMixin, AlertsMixin, ConsoleViews):
    """The clinic's operations over one store (sign-in and user administration: ``AccountsMixin``; the
    operator console's views and bulk actions: ``ConsoleViews``).

    With ``runner`` (the dashboard's embedded runner, or ``medjobs run``) new runs are handed to it and
    next fire times come from its scheduler; without one, runs are queued in the store for whichever
    runner serves it, and next fire times are computed from the schedules.
    """

    def __init__(self, settings: Settings, clock: Clock | None = None, runner: Runner | None = None,
                 keys: Keys | None = None) -> None:
        self.settings = settings
        self.clock = clock or (runner.clock if runner else SystemClock())
        self.runner = runner
        # KeyFileError (one line) when the key file is missing, loose or damaged
        self.keys = keys or (runner.keys if runner else load_keys(settings))
        # its own connections: stopping the runner must never close one under a console query
        self.dbs = ThreadLocalDB(settings.database_path, self.keys.store)
        if runner is None:
            store_runs.sync_jobs(self.db, {n: j.job_type for n, j in settings.jobs.items()})

    @property
    def db(self):
        """This thread's store connection."""
        return self.dbs.get()

    def close(self) -> None:
        """Close the console's store connections (call when no thread uses the console any more)."""
        self.dbs.close_all()

    def runner_status(self) -> str | None:
        """The embedded runner's state in words when it needs attention (``runner blocked: cannot record 2
        outcome(s) (database is locked); claiming no new runs``), else None (running, idle, or no runner)."""
        if self.runner is None:
            return None
        status = self.runner.status()
        return status.message if status.state == "blocked" else None

    # ------------------------------------------------------------------ access and audit

    @staticmethod
    def may(actor: Actor | None, action: str) -> bool:
        """Whether ``actor``'s role may do ``action`` (``PERMISSIONS``), asked without refusing or auditing: what a
        view shows differs by role (None, no one signed in: False)."""
        return actor is not None and actor.role in PERMISSIONS[action]

    def authorise(self, actor: Actor, action: str, target: str | None = None) -> Actor:
        """Return ``actor`` as the store has it now if their role may do ``action`` (``PERMISSIONS``); raise
        PermissionDenied, and audit the refusal, otherwise.

        A person's actor is a copy taken at sign-in, so every check re-reads their user row (one indexed row):
        a user disabled since, or whose role or review role changed since, is refused with AccountRevoked
        (the dashboard then locks; unlocking or signing in again reads the account as it is now). Only the
        actions on the person's own session (OWN_SESSION: lock, unlock, log out, quit) stay open to them.
        Service identities (RUNNER, CUSTODIAN: reserved names no user may take) have no user row and keep
        their role. An actor naming no user of a store that has users is refused (AccountRevoked: a store restored
        from a backup made before the account existed); before the first user exists only its own role counts. Source: 45 CFR 164.312(a)(1) access
        control; OWASP Authorization Cheat Sheet (check permissions on every request)."""
        current, reason = actor, None
        if action not in OWN_SESSION:
            current, reason = self._account_state(actor)
        if reason is not None or current.role not in PERMISSIONS[action]:
            audit.record(self.db, key=self.keys.audit, actor=actor.username, role=current.role, action=action,
                         target=target, outcome="denied", at=self.clock.now(),
                         detail={"reason": reason, "signed_in_as": actor.role} if reason else None)
            if reason == "disabled":
                raise AccountRevoked(f"{actor.username}'s account was disabled after signing in, so they may not "
                                     f"{ACTION_WORDS[action]} any more; an admin can enable it")
            if reason == "no such user":
                raise AccountRevoked(f"{actor.username} is no user of this clinic's store (was it restored from a "
                                     "backup made before the account existed?); sign in again")
            if reason == "role changed":
                raise AccountRevoked(f"{actor.username}'s role changed from {_role_words(actor)} to "
                                     f"{_role_words(current)} after signing in; sign in again (or unlock) to go on")
            allowed = " or ".join(sorted(PERMISSIONS[action])) or "no"
            raise PermissionDenied(f"{actor.username} ({actor.role}) may not {ACTION_WORDS[action]}; "
                                   f"that needs the {allowed} role")
        return current

    def _audit_ok(self, actor: Actor, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role, action=action, target=target,
                     outcome="ok", at=self.clock.now(), detail=detail)

    def _account_state(self, actor: Actor) -> tuple[Actor, str | None]:
        """``actor``'s account as the store has it now, and why it no longer stands for them: ``disabled``, ``no
        such user`` (a store that has users, none of them this one), ``role changed`` (role or review role), or
        None. Service identities (RESERVED_NAMES) and any actor of a store with no users yet stand as given."""
        if actor.username in RESERVED_NAMES:
            return actor, None
        user = store_users.get(self.db, actor.username)
        if user is None:
            return actor, ("no such user" if store_users.count(self.db) else None)
        current = Actor(user["username"], user["role"], user["review_role"])
        if not user["enabled"]:
            return current, "disabled"
        return current, ("role changed" if current != actor else None)

    def _audit_denied(self, actor: Actor, action: str, target: str, reason: str) -> None:
        """Write one ``denied`` audit entry of ``actor``'s ``action`` on ``target`` (``order:12``) with ``{"reason":
        reason}``: a short category (``too early``, ``patient deceased``), never patient data or text typed. The one
        writer of a refusal for what was asked (clinical entries here; sign-off, emergency access and key recovery)."""
        audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role, action=action, target=target,
                     outcome="denied", at=self.clock.now(), detail={"reason": reason})

    @contextmanager
    def _refusals_audited(self, actor: Actor, action: str, target: str) -> Iterator[None]:
        """Audit every refusal raised in the block (after ``authorise``) of an action that would write a patient
        record (``dose.record``, ``supply.record``, ``patient.prefs``, ``order.critical``, ``interactions.ack``), then
        re-raise it: a ConsoleError (``Refused``: its ``reason``; any other: ``refused``) becomes a ``denied`` entry
        (``_audit_denied``), written after the block's own transaction rolled back, so the refusal stands in the trail
        however the block ended. A role's refusal (PermissionDenied) is audited by ``authorise`` and passes through.
        Source: README "Roles" (every action, allowed or refused, is written to the audit trail); 45 CFR 164.312(b)."""
        try:
            yield
        except PermissionDenied:
            raise
        except ConsoleError as exc:
            self._audit_denied(actor, action, target, getattr(exc, "reason", None) or "refused")
            raise

    def _job(self, name: str):
        job = self.settings.jobs.get(name)
        if job is None:
            raise ConsoleError(f"no job named {name!r}; jobs: {', '.join(sorted(self.settings.jobs))}")
        return job

    # ------------------------------------------------------------------ commands

    def quit_console(self, actor: Actor, runner_stopped: bool) -> None:
        """Record that ``actor`` quits the dashboard (``session.quit``), before its embedded runner stops
        (``runner_stopped``: it had one, so the clinic's jobs stop with it unless another runner serves the store).
        Raises PermissionDenied (audited) for a role that may not."""
        self.authorise(actor, "session.quit", f"user:{actor.username}")
        self._audit_ok(actor, "session.quit", f"user:{actor.username}",
                       {"runner": "stopped" if runner_stopped else "none"})

    def runner_stopping(self, actor: Actor, reason: str) -> None:
        """Record that the runner of ``actor`` (the headless ``medjobs run``: the ``runner`` identity) stops,
        ``reason`` in words (``ctrl+c``, ``sigterm``). Audited ``runner.stop``; raises PermissionDenied."""
        self.authorise(actor, "runner.stop", "runner")
        self._audit_ok(actor, "runner.stop", "runner", {"reason": reason})

    def trigger(self, actor: Actor, job_name: str) -> int:
        """Queue a run of ``job_name`` now; return its id. Raises ConsoleError / PermissionDenied."""
        self.authorise(actor, "job.trigger", f"job:{job_name}")
        job = self._job(job_name)
        if self.runner is not None:
            run_id = self.runner.enqueue(job_name, actor.username)
        else:
            now = self.clock.now()
            run_id = store_runs.insert_run(
                self.db, job_name=job_name, job_type=job.job_type, queue=job.queue_name,
                priority=job.priority_rank, max_attempts=job.retry_policy.max_attempts, trigger="manual",
                scheduled_at=now, created_by=actor.username, now=now,
            )
        self._audit_ok(actor, "job.trigger", f"job:{job_name}", {"run_id": run_id})
        return run_id

    def pause(self, actor: Actor, job_name: str) -> bool:
        """Pause ``job_name``: its ticks are recorded as skipped. True if it was running before."""
        return self._set_paused(actor, job_name, True)

    def resume(self, actor: Actor, job_name: str) -> bool:
        """Resume a paused ``job_name``. True if it was paused before."""
        return self._set_paused(actor, job_name, False)

    def _set_paused(self, actor: Actor, job_name: str, paused: bool) -> bool:
        action = "job.pause" if paused else "job.resume"
        self.authorise(actor, action, f"job:{job_name}")
        self._job(job_name)
        changed = store_runs.set_paused(self.db, job_name, paused, actor.username, self.clock.now())
        self._audit_ok(actor, action, f"job:{job_name}", {"changed": changed})
        return changed

    def toggle_pause(self, actor: Actor, job_name: str) -> bool:
        """Pause ``job_name`` if it runs, resume it if paused; return True if it is now paused."""
        paused = job_name in store_runs.paused_jobs(self.db)
        self._set_paused(actor, job_name, not paused)
        return not paused

    def retry(self, actor: Actor, run_id: int) -> None:
        """Retry ``run_id`` now: a dead run gets one more attempt; a failed run waiting out its backoff
        runs now. Raises ConsoleError for a run in any other state."""
        self._run_command(actor, "run.retry", run_id, store_runs.retry_now)
        if self.runner is not None:
            self.runner.wake()

    def cancel(self, actor: Actor, run_id: int) -> None:
        """Cancel queued run ``run_id``. Raises ConsoleError if it is not queued."""
        self._run_command(actor, "run.cancel", run_id, store_runs.cancel_queued)

    def _run_command(self, actor: Actor, action: str, run_id: int, change) -> None:
        self.authorise(actor, action, f"run:{run_id}")
        try:
            change(self.db, run_id, actor.username, self.clock.now())
        except KeyError:
            raise ConsoleError(f"no run {run_id}") from None
        except store_runs.RunStateError as exc:
            raise ConsoleError(str(exc)) from None
        self._audit_ok(actor, action, f"run:{run_id}")

    def import_fhir(self, actor: Actor, paths: list[Path], *, dry_run: bool = False):
        """Import FHIR R4 files (see ``fhir.import_paths``); return the ImportReport.

        Every import is audited: ``data.import`` (or ``data.import_dry_run``, which writes nothing) with
        outcome ok and the report's counts, or outcome error and the error's class when the import
        fails (a missing or non-FHIR path: FhirImportError; a store error), which is then re-raised.
        The audit detail holds counts and file names only.
        """
        from medjobs_tui.fhir import import_paths

        action = "data.import_dry_run" if dry_run else "data.import"
        self.authorise(actor, action, "store")
        try:
            report = import_paths(self.db, self.settings, paths, self.clock.now(), dry_run=dry_run)
        except Exception as exc:
            audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role, action=action, target="store",
                         outcome="error", at=self.clock.now(),
                         detail={"files": len(paths), "error": type(exc).__name__})
            raise
        self._audit_ok(actor, action, "store", {
            "files": len(paths), "files_read": report.files, "patients": report.patients,
            "orders_active": report.orders_active, "orders_not_to_give": report.orders_not_to_give,
            "orders_stopped": report.orders_stopped,
            "dispenses": report.dispenses, "skipped": len(report.skipped), "warnings": len(report.warnings),
            "dry_run": dry_run})
        return report

    def record_dose(self, actor: Actor, order_id: int, dose_instant: datetime | str, status: str, *,
                    at: datetime | str | None = None, early: bool = False) -> DoseConfirmation:
        """Record what happened to one scheduled dose of order ``order_id``: ``status`` taken, skipped or
        refused (``clinical.confirmation.CONFIRMATIONS``). Audited (``dose.record``), allowed or refused.

        ``dose_instant``: the dose's scheduled instant, an aware datetime or text: ISO 8601 with an offset,
        or a local wall-clock ``YYYY-MM-DD HH:MM`` in the patient's zone (else the clinic's; daylight
        saving as the schedule: a time in the spring-forward gap means the first instant after it, a
        repeated time its first occurrence). It must be a dose of the order's plan, at most a day ahead.
        ``at``: when it happened (same forms; default now), never in the future.
        A confirmation always wins over the system's ``reminder_missed`` / ``missed`` and over an
        earlier, different confirmation (a correction); the earlier entry stays in the dose's history
        (``clinical.confirmation.entry_stands``). The same confirmation twice is refused, and ``taken`` more
        than 2 h before the dose is due unless ``early`` (the person states it was taken early; audited as
        such) (``clinical.confirmation.confirmation_refused``, ISMP timely administration). Any confirmation is
        refused for an order that is no order to give (doNotPerform, an intent that is no order), for a dose due at
        or after the patient's death (any, when the instant of death is unknown), and for an order not active
        (stopped, on hold, completed...) unless the dose was due before it stopped (``inactive_since``: late
        documentation, audited as ``after_stop``), naming the order number and why, nothing written
        (``clinical.confirmation.order_confirmation_refused``). An as-needed (PRN) order has no scheduled dose to
        confirm, and says so. Every refusal is audited (``dose.record``, outcome denied, ``order:N`` and the reason's
        category only: ``_refusals_audited``). The entry is keyed by the scheduled instant, so
        adherence credits the dose to the local day it was due, whenever it is confirmed.
        Raises Refused (a ConsoleError) / PermissionDenied.
        """
        self.authorise(actor, "dose.record", f"order:{order_id}")
        with self._refusals_audited(actor, "dose.record", f"order:{order_id}"):
            return self._record_dose(actor, order_id, dose_instant, status, at=at, early=early)

    def _record_dose(self, actor: Actor, order_id: int, dose_instant: datetime | str, status: str, *,
                     at: datetime | str | None, early: bool) -> DoseConfirmation:
        """``record_dose`` after its role check: every refusal raised as Refused with its reason's category."""
        from medjobs_tui.clinical.confirmation import (
            CONFIRMATIONS, EARLY_WINDOW, confirmation_refused, documented_after_stop, order_confirmation_refused,
        )
        from medjobs_tui.jobs.medication_reminder import order_doses, order_zone

        if status not in CONFIRMATIONS:
            raise Refused(f"unknown dose status {status!r}; allowed: {', '.join(CONFIRMATIONS)}", "unknown status")
        order = store_doses.order_for_dose(self.db, order_id)
        if order is None:
            raise Refused(f"no medication order {order_id}", "no such order")
        zone = order_zone(order, self.settings)
        now = self.clock.now()
        instant = _when(dose_instant, zone, "the dose instant")
        stopped_at = parse_iso(order["inactive_since"]) if order.get("inactive_since") else None
        not_in_force = order_confirmation_refused(
            order_id, instant, status=order["status"], not_to_give=bool(order.get("not_to_give")),
            inactive_since=stopped_at, deceased=bool(order.get("deceased")),
            deceased_at=parse_iso(order["deceased_at"]) if order.get("deceased_at") else None)
        if not_in_force is not None:
            raise Refused(f"{not_in_force}; nothing recorded", not_in_force.reason)
        if order["schedule_status"] == "prn":
            raise Refused(f"order {order_id} is as needed (PRN): it has no scheduled doses to confirm; nothing "
                          "recorded", "order as needed")
        after_stop = documented_after_stop(order["status"], instant, stopped_at)
        occurred = _when(at, zone, "--at") if at is not None else now
        if occurred > now + timedelta(minutes=1):
            raise Refused("--at lies in the future; record a dose once it has happened", "in the future")
        if instant > now + timedelta(days=1):
            raise Refused("that dose is more than a day ahead; it cannot be confirmed yet", "more than a day ahead")
        doses = order_doses(order, self.settings, instant, instant + timedelta(seconds=1))
        if not any(d.at == instant for d in doses):
            day = instant.astimezone(zone).date()
            start = local_to_utc(day, time(0, 0), zone)
            that_day = order_doses(order, self.settings, start, local_to_utc(day + timedelta(days=1), time(0, 0), zone))
            times = ", ".join(d.at.astimezone(zone).strftime("%H:%M") for d in that_day) or "none"
            raise Refused(f"order {order_id} has no dose due at {instant.astimezone(zone):%Y-%m-%d %H:%M} "
                          f"({zone.key}); its doses that day: {times}", "no dose due then")
        due = f"{instant.astimezone(zone):%Y-%m-%d %H:%M %Z}"
        with transaction(self.db):
            current = store_doses.current_entry(self.db, order_id, iso(instant))
            previous = current["status"] if current else None
            refused = confirmation_refused(previous, status, instant, occurred, early=early)
            if refused is not None:
                reason = refused.reason
                if previous == status and current is not None:
                    by = f" by {current['recorded_by']}" if current["recorded_by"] else ""
                    refused += f"{by} at {parse_iso(current['recorded_at']).astimezone(zone):%H:%M %Z}"
                elif status == "taken" and previous != status:
                    refused += (f"; order {order_id}'s dose due {due} can be recorded taken from "
                                f"{(instant - EARLY_WINDOW).astimezone(zone):%H:%M %Z} (if it was really "
                                "taken earlier: `medjobs dose taken --early --at TIME`)")
                raise Refused(f"{refused}; nothing recorded", reason)
            history_id = store_doses.write_entry(
                self.db, medication_request_id=order_id, patient_id=order["patient_id"], dose_instant=iso(instant),
                status=status, occurred_at=iso(occurred), recorded_at=iso(now), recorded_by=actor.username)
        self._audit_ok(actor, "dose.record", f"order:{order_id}",
                       {"status": status, "previous": previous, "history_id": history_id,
                        **({"early": True} if early else {}),
                        **({"after_stop": "documented after the order stopped"} if after_stop else {})})
        return DoseConfirmation(order_id=order_id, patient=order["pseudonym"], dose_instant=instant,
                                local_time=due, status=status,
                                previous=previous, occurred_at=occurred, history_id=history_id)

    def dose_history(self, order_id: int, dose_instant: datetime | str) -> list[dict[str, Any]]:
        """Every entry that stood for one dose, oldest first: ``status, occurred_at, recorded_at,
        recorded_by`` (UTC text; recorded_by None for a job's entry). ``dose_instant`` as in
        ``record_dose``. Raises ConsoleError for an unknown order or unreadable instant."""
        from medjobs_tui.jobs.medication_reminder import order_zone

        order = store_doses.order_for_dose(self.db, order_id)
        if order is None:
            raise ConsoleError(f"no medication order {order_id}")
        instant = _when(dose_instant, order_zone(order, self.settings), "the dose instant")
        return [{k: r[k] for k in ("status", "occurred_at", "recorded_at", "recorded_by")}
                for r in store_doses.dose_history(self.db, order_id, iso(instant))]

    MAX_INTERACTION_FILE_BYTES = 10 * 1024 * 1024

    def import_interactions(self, actor: Actor, path: Path) -> dict[str, Any]:
        """Replace the clinic's own interaction list with the CSV at ``path`` (admin; audited ok or error).

        The file (UTF-8, at most 10 MB) has the header drug_a, drug_b, severity, effect, source
        (``clinical.interactions.parse_clinic_list``). Any bad row refuses the whole file, nothing written,
        with a ConsoleError naming every bad row (up to 20, then a count). The list is merged with the ONC
        baseline by the next interaction check. Returns ``{pairs, added, removed, kept, sha256}``.
        """
        import hashlib

        from medjobs_tui.clinical.interactions import parse_clinic_list

        self.authorise(actor, "interactions.import", "interactions")
        name = Path(path).name

        def refuse(message: str, errors: int) -> None:
            audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role, action="interactions.import",
                         target="interactions", outcome="error", at=self.clock.now(),
                         detail={"file": name, "errors": errors})
            raise ConsoleError(message)

        try:
            with open(path, "rb") as fh:
                data = fh.read(self.MAX_INTERACTION_FILE_BYTES + 1)
        except OSError as exc:
            refuse(f"{name}: cannot read ({exc.strerror or type(exc).__name__})", 1)
        if len(data) > self.MAX_INTERACTION_FILE_BYTES:
            refuse(f"{name}: larger than 10 MB; not an interaction list", 1)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            refuse(f"{name}: not UTF-8 text", 1)
        pairs, errors = parse_clinic_list(text)
        if errors:
            shown = "\n".join(f"  {name}:{e}" for e in errors[:20])
            more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
            refuse(f"{name}: {len(errors)} bad row(s); nothing imported\n{shown}{more}", len(errors))
        sha = hashlib.sha256(data).hexdigest()
        with transaction(self.db):
            changes = store_interactions.replace_clinic_pairs(
                self.db, [p.__dict__ for p in pairs], file_name=name, file_sha256=sha,
                imported_at=iso(self.clock.now()), imported_by=actor.username)
        result = {"pairs": len(pairs), **changes, "sha256": sha}
        self._audit_ok(actor, "interactions.import", "interactions", {"file": name, **result})
        return result

    def interaction_alerts(self, actor: Actor, *, open_only: bool = True, limit: int = 200) -> list[dict[str, Any]]:
        """Interaction alerts, newest first (patients by pseudonym): id, patient, rule_id, drug_a, drug_b,
        severity, created_at, acknowledged_at/by, superseded_at; ``open_only`` leaves out closed ones."""
        from medjobs_tui.store import clinical as store_clinical

        self.authorise(actor, "patient.read", "interactions")   # patient-level medication data: not the auditor's
        return store_clinical.list_interaction_alerts(self.db, open_only=open_only, limit=limit)

    def acknowledge_interaction(self, actor: Actor, alert_id: int) -> dict[str, Any]:
        """A clinician acknowledges interaction alert ``alert_id``: it is closed and not raised again for
        the same medication list (a changed list alerts afresh). Audited. Raises ConsoleError for an
        unknown alert or one already acknowledged or superseded (Refused, audited denied with the reason's category);
        PermissionDenied for a role without
        ``interactions.ack``."""
        from medjobs_tui.store import clinical as store_clinical

        self.authorise(actor, "interactions.ack", f"interaction_alert:{alert_id}")
        alert = store_interactions.get_alert(self.db, alert_id)
        with self._refusals_audited(actor, "interactions.ack", f"interaction_alert:{alert_id}"):
            if alert is None:
                raise Refused(f"no interaction alert {interaction_label(alert_id)} (see `medjobs interactions list "
                              "--all`; MedJobs' own alerts A-N: `medjobs alerts`)", "no such alert")
            if alert["acknowledged_at"]:
                at = parse_iso(alert["acknowledged_at"]).astimezone(self.settings.zone)
                raise Refused(f"interaction alert {interaction_label(alert_id)} was already acknowledged by "
                              f"{alert['acknowledged_by'] or 'someone'} at {at:%Y-%m-%d %H:%M %Z}",
                              "already acknowledged")
            if alert["superseded_at"]:
                raise Refused(f"interaction alert {interaction_label(alert_id)} is closed: the patient's medication "
                              "list changed after it (see the newer alert)", "alert superseded")
        from medjobs_tui.store import alerts as store_alerts

        now = self.clock.now()
        with transaction(self.db):
            store_clinical.acknowledge_interaction_alert(self.db, alert_id, iso(now), actor.username)
            # its major-interaction alert (Alerts tab) is acknowledged with it: one clinician's review, not two
            major = store_alerts.acknowledge_by_ref(self.db, "interaction_major", f"interaction alert {alert_id}",
                                                    actor.username, now)
        self._audit_ok(actor, "interactions.ack", f"interaction_alert:{alert_id}",
                       {"rule_id": alert["rule_id"], "severity": alert["severity"],
                        **({"alerts_acknowledged": major} if major else {})})
        return {**alert, "acknowledged_by": actor.username}

    def has_patients(self) -> bool:
        """True when the store holds patients (demo or imported)."""
        from medjobs_tui.store import clinical

        return bool(clinical.patient_sources(self.db))

    def patient_prefs(self, actor: Actor, pseudonym: str) -> dict[str, Any]:
        """A patient's reminder preferences: ``{patient, channel, lead_minutes, quiet_hours ('HH:MM-HH:MM' or
        None), opt_out, source, updated_at, updated_by}`` (defaults where none were set). Raises
        PermissionDenied for a role without ``patient.read``, ConsoleError for an unknown pseudonym."""
        self.authorise(actor, "patient.read", f"patient:{pseudonym}")
        patient = store_prefs.patient_by_pseudonym(self.db, pseudonym)
        if patient is None:
            raise ConsoleError(f"no patient {pseudonym}")
        row = store_prefs.preferences_of(self.db, [patient["id"]]).get(patient["id"], {})
        quiet = f"{row['quiet_start']}-{row['quiet_end']}" if row.get("quiet_start") else None
        return {"patient": pseudonym, "channel": row.get("channel"), "lead_minutes": row.get("lead_minutes") or 0,
                "quiet_hours": quiet, "opt_out": bool(patient["reminders_opt_out"]), "source": row.get("source"),
                "updated_at": row.get("updated_at"), "updated_by": row.get("updated_by")}

    def set_patient_prefs(self, actor: Actor, pseudonym: str, *, channel: str | None = None,
                          lead_minutes: int | None = None, quiet_hours: str | None = None,
                          opt_out: bool | None = None) -> dict[str, Any]:
        """Change a patient's reminder preferences (only the arguments given); audited with what changed.

        ``channel``: a configured channel serving patients, ``inbox`` (in-app only), or ``default`` (every
        patient channel). ``lead_minutes``: 0..180 minutes before the dose. ``quiet_hours``:
        ``'HH:MM-HH:MM'`` in the patient's local time, or ``off``. ``opt_out``: no reminders at all.
        Rules: ``clinical.preferences``. Returns ``patient_prefs`` after the change. Raises Refused (a
        ConsoleError) for an unknown patient or a value not allowed (nothing changed; audited denied with the
        reason's category: ``_refusals_audited``), PermissionDenied for a role without ``patient.prefs``.
        """
        self.authorise(actor, "patient.prefs", f"patient:{pseudonym}")
        with self._refusals_audited(actor, "patient.prefs", f"patient:{pseudonym}"):
            self._set_patient_prefs(actor, pseudonym, channel=channel, lead_minutes=lead_minutes,
                                    quiet_hours=quiet_hours, opt_out=opt_out)
        return self.patient_prefs(actor, pseudonym)

    def _set_patient_prefs(self, actor: Actor, pseudonym: str, *, channel: str | None, lead_minutes: int | None,
                           quiet_hours: str | None, opt_out: bool | None) -> None:
        """``set_patient_prefs`` after its role check: every refusal raised as Refused with its reason's category."""
        from medjobs_tui.clinical.preferences import check_lead_minutes, parse_quiet_hours

        patient = store_prefs.patient_by_pseudonym(self.db, pseudonym)
        if patient is None:
            raise Refused(f"no patient {pseudonym}", "no such patient")
        values: dict[str, Any] = {}
        if channel is not None:
            allowed = ["inbox", *self.settings.notifications.channels_for("patient")]
            if channel == "default":
                values["channel"] = None
            elif channel in allowed:
                values["channel"] = channel
            else:
                raise Refused(f"channel {channel!r} does not serve patients; allowed: default, "
                              f"{', '.join(allowed)}", "channel not for patients")
        try:
            if lead_minutes is not None:
                values["lead_minutes"] = check_lead_minutes(lead_minutes)
            if quiet_hours is not None:
                quiet = parse_quiet_hours(quiet_hours)
                values["quiet_start"], values["quiet_end"] = (
                    (quiet[0].strftime("%H:%M"), quiet[1].strftime("%H:%M")) if quiet else (None, None))
        except ValueError as exc:
            raise Refused(str(exc), "value not allowed") from None
        now = iso(self.clock.now())
        with transaction(self.db):
            if values:
                store_prefs.set_preferences(self.db, patient["id"], values, source="staff", at=now, by=actor.username)
            if opt_out is not None:
                store_prefs.set_opt_out(self.db, patient["id"], opt_out, now)
        changed = {**values, **({"opt_out": opt_out} if opt_out is not None else {})}
        self._audit_ok(actor, "patient.prefs", f"patient:{pseudonym}", {"changed": changed})

    def set_order_critical(self, actor: Actor, order_id: int, critical: bool = True) -> None:
        """Mark order ``order_id`` time-critical (its reminders are never held for quiet hours), or not.
        Audited, refused too. Raises Refused (a ConsoleError) for an unknown order."""
        self.authorise(actor, "order.critical", f"order:{order_id}")
        with transaction(self.db):
            found = store_prefs.set_time_critical(self.db, order_id, critical, iso(self.clock.now()))
        if not found:
            with self._refusals_audited(actor, "order.critical", f"order:{order_id}"):
                raise Refused(f"no medication order {order_id}", "no such order")
        self._audit_ok(actor, "order.critical", f"order:{order_id}", {"time_critical": critical})

    def record_supply_count(self, actor: Actor, order_id: int, quantity: float | str, unit: str, *,
                            at: datetime | str | None = None) -> dict[str, Any]:
        """Record that the patient of order ``order_id`` has ``quantity`` units on hand, counted by staff in
        ``unit`` (``tablets``, ``mg``, ``mL``...) at ``at`` (aware datetime, ISO 8601 with an offset or local
        ``YYYY-MM-DD HH:MM`` in the patient's zone; default now; never in the future). The supply monitor and the
        refill check read the latest count (``store.clinical.latest_supply_counts``) as units of the dose.

        ``quantity``: a number, or text as typed (the CLI's): a plain decimal number only (``30``, ``2.5``;
        ``COUNT_TEXT``), never ``-1``, ``1e3``, ``inf`` or ``30,5``.
        Refused, nothing written, the order number named (never the patient or the medication):
        - a quantity that is not a number of units >= 0 (text not a plain decimal number);
        - an order not to give (nothing may be given, so nothing to count) or not active (stopped, on hold...:
          nothing to monitor);
        - a count at or after the patient's death (any, when the instant of death is not known): the rule of dose
          confirmations (``clinical.confirmation.deceased_refused``);
        - a unit that cannot be counted in the order's dose unit, or, for an order with no dose unit (Synthea's),
          anything but units counted one each of a product counted one each (``clinical.supply.supply_count_refused``;
          an unknown unit's refusal lists only the units that fit the order);
        - one above 5 years of the order's planned use (10,000 units when its use is unknown), or tablets and the
          like not in quarters (``clinical.supply.supply_count_quantity_refused``);
        - ``at`` in the future, before the order's start, or at or before the order's latest count (the error says
          that count's time): the monitor reads the latest count only, so an older one would be kept unread.
        Every refusal is audited (``supply.record``, outcome denied, ``order:N`` and the reason's category only, never
        the quantity or unit typed: ``_refusals_audited``); a role's by ``authorise``. A count kept is audited
        (``supply.record``: the quantity and the unit's canonical name, no patient data). Returns ``{order_id,
        quantity, unit, counted_at, per_day, said, counted_local, out_of_supply}``: unit canonical (``each``, ``ml``),
        counted_at UTC text, per_day the planned units a day or None when unknown (a PRN or unscheduled order's count
        is kept, but days of supply cannot be worked out from it, except that a count of 0 reads as out of supply),
        ``said`` the count in the nurse's words (``30 tablets``, ``480 mL``: ``clinical.supply.count_said``),
        ``counted_local`` when it was counted in the patient's zone (``YYYY-MM-DD HH:MM TZ``, as ``record_dose``
        gives a dose's time), ``out_of_supply`` True for a count of 0 (the supply monitor's next run finds it
        critical: none on hand, none dispensed since). Raises Refused (a ConsoleError) / PermissionDenied.
        """
        self.authorise(actor, "supply.record", f"order:{order_id}")
        with self._refusals_audited(actor, "supply.record", f"order:{order_id}"):
            return self._record_supply_count(actor, order_id, quantity, unit, at=at)

    def _record_supply_count(self, actor: Actor, order_id: int, quantity: float | str, unit: str, *,
                             at: datetime | str | None) -> dict[str, Any]:
        """``record_supply_count`` after its role check: every refusal raised as Refused with its reason's category."""
        import math

        from medjobs_tui.clinical.confirmation import ORDER_STATUSES, deceased_refused
        from medjobs_tui.clinical.supply import (
            COUNT_TEXT, count_said, plan_usage, supply_count_quantity_refused, supply_count_refused, unit_name,
        )
        from medjobs_tui.jobs.medication_reminder import order_bounds, order_plan, order_zone
        from medjobs_tui.store import clinical as store_clinical

        order = store_doses.order_for_dose(self.db, order_id)
        if order is None:
            raise Refused(f"no medication order {order_id}", "no such order")
        not_a_count = (f"order {order_id}: a count is a plain number of units, 0 or more: digits with an optional "
                       "decimal point (30, 2.5), not a sign, an exponent or a comma; nothing recorded")
        if isinstance(quantity, str):
            if not COUNT_TEXT.fullmatch(quantity.strip()):
                raise Refused(not_a_count, "not a count")
            quantity = float(quantity.strip())
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float)) or not math.isfinite(quantity) \
                or quantity < 0:
            raise Refused(not_a_count, "not a count")
        if order.get("not_to_give"):
            raise Refused(f"order {order_id} is an order not to give it (doNotPerform, or an intent that is no "
                          "order): there is no supply of it to count; nothing recorded", "order not to give")
        if order["status"] != "active":
            said = order["status"] if order["status"] in ORDER_STATUSES else "not active"
            raise Refused(f"order {order_id} is {said}, not active: its supply is not monitored; nothing recorded",
                          "order not active")
        now = self.clock.now()
        zone = order_zone(order, self.settings)
        counted = _when(at, zone, "--at") if at is not None else now
        died = deceased_refused(order_id, counted, deceased=bool(order.get("deceased")), entry="count",
                                deceased_at=parse_iso(order["deceased_at"]) if order.get("deceased_at") else None)
        if died is not None:
            raise Refused(f"{died}; nothing recorded", died.reason)
        refused = supply_count_refused(order_id, order.get("dose_unit"), unit, order.get("medication_text"))
        if refused is not None:
            raise Refused(f"{refused}; nothing recorded", refused.reason)
        plan = order_plan(order, self.settings)
        usage = plan_usage(plan, zone, now) if order["schedule_status"] != "prn" else None
        per_day = usage.per_day if usage is not None and usage.per_day else None
        too_much = supply_count_quantity_refused(order_id, float(quantity), unit, per_day)
        if too_much is not None:
            raise Refused(f"{too_much}; nothing recorded", too_much.reason)
        if counted > now + timedelta(minutes=1):
            raise Refused("--at lies in the future; record a count once it has been made", "in the future")
        starts = [s.start for s in plan.steps if s.start is not None] or \
            [t for t in order_bounds(order)[:1] if t is not None]
        if starts and counted < min(starts):
            raise Refused(f"order {order_id}: --at lies before the order's start "
                          f"({min(starts).astimezone(zone):%Y-%m-%d %H:%M %Z}); nothing recorded",
                          "before the order's start")
        with transaction(self.db):
            latest = store_clinical.latest_supply_count(self.db, order_id)
            if latest is not None and counted <= parse_iso(latest["counted_at"]):
                raise Refused(
                    f"order {order_id}: a later count stands (counted "
                    f"{parse_iso(latest['counted_at']).astimezone(zone):%Y-%m-%d %H:%M %Z}); the supply monitor reads "
                    "the latest count only, so an older one is not kept; nothing recorded", "older than latest count")
            store_clinical.insert_supply_count(self.db, medication_request_id=order_id, quantity=float(quantity),
                                               counted_at=iso(counted), source="staff", unit=unit_name(unit))
        self._audit_ok(actor, "supply.record", f"order:{order_id}",
                       {"quantity": float(quantity), "unit": unit_name(unit)})
        return {"order_id": order_id, "quantity": float(quantity), "unit": unit_name(unit), "counted_at": iso(counted),
                "per_day": per_day, "said": count_said(float(quantity), unit),
                "counted_local": f"{counted.astimezone(zone):%Y-%m-%d %H:%M %Z}", "out_of_supply": quantity == 0}

    def write_demo(self, actor: Actor, *, seed: int = 7, patients: int = 50, replace: bool = False,
                   if_empty: bool = False):
        """Write the synthetic demo clinic; return its DemoReport, or None when ``if_empty`` and patients exist.

        ``replace`` needs the admin role and is refused when the store holds imported (FHIR) patients:
        real clinic data is never replaced by demo data. Raises ConsoleError / PermissionDenied.
        """
        from medjobs_tui.demo import DemoError, generate_demo
        from medjobs_tui.store import clinical

        sources = clinical.patient_sources(self.db)
        if if_empty and sources:
            return None  # nothing to do, whoever asks (so any role can open a clinic that has data)
        self.authorise(actor, "data.demo", "store")
        if replace:
            self.authorise(actor, "data.replace", "store")
            if sources.get("fhir"):
                raise ConsoleError(f"the store holds {sources['fhir']} imported patient(s); the demo never "
                                   "replaces real clinic data (use a separate config for the demo)")
        try:
            report = generate_demo(self.db, self.settings, self.clock.now(), seed=seed, patients=patients,
                                   replace=replace)
        except DemoError as exc:
            raise ConsoleError(str(exc)) from None
        self._audit_ok(actor, "data.demo", "store", {"seed": seed, "patients": patients, "replace": replace})
        return report

    def _refuse_while_runner_live(self, what: str) -> None:
        """Raise ConsoleError when a runner (this console's own, or one whose heartbeat is fresher than a
        lease) is using the store: its connections and workers would keep the store open under us."""
        if self.runner is not None:
            raise ConsoleError(f"cannot {what} while this console's runner is running; use the command line "
                               "with the dashboard closed")
        live = store_runs.live_runners(self.db, self.clock.now() - timedelta(seconds=LEASE_SECONDS))
        if live:
            raise ConsoleError(f"cannot {what} while a runner holds a lease on the store ({', '.join(live)}); "
                               "stop it first")

    def rotate_store_key(self, actor: Actor) -> None:
        """Re-key the whole store with a new random store key (SQLCipher ``PRAGMA rekey``), rewrite the key
        file atomically and re-wrap the recovery copy. The audit and backup keys stay (the audit chain and
        older backups remain verifiable). Admin only; refused while a runner holds a lease. Audited.
        Raises PermissionDenied / ConsoleError; a crash midway is settled by the next ``load_keys``."""
        self.authorise(actor, "key.rotate", "store")
        self._refuse_while_runner_live("rotate the store key")
        self.dbs.close_all()
        rotating = start_rotation(self.settings, self.keys)
        try:
            rekey(self.settings.database_path, rotating.previous_store, rotating.store)
        except BaseException:
            write_key_file(self.settings, replace(rotating, store=rotating.previous_store, previous_store=None))
            self.dbs = ThreadLocalDB(self.settings.database_path, self.keys.store)
            raise
        self.keys = finish_rotation(self.settings, rotating)
        self.dbs = ThreadLocalDB(self.settings.database_path, self.keys.store)
        self._audit_ok(actor, "key.rotate", "store", {"clinic": self.keys.clinic_id})

    # ------------------------------------------------------------------ backups

    def backups(self, limit: int = 50) -> list[BackupRow]:
        """The newest backups still kept, newest first, each checked against its recorded SHA-256 (cached by
        the file's size, modification and inode change times, so a refresh does not re-read unchanged files;
        any write to the file changes its ctime, which, unlike the mtime, cannot be set back).
        Unchecked: callers check the role (``list_backups``, the snapshot)."""
        out = []
        for r in clinical.list_backups(self.db, limit):
            if r.get("removed_at"):
                continue
            path = Path(r["path"])
            state = self._file_state(path, r["sha256"])
            out.append(BackupRow(
                id=r["id"], file=path.name, created_at=parse_iso(r["created_at"]), size_bytes=r["size_bytes"],
                verified=bool(r["verified"]), integrity=r["integrity"], intact=state == "intact", state=state,
            ))
        return out

    def list_backups(self, actor: Actor, limit: int = 50, *, audit_read: bool = True) -> list[BackupRow]:
        """``backups`` for ``actor`` (``backup.list``: operator, admin, auditor): the CLI's ``backup list`` and
        the dashboard's Backups tab. Audited with counts (the dashboard's refreshes pass ``audit_read=False``:
        checked, not logged each second). Raises PermissionDenied."""
        self.authorise(actor, "backup.list", "backups")
        rows = self.backups(limit)
        if audit_read:
            self._audit_ok(actor, "backup.list", "backups",
                           {"shown": len(rows), "not_intact": sum(not b.intact for b in rows)})
        return rows

    def _file_state(self, path: Path, sha256: str) -> str:
        """``intact`` (the file's SHA-256 is ``sha256``), ``changed`` or ``missing``."""
        try:
            st = path.stat()
        except OSError:
            return "missing"
        cache = self.__dict__.setdefault("_sha_cache", {})
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if key not in cache:
            try:
                cache[key] = _jobs().backup.sha256_of(path)
            except OSError:
                return "missing"
        return "intact" if cache[key] == sha256 else "changed"

    def verify_backup_file(self, actor: Actor, path: Path) -> dict[str, Any]:
        """Verify backup file ``path`` against its manifest: SHA-256 and size, then opened with the backup key
        (cipher_integrity_check, integrity_check, row counts). Returns the manifest; raises ConsoleError
        naming the first failure. Audited (ok or error)."""
        self.authorise(actor, "backup.verify", f"backup:{path.name}")
        try:
            manifest = _jobs().backup.read_manifest(path)
            _jobs().backup.verify_backup(path, manifest, self.keys.backup)
        except _jobs().backup.BackupVerificationError as exc:
            audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role,
                         action="backup.verify", target=f"backup:{path.name}", outcome="error",
                         at=self.clock.now(), detail={"problem": str(exc)[:200]})
            raise ConsoleError(f"backup NOT verified: {exc}") from None
        self._audit_ok(actor, "backup.verify", f"backup:{path.name}", {"sha256": manifest["sha256"]})
        return manifest

    def restore(self, actor: Actor, path: Path) -> RestoreOutcome:
        """Replace the live store with backup ``path`` (admin). The backup is verified first (SHA-256 against
        its manifest, integrity, row counts); refused while a runner holds a lease; the current store is
        kept aside as ``<store>.before-restore-<UTC stamp>``; stale -wal/-shm files are removed.

        The audit trail loses nothing: the entries the store kept aside holds after the backup's audit head
        (written after the backup was taken, the restore's own first entry among them) are carried over
        into the restored chain, verbatim, as far as they chain from that head under the audit key
        (``security.audit.carry_over``); then the restore itself is audited. Entries that do not chain (the
        store kept aside was changed) are left out, and an ``audit.carry_over`` entry with outcome error
        names the first of them (``RestoreOutcome.audit_problem``; the CLI prints it as a warning).
        Raises PermissionDenied / ConsoleError (nothing changed)."""
        target = f"backup:{path.name}"
        self.authorise(actor, "store.restore", target)
        self._refuse_while_runner_live("restore the store")
        try:
            manifest = _jobs().backup.read_manifest(path)
            _jobs().backup.verify_backup(path, manifest, self.keys.backup)
        except _jobs().backup.BackupVerificationError as exc:
            audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role,
                         action="store.restore", target=target, outcome="error", at=self.clock.now(),
                         detail={"problem": str(exc)[:200]})
            raise ConsoleError(f"not restored, the backup failed verification: {exc}") from None
        now = self.clock.now()
        live = Path(self.settings.database_path)
        aside = live.with_name(f"{live.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
        previous = audit.head(self.db)
        self._audit_ok(actor, "store.restore", target, {"phase": "replacing this store", "kept_as": aside.name})
        self.dbs.close_all()
        try:
            store_backup.restore_copy(path, self.keys.backup, live, self.keys.store, aside)
        finally:
            self.dbs = ThreadLocalDB(live, self.keys.store)
        restored_head = audit.head(self.db)
        try:
            tail = store_backup.audit_tail(aside, self.keys.store, restored_head["id"])
        except StoreError as exc:
            carried = audit.CarriedOver(0, 0, f"the store kept aside could not be read: {exc}")
        else:
            carried = audit.carry_over(self.db, self.keys.audit, tail)
        if carried.problem:
            audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role,
                         action="audit.carry_over", target=f"store:{aside.name}", outcome="error",
                         at=self.clock.now(), detail={"problem": carried.problem, "copied": carried.copied,
                                                      "left_out": carried.offered - carried.copied})
        self._audit_ok(actor, "store.restore", target, {
            "backup_head": manifest.get("audit_head"), "previous_head": previous, "kept_as": aside.name,
            "backup_created_at": manifest.get("created_at"), "audit_carried_over": carried.copied})
        return RestoreOutcome(aside, carried.copied, carried.offered, carried.problem)

    def audit_verify(self, actor: Actor) -> audit.Verdict:
        """Verify the audit chain under the audit key and against every checkpoint of its head (backup
        manifests, evidence records). Admin and auditor. Audited (outcome ok, or error when broken)."""
        self.authorise(actor, "audit.verify", "audit")
        checkpoints = audit.find_checkpoints(self.settings.backups_dir, self.settings.evidence_dir)
        verdict = audit.verify(self.db, self.keys.audit, checkpoints)
        audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role, action="audit.verify",
                     target="audit", outcome="ok" if verdict.ok else "error", at=self.clock.now(),
                     detail={"entries": verdict.count, "checkpoints": verdict.checkpoints,
                             "bad_id": verdict.bad_id})
        return verdict

    def audit_list(self, actor: Actor, *, since: datetime | None = None, who: str | None = None,
                   action: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Audit entries, newest first, filtered (see ``security.audit.entries``). Admin and auditor. Audited."""
        self.authorise(actor, "audit.list", "audit")
        rows = audit.entries(self.db, since=since, actor=who, action=action, limit=limit)
        self._audit_ok(actor, "audit.list", "audit", {"since": iso(since) if since else None, "actor": who,
                                                        "action": action, "shown": len(rows)})
        return rows

    def error_detail(self, actor: Actor, ref: str) -> str:
        """The full detail behind an error reference (admins only; may hold patient data). Audited."""
        self.authorise(actor, "error.read", f"error:{ref}")
        row = store_runs.error_detail(self.db, ref)
        if row is None:
            raise ConsoleError(f"no error detail under reference {ref}")
        self._audit_ok(actor, "error.read", f"error:{ref}")
        return f"run {row['run_id']} at {row['at']}\n{row['detail']}"

    # ------------------------------------------------------------------ views

    def runs(self, limit: int = 200, run_filter: RunFilter | None = None, include_skipped: bool = False) -> list[RunRow]:
        """The newest runs matching ``run_filter``, and every active one, newest first. Skipped ticks (paused
        job, repeated hour, missed with ``misfire: skip``) are listed with ``include_skipped`` or when the
        filter asks for them by status; cancelled runs and coalesced ticks always."""
        return self.find_runs(run_filter, limit, include_skipped=include_skipped)

    def run(self, run_id: int) -> RunRow:
        """One run. Raises ConsoleError if there is none with that id."""
        row = store_runs.get_run(self.db, run_id)
        if row is None:
            raise ConsoleError(f"no run {run_id}")
        return run_row(row)

    def run_summary(self, run_id: int) -> dict[str, Any] | None:
        """The handler's summary of run ``run_id`` (counts and pseudonyms), or None."""
        row = store_runs.get_run(self.db, run_id)
        return json.loads(row["summary"]) if row and row["summary"] else None

    def jobs(self) -> list[JobRow]:
        """Every configured job with its schedule, next run, paused flag and last status."""
        paused = store_runs.paused_jobs(self.db)
        last = store_runs.last_run_by_job(self.db)
        now = self.clock.now()
        out = []
        for name, job in self.settings.jobs.items():
            nxt = None
            if name not in paused:
                nxt = self.runner.next_run_at(name) if self.runner else None
                nxt = nxt or next_fire_time(job, self.settings, now)
            sched = f"cron {job.schedule.value}" if job.schedule.type == "cron" else f"every {job.schedule.value} s"
            lr = last.get(name)
            out.append(JobRow(
                name=name, job_type=job.job_type, priority=job.priority, queue=job.queue_name, schedule=sched,
                next_run_at=nxt, paused=name in paused, last_status=lr["status"] if lr else None,
                last_finished_at=parse_iso(lr["finished_at"]) if lr else None,
            ))
        return sorted(out, key=lambda j: (-PRIORITIES[j.priority], j.name))

    def metrics(self) -> list[JobMetrics]:
        """Per-job metrics (execution time, success, errors, retries, timeouts, validation), over all
        history: pruned runs count through their folded daily metrics."""
        attempts = store_runs.attempts_by_job(self.db)
        terminal = store_runs.terminal_runs_by_job(self.db)
        folded = store_pruning.folded_by_job(self.db)    # runs pruned past the retention
        return [job_metrics(name, attempts.get(name, []), terminal.get(name, []), self.settings.evidence_dir,
                            folded.get(name)) for name in self.settings.jobs]

    def validation_report(self, actor: Actor, fmt: str = "md") -> str:
        """The validation report (``console.report``) as Markdown (``md``) or HTML (``html``), from live state;
        audited with its SHA-256. Raises PermissionDenied, ConsoleError for an unknown format."""
        self.authorise(actor, "report.write", "report")
        if fmt not in ("md", "html"):
            raise ConsoleError(f"report format must be md or html, not {fmt!r}")
        from medjobs_tui.console import report

        text = report.render_markdown(self) if fmt == "md" else report.render_html(self)
        self._audit_ok(actor, "report.write", "report", {"format": fmt,
                                                         "sha256": hashlib.sha256(text.encode()).hexdigest()})
        return text

    def selftest(self, actor: Actor):
        """Run the self-test (``console.selftest``: a validation exercise on a scratch copy of the clinic) and
        record its result as evidence, a ``selftest_results`` row and an audit entry; return the
        SelfTestResult (a failed check is a result, not an error). Raises PermissionDenied."""
        self.authorise(actor, "selftest.run", "selftest")
        from medjobs_tui.console import selftest as selftest_mod

        return selftest_mod.run_selftest(self, actor)

    def latest_selftest(self):
        """The newest recorded self-test (``console.selftest.SelfTestResult``), or None."""
        from medjobs_tui.console import selftest as selftest_mod

        return selftest_mod.latest(self)

    def prometheus_metrics(self) -> str:
        """The metrics and validation status in the Prometheus text exposition format (``engine.exposition``)."""
        from medjobs_tui.engine import exposition     # prometheus_client: loaded for this view only

        return exposition.exposition(self.db, self.settings, self.clock.now)

    def validation(self) -> list[JobValidation]:
        """Each job's validation status now (valid, failing or stale, with reasons): ``engine.validation``."""
        return validation_mod.evaluate(self.db, self.settings, self.clock.now())

    def evidence(self, limit: int = 200) -> list[EvidenceRow]:
        """Evidence records, newest first, each checked against its stored SHA-256."""
        out = []
        for r in store_runs.finished_runs_with_evidence(self.db, limit):
            out.append(EvidenceRow(
                run_id=r["id"], job_name=r["job_name"], job_type=r["job_type"], status=r["status"],
                finished_at=parse_iso(r["finished_at"]), path=r["evidence_path"], sha256=r["evidence_sha256"],
                valid=evidence_mod.is_valid(self.settings.evidence_dir, r["evidence_path"], r["evidence_sha256"]),
            ))
        return out

    def read_evidence(self, actor: Actor, run_id: int) -> str:
        """The YAML text of run ``run_id``'s evidence record (audited). A record that no longer matches its
        SHA-256 is returned with TAMPERED_WARNING as its first line. Raises ConsoleError if absent."""
        self.authorise(actor, "evidence.read", f"run:{run_id}")
        row = store_runs.get_run(self.db, run_id)
        if row is None or not row["evidence_path"]:
            raise ConsoleError(f"run {run_id} has no evidence record")
        path = Path(self.settings.evidence_dir) / row["evidence_path"]
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConsoleError(f"evidence of run {run_id} is missing: {row['evidence_path']}") from None
        valid = evidence_mod.is_valid(self.settings.evidence_dir, row["evidence_path"], row["evidence_sha256"])
        self._audit_ok(actor, "evidence.read", f"run:{run_id}", {"valid": valid})
        return text if valid else TAMPERED_WARNING + text

    def evidence_valid(self, run_id: int) -> bool:
        """True when run ``run_id``'s evidence record exists and matches its stored SHA-256."""
        row = store_runs.get_run(self.db, run_id)
        return bool(row) and evidence_mod.is_valid(self.settings.evidence_dir, row["evidence_path"],
                                                   row["evidence_sha256"])

    def notifications(self, limit: int = 200, actor: Actor | None = None) -> list[NotificationRow]:
        """The newest outbox entries (patients by pseudonym only), each with its deliveries per channel. The
        message of an entry about a patient (a reminder, an interaction alert: a patient's medication data, and
        the staff notice of an alert about one patient's medication, ``notify.alerts.PATIENT_KINDS``) is shown only
        to ``actor``s whose role may read patients' data (``patient.read``); others, and a call without an actor,
        see NOTIFICATION_WITHHELD in its place, and no pseudonym (its kind beside a pseudonym says, say, that this
        patient's supply is critical)."""
        rows = outbox.recent(self.db, limit, PATIENT_KINDS)
        deliveries = outbox.deliveries_of(self.db, [r["id"] for r in rows])
        reader = self.may(actor, "patient.read")
        return [NotificationRow(
            id=r["id"], created_at=parse_iso(r["created_at"]), kind=r["kind"], audience=r["audience"],
            patient=r["patient"] if reader else None, due_at=parse_iso(r["due_at"]),
            message=r["message"] if reader or not r["about_patient"] else NOTIFICATION_WITHHELD, status=r["status"],
            deliveries=tuple(DeliveryRow(
                channel=d["channel"], status=d["status"], attempts=d["attempts"],
                next_attempt_at=parse_iso(d["next_attempt_at"]), sent_at=parse_iso(d["sent_at"]), error=d["error"],
            ) for d in deliveries.get(r["id"], [])),
        ) for r in rows]

    def channels(self) -> list[ChannelStatus]:
        """Delivery counts per channel: the inbox, every configured channel (by name and URL scheme, never
        the URL), and any channel that still has rows but was removed from config.yaml."""
        counts = outbox.delivery_counts(self.db)
        conf = self.settings.notifications
        out = [ChannelStatus("inbox", "app", ("patient", "staff", "prescriber"), True, counts.get("inbox", {}))]
        for name, ch in conf.channels.items():
            out.append(ChannelStatus(name, ch.scheme, tuple(ch.audience), True, counts.get(name, {})))
        for name in sorted(set(counts) - set(conf.channels) - {"inbox"}):
            out.append(ChannelStatus(name, "?", (), False, counts[name]))
        return out

    def doses(self, actor: Actor, first: date, last: date | None = None, *, patient: str | None = None,
              order: int | None = None, audit_read: bool = True) -> list[DoseRow]:
        """Every scheduled dose instant of clinic-local days ``first``..``last`` (inclusive; at most
        MAX_DOSE_DAYS), oldest first, for active scheduled orders of living patients, optionally of one
        patient (pseudonym) or one order. Each row has the instant (UTC and the patient's local time), the dose
        of the step in force and its status (``clinical.dosing.dose_status``: due, overdue, reminded, taken,
        missed, skipped, refused, before import). Role-checked (``dose.read``) and audited with counts only (the dashboard's
        refreshes pass ``audit_read=False``: they are checked, not logged each second).
        Raises PermissionDenied, or ConsoleError for a bad range or an unknown patient or order.
        """
        target = f"order:{order}" if order is not None else f"patient:{patient}" if patient else "doses"
        self.authorise(actor, "dose.read", target)
        last = last or first
        if last < first:
            raise ConsoleError(f"--to {last} is before --from {first}")
        if (last - first).days + 1 > MAX_DOSE_DAYS:
            raise ConsoleError(f"at most {MAX_DOSE_DAYS} days at a time ({first}..{last} is "
                               f"{(last - first).days + 1})")
        zone = self.settings.zone
        start = local_to_utc(first, time(0, 0), zone)
        end = local_to_utc(last + timedelta(days=1), time(0, 0), zone)
        orders = clinical.active_orders(self.db)
        if patient is not None:
            orders = [o for o in orders if o["pseudonym"] == patient]
            if not orders:
                raise ConsoleError(f"no active orders of patient {patient}")
        if order is not None:
            chosen = [o for o in orders if o["id"] == order]
            if not chosen:
                raise ConsoleError(f"no active order {order}" + (f" of {patient}" if patient else ""))
            if chosen[0]["deceased"] or chosen[0]["schedule_status"] != "scheduled":
                status = "deceased" if chosen[0]["deceased"] else chosen[0]["schedule_status"]
                raise ConsoleError(f"order {order} has no scheduled doses (schedule status: {status})")
            orders = chosen
        now = self.clock.now()
        found: list[tuple[dict[str, Any], Any]] = []
        for o in orders:
            if o["deceased"] or o["schedule_status"] != "scheduled":
                continue
            found.extend((o, d) for d in _jobs().medication_reminder.order_doses(o, self.settings, start, end))
        logged = clinical.dose_log_between(self.db, iso(start), iso(end))
        keys = {(o["id"], d.at): notify_outbox.dose_reminder_key(o["id"], d.at) for o, d in found}
        reminded = clinical.existing_notification_keys(self.db, keys.values())
        rows = [DoseRow(
            at=d.at, local=d.at.astimezone(_jobs().medication_reminder.order_zone(o, self.settings)), patient=o["pseudonym"],
            order=o["id"], medication=o["medication_text"], dose=d.dose, unit=d.unit,
            dose_text=dose_text(d.dose, d.unit),
            status=dose_status(logged.get((o["id"], iso(d.at))), keys[(o["id"], d.at)] in reminded, at=d.at, now=now,
                               known_since=_jobs().medication_reminder.known_since(o)),
        ) for o, d in found]
        rows.sort(key=lambda r: (r.at, r.patient, r.order))
        if audit_read:
            self._audit_ok(actor, "dose.read", target, {"from": first.isoformat(), "to": last.isoformat(),
                                                        "doses": len(rows)})
        return rows

    def snapshot(self, limit: int = 200, views: frozenset[str] | set[str] | None = None,
                 run_filter: RunFilter | None = None, log_level: str = "INFO", actor: Actor | None = None) -> Snapshot:
        """What the dashboard shows, in one call (meant for a background thread): the runners alive and the
        count of runs per state always, and of ``views`` (default: all of VIEWS) only those asked for, so a
        refresh reads just the visible tab. ``run_filter`` narrows the queue (every state listed, skipped
        ticks too); ``log_level`` the log. With ``actor`` whose role may see doses, today's doses
        (clinic-local day) too; otherwise ``doses`` is None. Likewise ``backups`` (``backup.list``)."""
        views = frozenset(VIEWS if views is None else views)
        now = self.clock.now()
        doses = None
        if "doses" in views and self.may(actor, "dose.read"):
            doses = self.doses(actor, now.astimezone(self.settings.zone).date(), audit_read=False)
        backups = None
        if "backups" in views and self.may(actor, "backup.list"):
            backups = self.list_backups(actor, audit_read=False)
        return Snapshot(
            now=now,
            runs=self.runs(limit, run_filter, include_skipped=True) if "queue" in views else [],
            jobs=self.jobs() if "jobs" in views else [],
            metrics=self.metrics() if "metrics" in views else [],
            evidence=self.evidence(limit) if "evidence" in views else [],
            notifications=self.notifications(limit, actor) if "notifications" in views else [],
            doses=doses, backups=backups,
            overview=self.overview() if "overview" in views else None,
            log=self.log_lines(log_level) if "log" in views else [],
            alerts=(self.alerts(actor, "all", limit, evaluate=self.alerts_due())
                    if "alerts" in views and self.may(actor, "alert.list") else []),
            validation=self.validation() if views & {"metrics", "jobs", "validation"} else [],
            selftest=self.latest_selftest() if "validation" in views else None,
            runners=self.runners_alive(), status_counts=self.status_counts(), views=views,
        )


_LOCAL = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})$")


def _when(value: datetime | str, zone, what: str) -> datetime:
    """An aware UTC datetime from an aware datetime, ISO 8601 text with an offset, or local
    ``YYYY-MM-DD HH:MM`` in ``zone`` (``dosing.local_to_utc``: DST as the schedule reads it).
    Raises Refused (reason ``time not readable``) naming ``what``."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise Refused(f"{what} needs a time zone", "time not readable")
        return value.astimezone(timezone.utc)
    text = str(value).strip()
    m = _LOCAL.match(text)
    try:
        if m:
            return local_to_utc(date.fromisoformat(m.group(1)), time.fromisoformat(m.group(2)), zone)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Refused(f"{what}: give 'YYYY-MM-DD HH:MM' (the patient's local time) or ISO 8601 with an "
                      "offset, e.g. 2026-11-29T08:00-05:00", "time not readable")
    return parsed.astimezone(timezone.utc)


def _jobs():
    """The job handlers' package, imported on first use (the Backups and Doses views): the dashboard paints its
    first tab without loading every handler (see ``import medjobs_tui.jobs``)."""
    import medjobs_tui.jobs.backup
    import medjobs_tui.jobs.medication_reminder

    return medjobs_tui.jobs
