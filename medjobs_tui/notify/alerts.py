"""Alerts raised by MedJobs itself, with a life cycle: open -> acknowledged -> resolved.

An alert is one row of the ``alerts`` table per (kind, scope) while active: a repeat of its cause bumps its
count and last-seen time instead of adding a row. It resolves itself when its cause clears, saying why
(``run 12 succeeded on retry``, ``supply refilled``). Staff hear of it through the notification outbox: one
``alert_opened`` and one ``alert_resolved`` notice per alert row (idempotency keys ``alert_opened:<id>`` and
``alert_resolved:<id>``), which ``notify.delivery`` delivers to the in-app inbox and the staff channels.
Kinds whose cause already tells staff in its own notice (a dead run: ``job_failed``; a failing critical job:
``ops_alert``; critical supply: ``supply_critical``; an interaction: ``interaction_alert``) open without a
second notice. Texts carry ids, job names, pseudonyms and counts only, never patient data.

``queue_alert`` remains the entry point for a one-off operational notice (no row, no life cycle).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Mapping

from medjobs_tui.notify import outbox
from medjobs_tui.store import alerts as store_alerts
from medjobs_tui.store.db import transaction

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils


@dataclass(frozen=True)
class AlertKind:
    """One kind of alert: its name, default severity and what it is called on screen."""

    kind: str
    severity: str
    words: str


KINDS: dict[str, AlertKind] = {k.kind: k for k in (
    AlertKind("run_dead", "high", "dead run"),
    AlertKind("critical_job_failing", "critical", "critical job failing"),
    AlertKind("schedule_missed", "critical", "schedule missed"),
    AlertKind("error_rate", "warning", "error rate over threshold"),
    AlertKind("supply_critical", "high", "critical supply"),
    AlertKind("interaction_major", "high", "major interaction"),
    AlertKind("orders_unassessed", "high", "orders not assessed"),
)}
"""Every kind of alert MedJobs raises."""

PATIENT_KINDS = frozenset({"supply_critical", "interaction_major"})
"""Kinds of alert about one patient's medication: their scope names the patient's pseudonym and their summary and
resolution speak of the patient's orders (``console.Console.alerts`` withholds them from roles that may not read
patients' data)."""

PSEUDONYM_PART = re.compile(r"\s*\([^)]*\)")
"""The ``(P-00012)`` part of an alert's scope (``order 45 (P-00012)``)."""


ALERT_PREFIX = "A-"
"""How MedJobs' own alerts (the ``alerts`` table: ``medjobs alerts``, the Alerts tab) are numbered on screen: A-4."""

INTERACTION_PREFIX = "I-"
"""How interaction alerts (``medjobs interactions list``) are numbered on screen: I-4. The two lists count apart,
so a bare 4 could be either: every screen, table and message shows the prefix."""

_LISTS = {ALERT_PREFIX: ("a MedJobs alert", "medjobs alerts ack"),
          INTERACTION_PREFIX: ("an interaction alert", "medjobs interactions ack")}


def alert_label(alert_id: int) -> str:
    """MedJobs alert ``alert_id`` as shown: ``A-4``."""
    return f"{ALERT_PREFIX}{alert_id}"


def interaction_label(alert_id: int) -> str:
    """Interaction alert ``alert_id`` as shown: ``I-4``."""
    return f"{INTERACTION_PREFIX}{alert_id}"


class AlertRefError(ValueError):
    """An alert number that cannot be read, or one of the other list (the message names the right command)."""


