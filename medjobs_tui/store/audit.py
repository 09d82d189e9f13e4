"""Queries of the append-only audit log (triggers in the schema refuse UPDATE and DELETE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from medjobs_tui.clock import iso

import sqlite_utils

GENESIS = "0" * 64


def last_hash(db: sqlite_utils.Database) -> str:
    """The hash of the newest audit entry, or GENESIS for an empty log."""
    row = db.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else GENESIS


def head(db: sqlite_utils.Database) -> tuple[int, str]:
    """(id, hash) of the newest audit entry, or (0, GENESIS) for an empty log."""
    row = db.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def head_entry(db: sqlite_utils.Database) -> dict[str, Any]:
    """The checkpoint of the newest entry: {"id", "mac", "at"} ({"id": 0, "mac": GENESIS, "at": None} if empty)."""
    row = db.execute("SELECT id, hash, at FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return {"id": row[0], "mac": row[1], "at": row[2]} if row else {"id": 0, "mac": GENESIS, "at": None}


def append(db: sqlite_utils.Database, entry: dict[str, Any]) -> int:
    """Insert one audit entry (keys: at, actor, role, action, target, outcome, detail, prev_hash, hash, and
    optionally id: the chain MACs the id, so it is given, not left to SQLite)."""
    entry = {"id": None, **entry}
    cur = db.execute(
        "INSERT INTO audit_log (id, at, actor, role, action, target, outcome, detail, prev_hash, hash)"
        " VALUES (:id, :at, :actor, :role, :action, :target, :outcome, :detail, :prev_hash, :hash)",
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


def search(db: sqlite_utils.Database, *, since: datetime | None = None, actor: str | None = None,
           action: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The newest ``limit`` audit entries, newest first: at or after ``since`` (aware), by ``actor``, and
    of ``action`` (exact, or every action under a prefix that ends in ``.``, e.g. ``user.``)."""
    where, args = [], []
    if since is not None:
        where.append("at >= ?")
        args.append(iso(since))
    if actor:
        where.append("actor = ?")
        args.append(actor)
    if action:
        if action.endswith("."):
            where.append("substr(action, 1, ?) = ?")
            args += [len(action), action]
        else:
            where.append("action = ?")
            args.append(action)
    sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
    cur = db.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, int(limit)])
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
