"""Queries of schedule ticks: one row per fire time (queued, coalesced or skipped) and each job's watermark.

A tick's row is keyed ``<job>@<fire time, UTC>`` (``runs.dedupe_key``), so however many schedulers fire
it, a fire time is recorded once. ``jobs.ticks_seen_until`` is the latest fire time recorded for the job:
fire times after it and before now were missed (no runner was running) and are caught up at start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlite_utils

from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.store.db import transaction
from medjobs_tui.store.runs import _history, _row

SCHEDULED_TRIGGERS = ("schedule", "catch_up")
"""Run triggers that come from the schedule (a manual trigger is never coalesced)."""

PAUSED_REASON = "job paused"
"""The ``error`` of a tick recorded ``skipped`` because its job was paused."""


def tick_key(job_name: str, fire_time: datetime) -> str:
    """The dedupe key of ``job_name``'s tick at ``fire_time``: the job plus the fire time in UTC."""
    return f"{job_name}@{iso(fire_time)}"


def record_tick(
    db: sqlite_utils.Database,
    *,
    job_name: str,
    job_type: str,
    queue: str,
    priority: int,
    max_attempts: int,
    fire_time: datetime,
    now: datetime,
    trigger: str = "schedule",
    status: str = "queued",
    reason: str | None = None,
    actor: str = "runner",
) -> tuple[int | None, str | None]:
    """Record the row of one fire time of ``job_name``, in one transaction; return (run id, status).

    ``status`` is ``queued`` or ``skipped`` (with ``reason``, e.g. ``repeated hour``). A queued tick
    becomes ``skipped`` (``job paused``) if the job is paused, and ``coalesced`` if a scheduled run of
    the same job is still queued: at most one scheduled run of a job waits at a time. Skipped and
    coalesced rows carry their reason in ``error`` and are never run. Returns (None, None), recording
    nothing, when this fire time already has its row (two runners fired it) or is older than the job's
    watermark (a later tick or a catch-up already covered it). Advances the watermark to ``fire_time``.
    """
    key = tick_key(job_name, fire_time)
    at = iso(fire_time)
    with transaction(db):
        if db.execute("SELECT 1 FROM runs WHERE dedupe_key = ?", [key]).fetchone():
            return None, None
        job = _row(db.execute("SELECT paused, ticks_seen_until FROM jobs WHERE name = ?", [job_name]))
        seen = job["ticks_seen_until"] if job else None
        if seen is not None and at < seen:
            return None, None
        if status == "queued" and job and job["paused"]:
            status, reason = "skipped", PAUSED_REASON
        if status == "queued":
            waiting = db.execute(
                "SELECT id FROM runs WHERE job_name = ? AND status = 'queued' AND trigger IN (?, ?)"
                " ORDER BY id LIMIT 1", [job_name, *SCHEDULED_TRIGGERS]).fetchone()
            if waiting:
                status, reason = "coalesced", f"coalesced: run {waiting[0]} of this job is still waiting"
        cur = db.execute(
            "INSERT INTO runs (job_name, job_type, queue, priority, status, attempt, max_attempts, trigger,"
            " dedupe_key, scheduled_at, available_at, created_by, created_at, error, finished_at)"
            " VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [job_name, job_type, queue, priority, status, max_attempts, trigger, key, at, at, actor, iso(now),
             reason if status != "queued" else None, iso(now) if status != "queued" else None],
        )
        run_id = cur.lastrowid
        _history(db, run_id, None, status, now, actor, reason)
        db.execute("UPDATE jobs SET ticks_seen_until = ? WHERE name = ? AND"
                   " (ticks_seen_until IS NULL OR ticks_seen_until < ?)", [at, job_name, at])
        return run_id, status


def ticks_seen_until(db: sqlite_utils.Database, job_name: str) -> datetime | None:
    """The latest fire time of ``job_name`` already recorded (UTC), or None if the job never ticked."""
    row = db.execute("SELECT ticks_seen_until FROM jobs WHERE name = ?", [job_name]).fetchone()
    return parse_iso(row[0]) if row and row[0] else None


def start_watching(db: sqlite_utils.Database, job_name: str, since: datetime) -> None:
    """Set ``job_name``'s watermark to ``since`` if it has none: its fire times are watched from now on."""
    with transaction(db):
        db.execute("UPDATE jobs SET ticks_seen_until = ? WHERE name = ? AND ticks_seen_until IS NULL",
                   [iso(since), job_name])


def tick_rows(db: sqlite_utils.Database, job_name: str) -> list[dict[str, Any]]:
    """Every schedule row of ``job_name`` (any status), oldest fire time first."""
    cur = db.execute("SELECT * FROM runs WHERE job_name = ? AND trigger IN (?, ?) ORDER BY scheduled_at, id",
                     [job_name, *SCHEDULED_TRIGGERS])
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
