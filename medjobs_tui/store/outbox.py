"""Queries of the notification outbox: insert once per idempotency key, list newest first."""

from __future__ import annotations

from typing import Any

import sqlite_utils


def insert_once(db: sqlite_utils.Database, *, idempotency_key: str, kind: str, audience: str, message: str,
                created_at: str, patient_id: int | None = None, medication_request_id: int | None = None,
                due_at: str | None = None, run_id: int | None = None) -> bool:
    """Insert a pending notification unless one with ``idempotency_key`` exists; True if inserted."""
    cur = db.execute(
        "INSERT OR IGNORE INTO notifications (idempotency_key, kind, audience, patient_id, medication_request_id,"
        " due_at, message, status, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        [idempotency_key, kind, audience, patient_id, medication_request_id, due_at, message, run_id, created_at],
    )
    return cur.rowcount == 1


def recent(db: sqlite_utils.Database, limit: int = 200) -> list[dict[str, Any]]:
    """The ``limit`` newest notifications with the patient's pseudonym (never a name)."""
    cur = db.execute(
        "SELECT n.id, n.created_at, n.kind, n.audience, p.pseudonym AS patient, n.due_at, n.message, n.status"
        " FROM notifications n LEFT JOIN patients p ON p.id = n.patient_id ORDER BY n.id DESC LIMIT ?",
        [limit],
    )
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
