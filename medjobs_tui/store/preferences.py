"""Reminder preferences of patients (``patient_preferences``, migration 72; opt-out stays in
``patients.reminders_opt_out``) and the time-critical flag of orders. Times are local ``HH:MM`` text."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

import sqlite_utils

PREF_COLUMNS = ("channel", "lead_minutes", "quiet_start", "quiet_end")


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def patient_by_pseudonym(db: sqlite_utils.Database, pseudonym: str) -> dict[str, Any] | None:
    """``{id, pseudonym, reminders_opt_out, timezone}`` of one patient, or None."""
    rows = _rows(db.execute("SELECT id, pseudonym, reminders_opt_out, timezone FROM patients WHERE pseudonym = ?",
                            [pseudonym]))
    return rows[0] if rows else None


def preferences_of(db: sqlite_utils.Database, patient_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
    """patient id -> ``{channel, lead_minutes, quiet_start, quiet_end, source, updated_at, updated_by}`` for
    patients with a preferences row (all of them when ``patient_ids`` is None)."""
    sql = "SELECT * FROM patient_preferences"
    if patient_ids is None:
        return {r["patient_id"]: r for r in _rows(db.execute(sql))}
    ids = sorted(set(patient_ids))
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for r in _rows(db.execute(f"{sql} WHERE patient_id IN ({','.join('?' * len(chunk))})", chunk)):
            out[r["patient_id"]] = r
    return out


def set_preferences(db: sqlite_utils.Database, patient_id: int, values: dict[str, Any], *, source: str, at: str,
                    by: str | None) -> None:
    """Insert or update one patient's preferences row with ``values`` (keys of PREF_COLUMNS; others kept).
    Call inside a transaction."""
    unknown = set(values) - set(PREF_COLUMNS)
    if unknown:
        raise TypeError(f"unknown preference column(s): {', '.join(sorted(unknown))}")
    db.execute("INSERT OR IGNORE INTO patient_preferences (patient_id, source, updated_at, updated_by)"
               " VALUES (?, ?, ?, ?)", [patient_id, source, at, by])
    sets = ", ".join(f"{k} = ?" for k in values)
    db.execute(f"UPDATE patient_preferences SET {sets + ', ' if sets else ''}source = ?, updated_at = ?,"
               " updated_by = ? WHERE patient_id = ?", [*values.values(), source, at, by, patient_id])


def set_opt_out(db: sqlite_utils.Database, patient_id: int, opt_out: bool, at: str) -> None:
    """Set a patient's reminders opt-out flag."""
    db.execute("UPDATE patients SET reminders_opt_out = ?, updated_at = ? WHERE id = ?", [int(opt_out), at, patient_id])


def set_time_critical(db: sqlite_utils.Database, medication_request_id: int, critical: bool, at: str) -> bool:
    """Mark an order time-critical (its reminders are never held for quiet hours); False if no such order."""
    cur = db.execute("UPDATE medication_requests SET time_critical = ? WHERE id = ?",
                     [int(critical), medication_request_id])
    return cur.rowcount == 1


def channels_of_patients(db: sqlite_utils.Database, patient_ids: Iterable[int]) -> dict[int, str]:
    """patient id -> preferred channel, for those with one set."""
    return {pid: r["channel"] for pid, r in preferences_of(db, patient_ids).items() if r.get("channel")}