def parse_alert_ref(text: str, prefix: str) -> int:
    """The id in ``text``, an alert number of the list whose prefix is ``prefix`` (ALERT_PREFIX or
    INTERACTION_PREFIX): the bare number (``4``) or with that prefix (``A-4``, ``a-4``). Raises AlertRefError for
    the other list's prefix (``I-4`` given to ``alerts ack``: the message points to ``interactions ack``) and
    for anything else."""
    value = str(text).strip()
    upper = value.upper()
    for other, (what, command) in _LISTS.items():
        if other != prefix and upper.startswith(other):
            raise AlertRefError(f"{value} is {what}, not {_LISTS[prefix][0]}: acknowledge it with "
                                f"`{command} {value}`")
    number = upper.removeprefix(prefix)
    if not number.isdigit() or not 1 <= int(number) <= 2**62:
        raise AlertRefError(f"{value!r} is not the number of {_LISTS[prefix][0]}: give it as shown, e.g. {prefix}4 "
                            "(or 4)")
    return int(number)


def kind_words(kind: str, severity: str | None = None) -> str:
    """What alert kind ``kind`` is called on screen, for an alert of ``severity``: an interaction alert raised for
    a contraindicated pair (severity critical, ``jobs.interaction_check.MAJOR``) is a "contraindicated
    interaction", a major one a "major interaction"; an unknown kind is called by its name."""
    if kind == "interaction_major" and severity == "critical":
        return "contraindicated interaction"
    spec = KINDS.get(kind)
    return spec.words if spec else kind

SEVERITIES = ("critical", "high", "warning")
"""Alert severities, most urgent first."""

_UNSAFE = re.compile(r"[^\w .:+()/'-]")
_SCOPE_TEXT = re.compile(r"^[\w .:+()/'@#-]{1,80}$")


def plain(text: str, limit: int = 120) -> str:
    """``text`` as a notice may carry it: characters other than letters, digits and `` .:+()/'-`` become
    spaces, runs of spaces one, at most ``limit`` characters."""
    return re.sub(r" +", " ", _UNSAFE.sub(" ", text)).strip()[:limit]


@dataclass(frozen=True)
class AlertChange:
    """What ``raise_alert`` did: the alert's id and ``opened``, ``bumped`` (a new occurrence) or ``seen``."""

    alert_id: int
    what: str


def raise_alert(db: sqlite_utils.Database, *, kind: str, scope: str, summary: str, now: datetime,
                severity: str | None = None, job_name: str | None = None, ref: str | None = None,
                notify: bool = True, run_id: int | None = None) -> AlertChange:
    """Open alert (``kind``, ``scope``) at ``now`` (aware UTC), or bump the active one if ``ref`` names an
    occurrence it has not counted yet. ``scope`` names what it is about with ids and pseudonyms only
    (``job backup``, ``run 12``, ``order 45 (P-00012)``); ``summary`` says it in plain words. A new alert
    queues its ``alert_opened`` staff notice unless ``notify`` is False. Joins the caller's transaction.
    Raises ValueError for an unknown kind or severity, or a scope with other characters than ids need.
    """
    spec = KINDS.get(kind)
    if spec is None:
        raise ValueError(f"raise_alert: kind must be one of {', '.join(KINDS)}")
    severity = severity or spec.severity
    if severity not in SEVERITIES:
        raise ValueError(f"raise_alert: severity must be one of {', '.join(SEVERITIES)}")
    if not _SCOPE_TEXT.match(scope):
        raise ValueError("raise_alert: scope must be 1-80 letters, digits, spaces or .:+()/'@#-")
    summary = plain(summary)
    with transaction(db):
        alert_id, what = store_alerts.touch(db, kind=kind, scope=scope, severity=severity, summary=summary,
                                            now=now, job_name=job_name, ref=ref)
        if what == "opened" and notify:
            outbox.queue(db, kind="alert_opened", key=f"alert_opened:{alert_id}", now=now, run_id=run_id,
                         params={"alert": alert_label(alert_id), "severity": severity, "summary": summary or spec.words})
    return AlertChange(alert_id, what)


