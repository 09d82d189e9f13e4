"""Interaction data of the clinic: its own interaction list (replacing the previous one on import) and the
per-pair reads and writes of interaction alerts (migration 71). Instants are UTC ISO text."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Mapping, Sequence

import sqlite_utils


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def clinic_pairs(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The clinic's imported interaction list in file order: ``drug_a, drug_b, severity, effect, source, line``."""
    return _rows(db.execute(
        "SELECT drug_a, drug_b, severity, effect, source, line FROM clinic_interactions ORDER BY line, id"))


def replace_clinic_pairs(db: sqlite_utils.Database, pairs: Sequence[Mapping[str, Any]], *, file_name: str,
                         file_sha256: str, imported_at: str, imported_by: str) -> dict[str, int]:
    """Replace the clinic's list with ``pairs`` (dicts with drug_a, drug_b, severity, effect, source, line)
    in the caller's transaction. Returns ``{removed, added, kept}``, pairs compared by (unordered drugs,
    severity, effect, source)."""
    def key(p: Mapping[str, Any]) -> tuple:
        return (tuple(sorted((p["drug_a"], p["drug_b"]))), p["severity"], p["effect"], p["source"])

    old = {key(p) for p in clinic_pairs(db)}
    new = {key(p) for p in pairs}
    db.execute("DELETE FROM clinic_interactions")
    db.conn.executemany(
        "INSERT INTO clinic_interactions (drug_a, drug_b, severity, effect, source, line, file_name, file_sha256,"
        " imported_at, imported_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(p["drug_a"], p["drug_b"], p["severity"], p["effect"], p["source"], p["line"], file_name, file_sha256,
          imported_at, imported_by) for p in pairs])
    return {"removed": len(old - new), "added": len(new - old), "kept": len(old & new)}


def alert_for_pair(db: sqlite_utils.Database, patient_id: int, pair_key: str, med_list_hash: str) -> int | None:
    """The id of the alert already raised for (patient, drug pair, medication list), acknowledged or not."""
    row = db.execute("SELECT id FROM interaction_alerts WHERE patient_id = ? AND pair_key = ? AND med_list_hash = ?"
                     " ORDER BY id LIMIT 1", [patient_id, pair_key, med_list_hash]).fetchone()
    return row[0] if row else None


def insert_alert(db: sqlite_utils.Database, *, patient_id: int, rule_id: str, drug_a: str, drug_b: str,
                 pair_key: str, severity: str, source: str, medication_request_ids: Sequence[int],
                 med_list_hash: str, run_id: int | None, created_at: str) -> int:
    """Insert a new interaction alert (the caller checked ``alert_for_pair``); returns its id."""
    import json

    cur = db.execute(
        "INSERT INTO interaction_alerts (patient_id, rule_id, drug_a, drug_b, pair_key, severity, source,"
        " medication_request_ids, med_list_hash, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [patient_id, rule_id, drug_a, drug_b, pair_key, severity, source, json.dumps(list(medication_request_ids)),
         med_list_hash, run_id, created_at])
    return cur.lastrowid


def supersede_alerts(db: sqlite_utils.Database, current_hashes: Mapping[int, str], at: str) -> int:
    """Close (``superseded_at``) every open alert whose patient's medication list is no longer the one it was
    raised for: a patient in ``current_hashes`` with another hash, or a patient not in it (no active
    orders left). Returns how many were closed. Call inside a transaction."""
    open_rows = db.execute("SELECT id, patient_id, med_list_hash FROM interaction_alerts"
                           " WHERE acknowledged_at IS NULL AND superseded_at IS NULL").fetchall()
    stale = [i for i, p, h in open_rows if current_hashes.get(p) != h]
    for n in range(0, len(stale), 500):
        chunk = stale[n:n + 500]
        db.execute(f"UPDATE interaction_alerts SET superseded_at = ? WHERE id IN ({','.join('?' * len(chunk))})",
                   [at, *chunk])
    return len(stale)


def get_alert(db: sqlite_utils.Database, alert_id: int) -> dict[str, Any] | None:
    """One alert with its patient's pseudonym, or None."""
    rows = _rows(db.execute(
        "SELECT a.id, p.pseudonym AS patient, a.rule_id, a.drug_a, a.drug_b, a.severity, a.acknowledged_at,"
        " a.acknowledged_by, a.superseded_at, a.created_at FROM interaction_alerts a"
        " JOIN patients p ON p.id = a.patient_id WHERE a.id = ?", [alert_id]))
    return rows[0] if rows else None
