"""Queries of the append-only audit log (triggers in the schema refuse UPDATE and DELETE)."""

from __future__ import annotations

from typing import Any

import sqlite_utils

GENESIS = "0" * 64


def last_hash(db: sqlite_utils.Database) -> str:
    """The hash of the newest audit entry, or GENESIS for an empty log."""
    row = db.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else GENESIS


def append(db: sqlite_utils.Database, entry: dict[str, Any]) -> int:
    """Insert one audit entry (keys: at, actor, role, action, target, outcome, detail, prev_hash, hash)."""
    cur = db.execute(
        "INSERT INTO audit_log (at, actor, role, action, target, outcome, detail, prev_hash, hash)"
        " VALUES (:at, :actor, :role, :action, :target, :outcome, :detail, :prev_hash, :hash)",
        entry,
    )
    return cur.lastrowid


def entries(db: sqlite_utils.Database, limit: int | None = None) -> list[dict[str, Any]]:
    """Audit entries oldest first (the newest ``limit`` if given)."""
    sql = "SELECT * FROM audit_log ORDER BY id"
    if limit:
        sql = f"SELECT * FROM (SELECT * FROM audit_log ORDER BY id DESC LIMIT {int(limit)}) ORDER BY id"
    cur = db.execute(sql)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
