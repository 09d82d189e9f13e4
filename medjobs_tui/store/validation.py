"""Queries behind validation: the evidence chain (one link per evidence record written) and each job's runs.

The chain is append-only: a link names the previous link's SHA-256, so a record dropped, swapped or
rewritten outside MedJobs shows as a break. A run whose record is rewritten (a retry) gets a new link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlite_utils

from medjobs_tui.clock import iso
from medjobs_tui.store.runs import _row, _rows


def last_link(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The newest chain link ``{seq, run_id, path, sha256, prev_sha256, written_at}``, or None for an empty chain."""
    return _row(db.execute("SELECT * FROM evidence_chain ORDER BY seq DESC LIMIT 1"))


def append_link(db: sqlite_utils.Database, *, run_id: int, path: str, sha256: str, prev_sha256: str | None,
                at: str) -> int:
    """Append the link of a record just written (call inside the transaction that stores its SHA-256), ``at``
    a UTC ISO time (the run's finish); return its seq."""
    cur = db.execute("INSERT INTO evidence_chain (run_id, path, sha256, prev_sha256, written_at) VALUES (?, ?, ?, ?, ?)",
                     [run_id, path, sha256, prev_sha256, at])
    return cur.lastrowid


def append_links(db: sqlite_utils.Database, links: list[tuple[int, str, str, str]]) -> None:
    """Append the links of several records just written, in order: ``links`` are (run id, path, SHA-256, ``at``);
    each names the one before it (the first names the chain's last link)."""
    previous = last_link(db)
    prev = previous["sha256"] if previous else None
    rows = []
    for run_id, path, sha, at in links:
        rows.append((run_id, path, sha, prev, at))
        prev = sha
    db.conn.executemany("INSERT INTO evidence_chain (run_id, path, sha256, prev_sha256, written_at) VALUES (?, ?, ?, ?, ?)",
                        rows)


def chain_links(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every link, oldest first."""
    return _rows(db.execute("SELECT * FROM evidence_chain ORDER BY seq"))


def audit_mac(db: sqlite_utils.Database, entry_id: int) -> str | None:
    """The MAC stored with audit entry ``entry_id``, or None if there is no such entry."""
    row = db.execute("SELECT hash FROM audit_log WHERE id = ?", [entry_id]).fetchone()
    return row[0] if row else None


def job_runs(db: sqlite_utils.Database, job_name: str, since: datetime | None = None) -> list[dict[str, Any]]:
    """Runs of ``job_name`` (every status) scheduled at or after ``since`` (all if None), oldest first."""
    if since is None:
        return _rows(db.execute("SELECT * FROM runs WHERE job_name = ? ORDER BY id", [job_name]))
    return _rows(db.execute("SELECT * FROM runs WHERE job_name = ? AND scheduled_at >= ? ORDER BY id",
                            [job_name, iso(since)]))


def unmended_dead_runs(db: sqlite_utils.Database, job_name: str, since: datetime,
                       scheduled_triggers: tuple[str, ...]) -> list[int]:
    """Ids of ``job_name``'s runs not made by its schedule (``scheduled_triggers`` excluded: manual ones) that went
    ``dead`` at or after ``since`` (UTC, from their history) and whose work is not done since: the run is not
    ``succeeded`` now (an operator's retry that waits, or was cancelled, does not count) and no later such run of
    the job succeeded."""
    marks = ",".join("?" for _ in scheduled_triggers) or "NULL"
    return [r[0] for r in db.execute(
        f"SELECT r.id FROM runs r WHERE r.job_name = ? AND r.trigger NOT IN ({marks}) AND r.status != 'succeeded'"
        " AND EXISTS (SELECT 1 FROM run_history h WHERE h.run_id = r.id AND h.to_status = 'dead' AND h.at >= ?)"
        f" AND NOT EXISTS (SELECT 1 FROM runs later WHERE later.job_name = r.job_name AND later.id > r.id"
        f" AND later.status = 'succeeded' AND later.trigger NOT IN ({marks})) ORDER BY r.id",
        [job_name, *scheduled_triggers, iso(since), *scheduled_triggers])]


def first_run_at(db: sqlite_utils.Database, job_name: str) -> str | None:
    """UTC ISO time of the earliest run row of ``job_name`` (any trigger or status): when MedJobs began running it."""
    row = db.execute("SELECT MIN(scheduled_at) FROM runs WHERE job_name = ?", [job_name]).fetchone()
    return row[0] if row else None


def last_finished_at(db: sqlite_utils.Database, job_name: str) -> str | None:
    """UTC ISO time at which the newest finished run of ``job_name`` ended (any outcome), or None."""
    row = db.execute("SELECT MAX(finished_at) FROM runs WHERE job_name = ? AND finished_at IS NOT NULL"
                     " AND status NOT IN ('skipped', 'cancelled')", [job_name]).fetchone()
    return row[0] if row else None


def attempts_since(db: sqlite_utils.Database, since: datetime) -> list[dict[str, Any]]:
    """Attempts started at or after ``since`` with their run's job, queue, priority, status and evidence columns,
    oldest first: ``{attempt, outcome, error, run_id, job_name, queue, priority, run_status, evidence_path,
    evidence_sha256}``."""
    return _rows(db.execute(
        "SELECT a.attempt, a.outcome, a.error, a.run_id, r.job_name, r.queue, r.priority, r.status AS run_status,"
        " r.evidence_path, r.evidence_sha256 FROM run_attempts a JOIN runs r ON r.id = a.run_id"
        " WHERE a.started_at >= ? ORDER BY a.id", [iso(since)]))


def access_refusals_since(db: sqlite_utils.Database, since: datetime) -> int:
    """Refusals of access at or after ``since``: a role or account refused an action (an entry ``denied`` with no
    detail, or naming the role ``signed_in_as``) or a sign-in or unlock refused. Not a content refusal of an
    allowed action (a dose too early, a count in the wrong unit: ``{"reason": category}``), which says nothing
    about access control."""
    return db.execute(
        "SELECT count(*) FROM audit_log WHERE at >= ? AND outcome = 'denied' AND (detail IS NULL"
        " OR json_extract(detail, '$.signed_in_as') IS NOT NULL OR action IN ('signin', 'session.unlock'))",
        [iso(since)]).fetchone()[0]


def supply_rows(db: sqlite_utils.Database, limit: int = 20) -> list[dict[str, Any]]:
    """The supply monitor's latest figures per order, most critical first (fewest days remaining):
    ``{medication_request_id, current_supply, daily_usage, days_remaining, status, computed_at}``; no patient data."""
    return _rows(db.execute(
        "SELECT medication_request_id, current_supply, daily_usage, days_remaining, status, computed_at"
        " FROM supply_status ORDER BY days_remaining IS NULL, days_remaining, medication_request_id LIMIT ?", [limit]))


def supply_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Orders per supply status (ok, low, critical, unknown)."""
    return dict(db.execute("SELECT status, count(*) FROM supply_status GROUP BY status").fetchall())


def latest_backup(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The newest backups row, or None."""
    return _row(db.execute("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))


def latest_run(db: sqlite_utils.Database, job_type: str, status: str = "succeeded") -> dict[str, Any] | None:
    """The newest run of ``job_type`` in ``status``, or None."""
    return _row(db.execute("SELECT * FROM runs WHERE job_type = ? AND status = ? ORDER BY id DESC LIMIT 1",
                           [job_type, status]))
