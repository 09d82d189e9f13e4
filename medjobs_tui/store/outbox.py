"""Queries of the notification outbox: insert once per idempotency key, list newest first, and the delivery
rows (claim, finish fenced by the claim, resolve sends cut short)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlite_utils

from medjobs_tui.store.db import transaction


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


def recent(db: sqlite_utils.Database, limit: int = 200,
           patient_alert_kinds: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The ``limit`` newest notifications with the patient's pseudonym (never a name), and ``about_patient``: 1
    when the message is about one patient's medication: it names a patient, or it is the staff notice
    (``alert_opened:<id>`` / ``alert_resolved:<id>``) of an alert whose kind is in ``patient_alert_kinds``."""
    kinds = sorted(patient_alert_kinds)
    marks = ",".join("?" for _ in kinds) or "NULL"
    cur = db.execute(
        "SELECT n.id, n.created_at, n.kind, n.audience, p.pseudonym AS patient, n.due_at, n.message, n.status,"
        " (n.patient_id IS NOT NULL OR (n.kind IN ('alert_opened', 'alert_resolved') AND EXISTS (SELECT 1 FROM"
        " alerts a WHERE a.id = CAST(substr(n.idempotency_key, instr(n.idempotency_key, ':') + 1) AS INTEGER)"
        f" AND a.kind IN ({marks})))) AS about_patient"
        " FROM notifications n LEFT JOIN patients p ON p.id = n.patient_id ORDER BY n.id DESC LIMIT ?",
        [*kinds, limit],
    )
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


# ---------------------------------------------------------------------------------------------- delivery
# One notification_deliveries row per notification and channel ('inbox' or a configured channel). The
# life of a row: pending -> sending (claimed: attempts + 1, claimed_by) -> sent | pending again after a
# backoff | failed; a send cut short stays 'sending' until a deliverer resolves it (unconfirmed, or
# pending again for channels that re-send under the same idempotency key); expired when it came too late.

DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "unconfirmed", "expired")


def _rows(cur) -> list[dict[str, Any]]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def unplanned(db: sqlite_utils.Database, limit: int = 500) -> list[dict[str, Any]]:
    """Pending notifications that have no delivery rows yet, oldest first: id, audience, due_at, created_at,
    patient_id."""
    return _rows(db.execute(
        "SELECT n.id, n.audience, n.due_at, n.created_at, n.patient_id FROM notifications n"
        " WHERE n.status = 'pending'"
        " AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = n.id)"
        " ORDER BY n.id LIMIT ?", [limit]))


def plan_deliveries(db: sqlite_utils.Database, notification_id: int, rows: list[dict[str, Any]], now: str) -> int:
    """Insert the delivery rows of one notification (``channel``, ``status``, ``next_attempt_at``, optional
    ``sent_at``/``error``) unless present, then refresh the notification's status; one transaction.
    Returns how many rows were new."""
    new = 0
    with transaction(db):
        for r in rows:
            cur = db.execute(
                "INSERT OR IGNORE INTO notification_deliveries (notification_id, channel, status, next_attempt_at,"
                " sent_at, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [notification_id, r["channel"], r["status"], r["next_attempt_at"], r.get("sent_at"),
                 r.get("error"), now])
            new += cur.rowcount
        _refresh_status(db, notification_id)
    return new


def claim_delivery(db: sqlite_utils.Database, *, deliverer: str, now: str) -> dict[str, Any] | None:
    """Claim the oldest due pending delivery for ``deliverer`` (one ``BEGIN IMMEDIATE`` transaction): it
    becomes 'sending' with attempts + 1. Returns the delivery joined with its notification (kind, audience,
    message, idempotency_key, due_at, patient pseudonym), or None when nothing is due. When a read finds
    nothing due (the common case: the runner asks after every run) it returns None without taking the write lock."""
    due = ("SELECT d.id FROM notification_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= ?"
           " ORDER BY d.next_attempt_at, d.id LIMIT 1")
    if db.execute(due, [now]).fetchone() is None:
        return None
    with transaction(db):
        row = db.execute(due, [now]).fetchone()
        if row is None:
            return None
        db.execute(
            "UPDATE notification_deliveries SET status = 'sending', attempts = attempts + 1, claimed_by = ?,"
            " claimed_at = ?, updated_at = ? WHERE id = ?", [deliverer, now, now, row[0]])
        return _delivery(db, row[0])


