"""Staff alerts raised by the engine itself (a run that went dead), written to the outbox once."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from medjobs_tui.clock import iso
from medjobs_tui.store import outbox
from medjobs_tui.store.db import transaction


def alert_run_dead(db: sqlite_utils.Database, *, run_id: int, job_name: str, now: datetime) -> bool:
    """Queue one staff alert that run ``run_id`` of ``job_name`` is dead (idempotent per run and death)."""
    with transaction(db):
        return outbox.insert_once(
            db, idempotency_key=f"run_dead:{run_id}:{iso(now)}", kind="job_failed", audience="staff",
            message=f"Job {job_name} failed: run {run_id} is dead after its last attempt. Review and retry.",
            created_at=iso(now), run_id=run_id,
        )