def resolve_alert(db: sqlite_utils.Database, alert_id: int, reason: str, now: datetime) -> bool:
    """Resolve active alert ``alert_id`` because ``reason`` (plain words: what cleared its cause) and queue
    its ``alert_resolved`` staff notice; False (nothing queued) if it was not active. Joins the caller's
    transaction."""
    reason = plain(reason) or "its cause cleared"
    with transaction(db):
        if not store_alerts.resolve(db, alert_id, reason, now):
            return False
        outbox.queue(db, kind="alert_resolved", key=f"alert_resolved:{alert_id}", now=now,
                     params={"alert": alert_label(alert_id), "reason": reason})
    return True


@dataclass(frozen=True)
class Observed:
    """A cause observed by an evaluation: the summary, its occurrence ``ref`` and optional severity/job."""

    summary: str
    ref: str | None = None
    severity: str | None = None
    job_name: str | None = None


def reconcile(db: sqlite_utils.Database, kind: str, observed: Mapping[str, Observed], now: datetime,
              reason: Callable[[dict], str | None], *, notify: bool = True,
              scopes: Callable[[str], bool] | None = None) -> dict[str, int]:
    """Make the active alerts of ``kind`` match what an evaluation saw: raise (or bump) one per scope of
    ``observed``; resolve every other active alert of ``kind`` (only those whose scope ``scopes`` accepts,
    when given: an evaluation that looked at part of the scopes) with ``reason(alert row)``, or leave it
    when that returns None. Returns counts ``{opened, bumped, seen, resolved}``. One transaction."""
    counts = {"opened": 0, "bumped": 0, "seen": 0, "resolved": 0}
    with transaction(db):
        for scope, o in observed.items():
            change = raise_alert(db, kind=kind, scope=scope, summary=o.summary, now=now, severity=o.severity,
                                 job_name=o.job_name, ref=o.ref, notify=notify)
            counts[change.what] += 1
        for row in store_alerts.active(db, kind):
            if row["scope"] in observed or (scopes is not None and not scopes(row["scope"])):
                continue
            why = reason(row)
            if why is not None and resolve_alert(db, row["id"], why, now):
                counts["resolved"] += 1
    return counts


def run_dead_scope(run_id: int) -> str:
    """The scope of run ``run_id``'s dead-run alert."""
    return f"run {run_id}"


def alert_run_dead(db: sqlite_utils.Database, *, run_id: int, job_name: str, attempt: int, now: datetime) -> bool:
    """Open (or bump: the same run died again after a retry) the ``run_dead`` alert of run ``run_id`` and
    queue one staff notice that it died at ``attempt``; True if the notice is new.

    The notice is keyed ``run_dead:<run id>:attempt<n>``: a recovered or repeated recording never alerts
    twice, while a run retried by an operator that dies again alerts again.
    """
    with transaction(db):
        raise_alert(db, kind="run_dead", scope=run_dead_scope(run_id), job_name=job_name, ref=f"attempt{attempt}",
                    summary=f"run {run_id} of job {job_name} is dead after attempt {attempt}", now=now,
                    notify=False, run_id=run_id)
        return outbox.queue(db, kind="job_failed", key=f"run_dead:{run_id}:attempt{attempt}", now=now,
                            params={"job": job_name, "run_id": run_id}, run_id=run_id)


def resolve_run_dead(db: sqlite_utils.Database, *, run_id: int, attempt: int, now: datetime) -> bool:
    """Run ``run_id`` succeeded at ``attempt``: resolve its dead-run alert, if one is active ("run 12
    succeeded on retry (attempt 4)"). True if one was resolved. Joins the caller's transaction."""
    row = store_alerts.find_active(db, "run_dead", run_dead_scope(run_id))
    if row is None:
        return False
    return resolve_alert(db, row["id"], f"run {run_id} succeeded on retry (attempt {attempt})", now)


def unassessed_scope(job_name: str) -> str:
    """The scope of job ``job_name``'s ``orders_unassessed`` alert: ``job supply_monitor``."""
    return f"job {job_name}"