def _delivery(db: sqlite_utils.Database, delivery_id: int) -> dict[str, Any] | None:
    found = _rows(db.execute(
        "SELECT d.id, d.notification_id, d.channel, d.status, d.attempts, d.next_attempt_at, d.claimed_by,"
        " d.claimed_at, d.sent_at, d.error, n.kind, n.audience, n.message, n.idempotency_key, n.due_at,"
        " n.created_at, p.pseudonym AS patient,"
        # its order no longer to be acted on: stopped (status), not to give (doNotPerform, a non-order intent) or
        # its patient deceased, since the notification was queued
        " (mr.id IS NOT NULL AND (mr.status != 'active' OR mr.schedule_status IN ('inactive', 'deceased')))"
        " AS order_withdrawn FROM notification_deliveries d"
        " JOIN notifications n ON n.id = d.notification_id LEFT JOIN patients p ON p.id = n.patient_id"
        " LEFT JOIN medication_requests mr ON mr.id = n.medication_request_id"
        " WHERE d.id = ?", [delivery_id]))
    return found[0] if found else None


def finish_delivery(db: sqlite_utils.Database, delivery_id: int, *, claimed_by: str, attempts: int, status: str,
                    now: str, error: str | None = None, next_attempt_at: str | None = None) -> bool:
    """Move a 'sending' delivery on, fenced by its claim (``claimed_by`` and ``attempts`` must still match):
    ``sent``, ``pending`` again (``next_attempt_at``), ``failed``, ``unconfirmed`` or ``expired``; then refresh
    its notification's status, in one transaction. False (nothing changed) if the claim is no longer current."""
    if status not in DELIVERY_STATUSES or status == "sending":
        raise ValueError(f"finish_delivery: status must be one of {DELIVERY_STATUSES[2:]} or pending, got {status!r}")
    with transaction(db):
        cur = db.execute(
            "UPDATE notification_deliveries SET status = ?, error = ?, updated_at = ?,"
            " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END,"
            " next_attempt_at = COALESCE(?, next_attempt_at), claimed_by = NULL, claimed_at = NULL"
            " WHERE id = ? AND status = 'sending' AND claimed_by = ? AND attempts = ?",
            [status, error, now, status, now, next_attempt_at, delivery_id, claimed_by, attempts])
        if cur.rowcount != 1:
            return False
        notification_id = db.execute("SELECT notification_id FROM notification_deliveries WHERE id = ?",
                                     [delivery_id]).fetchone()[0]
        _refresh_status(db, notification_id)
    return True


def in_flight(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every delivery left 'sending' (by this or another deliverer), with its notification's fields."""
    ids = [r[0] for r in db.execute("SELECT id FROM notification_deliveries WHERE status = 'sending' ORDER BY id")]
    return [d for d in (_delivery(db, i) for i in ids) if d is not None]


INBOX_ONLY = "inbox_only"
"""The status of a notification to a patient or a prescriber whose only delivery was the in-app inbox (no channel
of its audience is configured, or the patient chose the inbox): the clinic sees it, its addressee was not sent it.
"sent" would tell a nurse the patient had been reminded."""


def _refresh_status(db: sqlite_utils.Database, notification_id: int) -> None:
    """A notification's status from its deliveries: pending while any is pending or sending; else failed if
    any failed, unconfirmed if any is, expired if any is; else ``inbox_only`` (INBOX_ONLY) when the in-app inbox
    was its only delivery and its audience is a patient or a prescriber (the inbox is the staff's); else sent."""
    rows = db.execute("SELECT DISTINCT d.status, d.channel, n.audience FROM notification_deliveries d"
                      " JOIN notifications n ON n.id = d.notification_id WHERE d.notification_id = ?",
                      [notification_id]).fetchall()
    statuses = {r[0] for r in rows}
    if not statuses or statuses & {"pending", "sending"}:
        status = "pending"
    else:
        status = next((s for s in ("failed", "unconfirmed", "expired") if s in statuses), "sent")
        if status == "sent" and {r[1] for r in rows} == {"inbox"} and rows[0][2] in ("patient", "prescriber"):
            status = INBOX_ONLY
    db.execute("UPDATE notifications SET status = ? WHERE id = ?", [status, notification_id])


def deliveries_of(db: sqlite_utils.Database, notification_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The delivery rows of each notification in ``notification_ids`` (inbox first, then by channel name)."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in notification_ids}
    for chunk in range(0, len(notification_ids), 500):
        ids = notification_ids[chunk:chunk + 500]
        marks = ",".join("?" * len(ids))
        for r in _rows(db.execute(
                "SELECT notification_id, channel, status, attempts, next_attempt_at, sent_at, error"
                f" FROM notification_deliveries WHERE notification_id IN ({marks})"
                " ORDER BY notification_id, channel != 'inbox', channel", ids)):
            out[r["notification_id"]].append(r)
    return out


def delivery_counts(db: sqlite_utils.Database) -> dict[str, dict[str, int]]:
    """``{channel: {status: count}}`` over every delivery row."""
    out: dict[str, dict[str, int]] = {}
    for channel, status, n in db.execute(
            "SELECT channel, status, count(*) FROM notification_deliveries GROUP BY channel, status"):
        out.setdefault(channel, {})[status] = n
    return out
