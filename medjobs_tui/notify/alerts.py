"""Staff alerts raised by the engine itself (a run that went dead), written to the outbox once."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING


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
