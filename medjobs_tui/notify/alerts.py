"""Alerts raised by MedJobs itself (a run that went dead, an operational check), written to the outbox once.

``queue_alert`` is the entry point for any part of MedJobs that wants to tell an audience something: it
queues one notification per idempotency key, which ``notify.delivery`` then delivers to the in-app inbox
and to every channel of config.yaml that serves the audience.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING


import re

from medjobs_tui.notify import outbox
from medjobs_tui.store.db import transaction

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils


def alert_run_dead(db: sqlite_utils.Database, *, run_id: int, job_name: str, attempt: int, now: datetime) -> bool:
    """Queue one staff alert that run ``run_id`` of ``job_name`` died at ``attempt``; True if new.

    Keyed ``run_dead:<run id>:attempt<n>``: a recovered or repeated recording never alerts twice, while a
    run retried by an operator that dies again alerts again.
    """
    with transaction(db):
        return outbox.queue(db, kind="job_failed", key=f"run_dead:{run_id}:attempt{attempt}", now=now,
                            params={"job": job_name, "run_id": run_id}, run_id=run_id)


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
