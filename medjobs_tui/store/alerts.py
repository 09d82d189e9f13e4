"""Queries of the alerts table (migration 94): one active alert per (kind, scope), bumped by repeats, then
acknowledged and resolved; and the reads the alert evaluation needs (dead runs, attempt outcomes, tick
watermarks). Instants are UTC ISO 8601 text. Writes join the caller's transaction if one is open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

import sqlite_utils

from medjobs_tui.clock import iso
from medjobs_tui.store.db import transaction
from medjobs_tui.store.runs import _row, _rows

STATES = ("open", "acknowledged", "resolved")
"""An alert's states, in the order of its life."""

ACTIVE = ("open", "acknowledged")
"""States in which an alert is still active (its cause has not cleared)."""


def touch(db: sqlite_utils.Database, *, kind: str, scope: str, severity: str, summary: str, now: datetime,
          job_name: str | None = None, ref: str | None = None) -> tuple[int, str]:
    """Record that the cause of alert (``kind``, ``scope``) is observed at ``now``; return (alert id, what):
    ``opened`` (a new row), ``bumped`` (the active alert saw a new occurrence ``ref``: count + 1) or
    ``seen`` (the same occurrence again: only last_seen, summary and severity refreshed)."""
    at = iso(now)
    with transaction(db):
        row = _row(db.execute("SELECT id, last_ref FROM alerts WHERE kind = ? AND scope = ? AND state != 'resolved'",
                              [kind, scope]))
        if row is None:
            cur = db.execute(
                "INSERT INTO alerts (kind, scope, job_name, severity, state, summary, count, last_ref, first_seen,"
                " last_seen) VALUES (?, ?, ?, ?, 'open', ?, 1, ?, ?, ?)",
                [kind, scope, job_name, severity, summary, ref, at, at])
            return cur.lastrowid, "opened"
        if ref is not None and ref != row["last_ref"]:
            db.execute("UPDATE alerts SET count = count + 1, last_ref = ?, last_seen = ?, summary = ?, severity = ?"
                       " WHERE id = ?", [ref, at, summary, severity, row["id"]])
            return row["id"], "bumped"
        db.execute("UPDATE alerts SET last_seen = ?, summary = ?, severity = ? WHERE id = ?",
                   [at, summary, severity, row["id"]])
        return row["id"], "seen"


def resolve(db: sqlite_utils.Database, alert_id: int, reason: str, now: datetime) -> bool:
    """Resolve active alert ``alert_id`` with ``reason``; False if it is not active (already resolved)."""
    with transaction(db):
        cur = db.execute("UPDATE alerts SET state = 'resolved', resolved_at = ?, resolved_reason = ?"
                         " WHERE id = ? AND state != 'resolved'", [iso(now), reason, alert_id])
        return cur.rowcount == 1


def acknowledge(db: sqlite_utils.Database, alert_id: int, who: str, now: datetime) -> bool:
    """Mark open alert ``alert_id`` acknowledged by ``who`` at ``now``; False if it is not open."""
    with transaction(db):
        cur = db.execute("UPDATE alerts SET state = 'acknowledged', acknowledged_by = ?, acknowledged_at = ?"
                         " WHERE id = ? AND state = 'open'", [who, iso(now), alert_id])
        return cur.rowcount == 1


def acknowledge_by_ref(db: sqlite_utils.Database, kind: str, ref: str, who: str, now: datetime) -> list[int]:
    """Acknowledge the open alerts of ``kind`` whose last counted occurrence is ``ref`` (``interaction alert
    12``) by ``who`` at ``now``; returns their ids (none if there is no such open alert)."""
    with transaction(db):
        ids = [r[0] for r in db.execute("SELECT id FROM alerts WHERE kind = ? AND last_ref = ? AND state = 'open'",
                                        [kind, ref]).fetchall()]
        for alert_id in ids:
            acknowledge(db, alert_id, who, now)
        return ids


def get(db: sqlite_utils.Database, alert_id: int) -> dict[str, Any] | None:
    """Alert ``alert_id`` as a dict of its columns, or None."""
    return _row(db.execute("SELECT * FROM alerts WHERE id = ?", [alert_id]))


def find_active(db: sqlite_utils.Database, kind: str, scope: str) -> dict[str, Any] | None:
    """The active alert of (``kind``, ``scope``), or None."""
    return _row(db.execute("SELECT * FROM alerts WHERE kind = ? AND scope = ? AND state != 'resolved'", [kind, scope]))


def active(db: sqlite_utils.Database, kind: str) -> list[dict[str, Any]]:
    """The active (open or acknowledged) alerts of ``kind``, oldest first."""
    return _rows(db.execute("SELECT * FROM alerts WHERE kind = ? AND state != 'resolved' ORDER BY id", [kind]))


def listing(db: sqlite_utils.Database, states: Iterable[str] = ACTIVE, limit: int = 200) -> list[dict[str, Any]]:
    """Alerts in ``states``: open first, then acknowledged, then resolved; within each the most severe
    (critical, high, warning) first, then the newest seen."""
    states = tuple(states)
    marks = ",".join("?" * len(states))
    return _rows(db.execute(
        f"SELECT * FROM alerts WHERE state IN ({marks}) ORDER BY CASE state WHEN 'open' THEN 0"
        " WHEN 'acknowledged' THEN 1 ELSE 2 END, CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 ELSE 2 END,"
        " last_seen DESC, id DESC LIMIT ?", [*states, limit]))


def count_by_state(db: sqlite_utils.Database) -> dict[str, int]:
    """``{state: count}`` over every alert."""
    return {s: n for s, n in db.execute("SELECT state, count(*) FROM alerts GROUP BY state")}


# ----------------------------------------------------------------------------------- what evaluation reads


def run_states(db: sqlite_utils.Database, run_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """``{run id: {status, attempt, job_name}}`` of the runs among ``run_ids`` still kept (pruned ones absent)."""
    ids = list(run_ids)
    out: dict[int, dict[str, Any]] = {}
    for n in range(0, len(ids), 500):
        chunk = ids[n:n + 500]
        for r in _rows(db.execute(f"SELECT id, status, attempt, job_name FROM runs WHERE id IN"
                                  f" ({','.join('?' * len(chunk))})", chunk)):
            out[r["id"]] = r
    return out


def attempt_outcomes_since(db: sqlite_utils.Database, since: datetime) -> dict[str, dict[str, Any]]:
    """Per job, the attempts that finished at or after ``since`` (interrupted ones left out, as in the
    metrics): ``{job: {"finished": n, "errors": n (failed, timed out, crashed), "last_error": id of the
    newest erring attempt or None}}``."""
    out: dict[str, dict[str, Any]] = {}
    for job, finished, errors, last_error in db.execute(
            "SELECT r.job_name, count(*), SUM(a.outcome IN ('failed', 'timed_out', 'crashed')),"
            " MAX(CASE WHEN a.outcome IN ('failed', 'timed_out', 'crashed') THEN a.id END)"
            " FROM run_attempts a JOIN runs r ON r.id = a.run_id"
            " WHERE a.finished_at >= ? AND a.outcome IS NOT NULL AND a.outcome != 'interrupted'"
            " GROUP BY r.job_name", [iso(since)]):
        out[job] = {"finished": finished, "errors": errors or 0, "last_error": last_error}
    return out