UNASSESSED_NAMED = 6
"""At most this many order numbers are named in an ``orders_unassessed`` alert's summary (it holds 120 characters);
the run's summary (``failed_orders``) and evidence name more."""


def alert_orders_unassessed(db: sqlite_utils.Database, *, job_name: str, run_id: int | None, failed: int,
                            named: list[int], now: datetime) -> AlertChange:
    """Open (or bump, once per run) the ``orders_unassessed`` alert of job ``job_name``: its run ``run_id`` (None
    outside the engine: said as "a run") could not work out the supply of ``failed`` active orders (their data
    made the assessment raise), the first of them ``named`` by order number. The run itself succeeded, so without
    this nothing would tell staff that those patients' supply is not being watched. The summary names the job,
    the run, the count and order numbers only (no patient data); its ``alert_opened`` notice goes to staff.
    Joins the caller's transaction. Raises ValueError as ``raise_alert``. Source: DOMAIN.md "Supply and refills"
    (no supply data means unknown, never silently fine); the clinic's rule that a job's partial failure is told."""
    shown = " ".join(str(n) for n in named[:UNASSESSED_NAMED])
    more = f" and {failed - min(len(named), UNASSESSED_NAMED)} more" if failed > min(len(named), UNASSESSED_NAMED) else ""
    run = f"run {run_id}" if run_id is not None else "a run"
    return raise_alert(db, kind="orders_unassessed", scope=unassessed_scope(job_name), job_name=job_name,
                       ref=run if run_id is not None else now.isoformat(), run_id=run_id, now=now,
                       summary=f"{run} of job {job_name}: supply of {failed} order(s) could not be assessed "
                               f"(orders {shown}{more})")


def resolve_orders_unassessed(db: sqlite_utils.Database, *, job_name: str, run_id: int | None,
                              now: datetime) -> bool:
    """Run ``run_id`` of job ``job_name`` assessed every order: resolve the job's ``orders_unassessed`` alert, if one
    is active ("run 43 of job supply_monitor assessed every order"), and queue its resolution notice. True if one
    was resolved. Joins the caller's transaction."""
    row = store_alerts.find_active(db, "orders_unassessed", unassessed_scope(job_name))
    if row is None:
        return False
    run = f"run {run_id}" if run_id is not None else "a later run"
    return resolve_alert(db, row["id"], f"{run} of job {job_name} assessed every order", now)


_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SCOPE = re.compile(r"^[A-Za-z0-9_.:@+-]{1,80}$")


def queue_alert(db: sqlite_utils.Database, *, code: str, scope: str, area: str, count: int, now: datetime,
                audience: str = "staff", run_id: int | None = None) -> bool:
    """Queue the operational alert ``code`` (``[a-z][a-z0-9_]*``, e.g. ``backup_stale``) for ``audience``
    (patient, staff or prescriber) about ``count`` items in ``area`` (short plain words, e.g. ``backups``);
    True if new. Keyed ``ops_alert:<code>:<scope>``: the same code and scope (a day, a run id) alerts once.

    The text is the fixed ``ops_alert`` template: no patient data can enter it. Commits its own transaction.
    Raises ValueError for a bad code, scope, audience or value (naming the parameter, not its value).
    """
    if not _CODE.match(code):
        raise ValueError("queue_alert: code must be lower-case letters, digits and _ (at most 40)")
    if not _SCOPE.match(scope):
        raise ValueError("queue_alert: scope must be 1-80 letters, digits or _.:@+-")
    if audience not in ("patient", "staff", "prescriber"):
        raise ValueError("queue_alert: audience must be patient, staff or prescriber")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError("queue_alert: count must be a whole number >= 0")
    with transaction(db):
        return outbox.queue(db, kind="ops_alert", key=f"ops_alert:{code}:{scope}", now=now,
                            params={"code": code, "count": count, "area": area}, run_id=run_id,
                            audience=audience)
