"""Dose-log writes by people (confirmations) and the history of every dose.

``dose_log`` holds each dose's current status, one row per (order, dose instant); ``dose_log_history``
(migration 70) gets one row for every entry that stood, written by triggers on ``dose_log`` and never
updated, so a confirmation that wins over ``reminder_missed`` leaves the earlier entry visible.
Which entry stands is decided by ``clinical.confirmation.entry_stands``; this module only reads and writes.
Instants are UTC ISO text (``clock.iso``).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import sqlite_utils


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def order_for_dose(db: sqlite_utils.Database, medication_request_id: int) -> dict[str, Any] | None:
    """One medication request joined with its patient (``pseudonym``, ``deceased``, ``deceased_at``, ``patient_timezone``),
    shaped like ``clinical.active_orders`` rows (``times_of_day`` and ``ingredients`` decoded); None if
    there is no such order."""
    cur = db.execute(
        "SELECT mr.*, p.pseudonym, p.deceased, p.deceased_at, p.timezone AS patient_timezone, p.reminders_opt_out"
        " FROM medication_requests mr JOIN patients p ON p.id = mr.patient_id WHERE mr.id = ?",
        [medication_request_id])
    rows = _rows(cur)
    if not rows:
        return None
    row = rows[0]
    row["times_of_day"] = json.loads(row["times_of_day"] or "[]")
    row["ingredients"] = json.loads(row["ingredients"] or "[]")
    return row


def current_entry(db: sqlite_utils.Database, medication_request_id: int, dose_instant: str) -> dict[str, Any] | None:
    """The dose-log row of one dose (``id, status, occurred_at, recorded_at, recorded_by``), or None."""
    rows = _rows(db.execute(
        "SELECT id, status, occurred_at, recorded_at, recorded_by FROM dose_log"
        " WHERE medication_request_id = ? AND dose_instant = ?", [medication_request_id, dose_instant]))
    return rows[0] if rows else None


def write_entry(db: sqlite_utils.Database, *, medication_request_id: int, patient_id: int, dose_instant: str,
                status: str, occurred_at: str | None, recorded_at: str, recorded_by: str | None) -> int:
    """Make ``status`` the dose's current entry (insert, or update the existing row); the history row is
    added by the table's trigger. Call inside a transaction after deciding the entry stands. Returns the
    id of the new ``dose_log_history`` row."""
    db.execute(
        "INSERT INTO dose_log (medication_request_id, patient_id, dose_instant, status, recorded_at, occurred_at,"
        " recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (medication_request_id, dose_instant) DO UPDATE SET status = excluded.status,"
        " recorded_at = excluded.recorded_at, occurred_at = excluded.occurred_at, recorded_by = excluded.recorded_by",
        [medication_request_id, patient_id, dose_instant, status, recorded_at, occurred_at, recorded_by])
    return db.execute("SELECT max(id) FROM dose_log_history WHERE medication_request_id = ? AND dose_instant = ?",
                      [medication_request_id, dose_instant]).fetchone()[0]


def dose_history(db: sqlite_utils.Database, medication_request_id: int, dose_instant: str) -> list[dict[str, Any]]:
    """Every entry that stood for one dose, oldest first: ``id, status, occurred_at, recorded_at, recorded_by``."""
    return _rows(db.execute(
        "SELECT id, status, occurred_at, recorded_at, recorded_by FROM dose_log_history"
        " WHERE medication_request_id = ? AND dose_instant = ? ORDER BY id", [medication_request_id, dose_instant]))
