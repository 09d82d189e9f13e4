"""Queries of the sign-off signatures (migration 91): append-only rows, read per item, oldest first.

Triggers refuse UPDATE and DELETE; a revocation is a row of its own naming the signature it revokes.
The writer gives each row's id (its MAC covers the id), inside the transaction that also writes the
signature's audit entry.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from medjobs_tui.store.runs import _rows

SIGNATURE_COLUMNS = ("id", "item", "kind", "revokes", "user_id", "username", "printed_name", "review_role", "meaning",
                     "comment", "signed_at", "components", "session_hash", "config_sha256", "app_version",
                     "evidence_head", "audit_head_id", "audit_head_mac", "mac")
"""Every column of ``signoff_signatures``, in table order."""


def next_id(db: sqlite_utils.Database) -> int:
    """The id the next signature row gets (call inside the writing transaction)."""
    return (db.execute("SELECT COALESCE(MAX(id), 0) FROM signoff_signatures").fetchone()[0] or 0) + 1


def append(db: sqlite_utils.Database, row: dict[str, Any]) -> int:
    """Insert one signature row (every column of SIGNATURE_COLUMNS given); return its id."""
    cols = ", ".join(SIGNATURE_COLUMNS)
    marks = ", ".join(f":{c}" for c in SIGNATURE_COLUMNS)
    db.execute(f"INSERT INTO signoff_signatures ({cols}) VALUES ({marks})", {c: row[c] for c in SIGNATURE_COLUMNS})
    return row["id"]


def all_signatures(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every signature row (signings and revocations), oldest first."""
    return _rows(db.execute(f"SELECT {', '.join(SIGNATURE_COLUMNS)} FROM signoff_signatures ORDER BY id"))


def signed_in_session(db: sqlite_utils.Database, username: str, session_hash: str) -> bool:
    """True when ``username`` has signed (or revoked) anything in the signing session ``session_hash``."""
    return db.execute("SELECT 1 FROM signoff_signatures WHERE username = ? AND session_hash = ? LIMIT 1",
                      [username, session_hash]).fetchone() is not None


def last_evidence_link(db: sqlite_utils.Database) -> tuple[int, str] | None:
    """``(seq, sha256)`` of the evidence chain's newest link, or None for an empty chain."""
    row = db.execute("SELECT seq, sha256 FROM evidence_chain ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else None
